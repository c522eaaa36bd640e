import Foundation
@testable import STS
import Testing
import Transport

@Suite("Form encoding and AssumeRole requests")
struct RequestCodecTests {
    @Test("percent-encodes like botocore: unreserved kept, everything else %XX", arguments: [
        ("a b", "a%20b"),
        ("+", "%2B"),
        ("=", "%3D"),
        ("/", "%2F"),
        ("&", "%26"),
        ("*", "%2A"),
        ("~-._", "~-._"),
        ("AZaz09", "AZaz09"),
        ("é", "%C3%A9"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("😀", "%F0%9F%98%80"),
        ("arn:aws:iam::123456789012:role/Admin", "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin"),
    ])
    func percentEncoding(input: String, expected: String) {
        #expect(FormURLEncoding.percentEncode(input) == expected)
    }

    @Test("joins pairs in order and encodes names too")
    func encodePairs() {
        let body = FormURLEncoding.encode([("b key", "1+1=2"), ("a", ""), ("c", "x&y")])
        #expect(body == "b%20key=1%2B1%3D2&a=&c=x%26y")
    }

    @Test("builds the exact AssumeRole body with every optional parameter, in botocore's order")
    func fullAssumeRoleBody() {
        let request = AssumeRoleRequest(
            roleArn: "arn:aws:iam::123456789012:role/Admin", roleSessionName: "alice@example.com",
            durationSeconds: 3600, externalId: "ext+id=1", serialNumber: "arn:aws:iam::123456789012:mfa/alice",
            tokenCode: "123456")
        let http = STSRequestBuilder.assumeRole(request, endpoint: Fixtures.endpoint)
        #expect(http.method == "POST")
        #expect(http.url == "https://sts.eu-west-1.amazonaws.com/")
        #expect(String(decoding: http.body, as: UTF8.self) ==
            "Action=AssumeRole&Version=2011-06-15"
            + "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin"
            + "&RoleSessionName=alice%40example.com"
            + "&DurationSeconds=3600"
            + "&ExternalId=ext%2Bid%3D1"
            + "&SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Falice"
            + "&TokenCode=123456")
        #expect(http.headers.count == 1)
        #expect(http.headers.first?.name == "Content-Type")
        #expect(http.headers.first?.value == "application/x-www-form-urlencoded; charset=utf-8")
    }

    @Test("session policies, tags, transitive keys and source identity as the Query protocol's lists, in botocore's order")
    func sessionParametersBody() {
        var request = AssumeRoleRequest(roleArn: "arn:aws:iam::123456789012:role/Admin", roleSessionName: "alice",
                                        durationSeconds: 900, externalId: "ext-1")
        request.policyArns = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/Mine"]
        request.policy = #"{"Version":"2012-10-17"}"#
        request.tags = [(key: "team", value: "ops"), (key: "Cost Centre", value: "a=b")]
        request.transitiveTagKeys = ["team"]
        request.sourceIdentity = "alice@example.com"
        #expect(String(decoding: STSRequestBuilder.assumeRole(request, endpoint: Fixtures.endpoint).body, as: UTF8.self) ==
            "Action=AssumeRole&Version=2011-06-15"
            + "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin&RoleSessionName=alice"
            + "&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FReadOnlyAccess"
            + "&PolicyArns.member.2.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2FMine"
            + "&Policy=%7B%22Version%22%3A%222012-10-17%22%7D"
            + "&DurationSeconds=900"
            + "&Tags.member.1.Key=team&Tags.member.1.Value=ops"
            + "&Tags.member.2.Key=Cost%20Centre&Tags.member.2.Value=a%3Db"
            + "&TransitiveTagKeys.member.1=team"
            + "&ExternalId=ext-1"
            + "&SourceIdentity=alice%40example.com")
        #expect(!request.description.contains("2012-10-17"))
    }

    @Test("AssumeRoleWithWebIdentity sends the session policies only")
    func webIdentityPolicies() {
        var request = AssumeRoleWithWebIdentityRequest(roleArn: "arn:aws:iam::123456789012:role/Web", roleSessionName: "s",
                                                       webIdentityToken: "tok")
        request.policyArns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        request.policy = "{}"
        let names = request.formParameters.map(\.name)
        #expect(names == ["Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken", "PolicyArns.member.1.arn",
                          "Policy"])
    }

    @Test("leaves unset optional parameters out")
    func minimalAssumeRoleBody() {
        let http = STSRequestBuilder.assumeRole(
            AssumeRoleRequest(roleArn: "arn:aws:iam::1:role/R", roleSessionName: "s"), endpoint: Fixtures.endpoint)
        #expect(String(decoding: http.body, as: UTF8.self)
            == "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2FR&RoleSessionName=s")
    }

    @Test("never shows the MFA code in a description")
    func descriptionRedactsTokenCode() {
        let request = AssumeRoleRequest(roleArn: "arn:aws:iam::1:role/R", roleSessionName: "s",
                                        serialNumber: "arn:aws:iam::1:mfa/u", tokenCode: "987654")
        #expect(!request.description.contains("987654"))
        #expect(request.description.contains("<redacted>"))
    }
}
