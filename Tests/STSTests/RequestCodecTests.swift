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
