import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SigV4
import TestSupport
import Testing

@Suite("SigV4 signer")
struct SigV4Tests {
    static let credentials = AWSCredentials(
        accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        sessionToken: "FwoGZXIvYXdzEXAMPLETOKEN//+=")
    static let assumeRoleBody = Array(
        "Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=stscache-test&Version=2011-06-15".utf8)
    static let formContentType = (name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
    /// 2024-02-29T23:59:59.750Z: a leap day, one second before midnight, with a fraction to drop.
    static let leapDayNearMidnight = Date(timeIntervalSince1970: 1_709_251_199.75)

    // MARK: sign() end to end. Expected values computed with botocore 1.43's SigV4Auth.add_auth
    // on the same request and a patched clock.

    @Test("signs an STS AssumeRole form POST with a session token like botocore")
    func stsPostWithSessionToken() {
        let added = SigV4.sign(
            method: "POST", url: "https://sts.us-east-1.amazonaws.com/",
            headers: [Self.formContentType, (name: "User-Agent", value: "stscache/1.0")],
            body: Self.assumeRoleBody, credentials: Self.credentials, region: "us-east-1", service: "sts",
            date: Self.leapDayNearMidnight)
        #expect(added.map(\.name) == ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"])
        #expect(added.map(\.value) == [
            "20240229T235959Z",
            "FwoGZXIvYXdzEXAMPLETOKEN//+=",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/us-east-1/sts/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                + "Signature=b2ec1ececed21526e1012ad62c1d17364fad32be9cca9a8916dd80cd8196a0ce",
        ])
    }

    @Test("signs without a token header when credentials have none, dropping the default port from Host")
    func stsPostWithoutSessionToken() {
        var credentials = Self.credentials
        credentials.sessionToken = nil
        let added = SigV4.sign(
            method: "POST", url: "https://sts.eu-west-1.amazonaws.com:443/", headers: [Self.formContentType],
            body: Self.assumeRoleBody, credentials: credentials, region: "eu-west-1", service: "sts",
            date: Self.leapDayNearMidnight)
        #expect(added.map(\.name) == ["X-Amz-Date", "Authorization"])
        #expect(added.last?.value ==
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/eu-west-1/sts/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date, "
            + "Signature=288c5279ec5e4c18c516e1867fa6f5e8dd87366c83c13cde72357da713e7e61a")
    }

    @Test("an empty session token is treated as no token")
    func emptySessionToken() {
        var empty = Self.credentials
        empty.sessionToken = ""
        var none = Self.credentials
        none.sessionToken = nil
        let withEmpty = sts(credentials: empty)
        #expect(withEmpty.map(\.name) == ["X-Amz-Date", "Authorization"])
        #expect(withEmpty.map(\.value) == sts(credentials: none).map(\.value))
    }

    @Test("headers the signer owns are ignored when the caller passes them")
    func signerOwnedHeadersIgnored() {
        let plain = sts(headers: [Self.formContentType])
        let cluttered = sts(headers: [
            Self.formContentType,
            (name: "x-amz-date", value: "19990101T000000Z"),
            (name: "X-Amz-Security-Token", value: "stale"),
            (name: " Authorization ", value: "Bearer nope"),
        ])
        #expect(cluttered.map(\.value) == plain.map(\.value))
    }

    @Test("User-Agent, Expect, Transfer-Encoding and X-Amzn-Trace-Id are not signed")
    func unsignedHeaders() {
        let plain = sts(headers: [Self.formContentType])
        let extra = sts(headers: [
            Self.formContentType,
            (name: "user-agent", value: "curl/8"), (name: "Expect", value: "100-continue"),
            (name: "Transfer-Encoding", value: "chunked"), (name: "X-Amzn-Trace-Id", value: "Root=1"),
        ])
        #expect(extra.map(\.value) == plain.map(\.value))
        // A header that is signed does change the signature.
        let accept = sts(headers: [Self.formContentType, (name: "Accept", value: "application/xml")])
        #expect(accept.last?.value != plain.last?.value)
        #expect(accept.last?.value.contains("SignedHeaders=accept;content-type;host;") == true)
    }

    @Test("a Host header given by the caller is signed instead of the URL's host")
    func callerHost() {
        let viaURL = sts(url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType])
        let viaHeader = sts(url: "https://127.0.0.1:8443/",
                            headers: [Self.formContentType, (name: "HOST ", value: "sts.us-east-1.amazonaws.com")])
        let viaOtherURL = sts(url: "https://127.0.0.1:8443/", headers: [Self.formContentType])
        #expect(viaHeader.map(\.value) == viaURL.map(\.value))
        #expect(viaOtherURL.last?.value != viaURL.last?.value)
    }

    @Test("the body, region, service, method and date each change the signature")
    func inputsMatter() {
        let base = sts()
        let variants = [
            SigV4.sign(method: "POST", url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType],
                       body: Self.assumeRoleBody + [0x26], credentials: Self.credentials, region: "us-east-1",
                       service: "sts", date: Self.leapDayNearMidnight),
            SigV4.sign(method: "POST", url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType],
                       body: Self.assumeRoleBody, credentials: Self.credentials, region: "us-east-2",
                       service: "sts", date: Self.leapDayNearMidnight),
            SigV4.sign(method: "POST", url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType],
                       body: Self.assumeRoleBody, credentials: Self.credentials, region: "us-east-1",
                       service: "iam", date: Self.leapDayNearMidnight),
            SigV4.sign(method: "PUT", url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType],
                       body: Self.assumeRoleBody, credentials: Self.credentials, region: "us-east-1",
                       service: "sts", date: Self.leapDayNearMidnight),
            SigV4.sign(method: "POST", url: "https://sts.us-east-1.amazonaws.com/", headers: [Self.formContentType],
                       body: Self.assumeRoleBody, credentials: Self.credentials, region: "us-east-1",
                       service: "sts", date: Self.leapDayNearMidnight.addingTimeInterval(1)),
        ]
        let signatures = Set(([base] + variants).compactMap { $0.last?.value })
        #expect(signatures.count == 6)
    }

    private func sts(url: String = "https://sts.us-east-1.amazonaws.com/",
                     headers: [(name: String, value: String)] = [SigV4Tests.formContentType],
                     credentials: AWSCredentials = SigV4Tests.credentials) -> [(name: String, value: String)] {
        SigV4.sign(method: "POST", url: url, headers: headers, body: Self.assumeRoleBody, credentials: credentials,
                   region: "us-east-1", service: "sts", date: Self.leapDayNearMidnight)
    }

    // MARK: Stages

    @Test("derives the signing key of the AWS documentation example")
    func signingKeyExample() {
        // https://docs.aws.amazon.com/general/latest/gr/signature-v4-examples.html
        let key = SigV4.signingKey(secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   dateStamp: "20150830", region: "us-east-1", service: "iam")
        #expect(key.map { String(format: "%02x", $0) }.joined()
            == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test("formats X-Amz-Date in UTC", arguments: [
        (0.0, "19700101T000000Z"),
        (1_440_938_160, "20150830T123600Z"),
        (1_709_251_199.75, "20240229T235959Z"),
        (951_868_800, "20000301T000000Z"),
        (-1, "19691231T235959Z"),
        (-0.25, "19691231T235959Z"),
        (4_107_542_400, "21000301T000000Z"),
        (253_402_300_799, "99991231T235959Z"),
        (-62_135_596_800, "00010101T000000Z"),
    ])
    func amzDate(seconds: Double, expected: String) {
        #expect(SigV4.amzDate(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test("X-Amz-Date agrees with gmtime_r over many timestamps")
    func amzDateMatchesGmtime() {
        var generator = SplitMix64(seed: 0x5349_4756_34)
        for _ in 0..<20_000 {
            // 1900-01-01 ..< 2200-01-01
            var seconds = Int(generator.next() % 9_467_107_200) - 2_208_988_800
            var parts = tm()
            gmtime_r(&seconds, &parts)
            let expected = String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                                  Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
            let actual = SigV4.amzDate(Date(timeIntervalSince1970: Double(seconds)))
            if actual != expected {
                Issue.record("\(seconds): \(actual) != \(expected)")
                return
            }
        }
    }

    @Test("reads host, path and query from a URL", arguments: [
        ("https://sts.amazonaws.com", "sts.amazonaws.com", "", ""),
        ("https://sts.amazonaws.com/", "sts.amazonaws.com", "/", ""),
        ("https://user:pw@Example.com:8443/a/b?x=1&y#frag", "Example.com:8443", "/a/b", "x=1&y"),
        ("HTTPS://h.example:443/p", "h.example", "/p", ""),
        ("http://h.example:80/", "h.example", "/", ""),
        ("http://h.example:443/", "h.example:443", "/", ""),
        ("https://h.example:/", "h.example", "/", ""),
        ("https://[::1]:443/", "[::1]", "/", ""),
        ("https://[::1]/", "[::1]", "/", ""),
        ("https://[::1]:8443/", "[::1]:8443", "/", ""),
        ("https://h.example?a=b/c", "h.example", "", "a=b/c"),
        ("https://h.example/a%20b/?q=http://x#f?g", "h.example", "/a%20b/", "q=http://x"),
    ])
    func requestTarget(url: String, host: String, path: String, query: String) {
        let target = SigV4.RequestTarget(url: url)
        #expect(target.host == host)
        #expect(target.path == path)
        #expect(target.query == query)
    }

    @Test("normalises and encodes the canonical URI", arguments: [
        ("", "/"),
        ("/", "/"),
        ("/a/b/../c/./d", "/a/c/d"),
        ("/../..", "/"),
        ("/a//b///", "/a/b/"),
        ("/a/..", "/"),
        // Already-encoded bytes are encoded again: AWS's rule for every service but S3.
        ("/a%2Fb/%E1%88%B4", "/a%252Fb/%25E1%2588%25B4"),
        ("/a b/+/=/é", "/a%20b/%2B/%3D/%C3%A9"),
        ("/-_.~Az09", "/-_.~Az09"),
    ])
    func canonicalURI(path: String, expected: String) {
        #expect(SigV4.canonicalURI(path) == expected)
    }

    @Test("builds the canonical query string", arguments: [
        ("", ""),
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("a+b=c%20d", "a%20b=c%20d"),
        ("x=%zz&y=%4", "x=%25zz&y=%254"),
        ("&&a=1&", "a=1"),
        ("k", "k="),
        ("k=v=w", "k=v%3Dw"),
        ("a-b=1&aB=2&a_b=3&A=4", "A=4&a-b=1&aB=2&a_b=3"),
        ("%e1%88%b4=%7e", "%E1%88%B4=~"),
        ("Action=AssumeRole&Version=2011-06-15", "Action=AssumeRole&Version=2011-06-15"),
    ])
    func canonicalQuery(query: String, expected: String) {
        #expect(SigV4.canonicalQueryString(query) == expected)
    }

    @Test("canonical headers: lower-case names, folded whitespace, repeated names joined in order")
    func canonicalHeaders() {
        let (block, signed) = SigV4.canonicalHeaders([
            (name: "X-B", value: "\t two\t\twords \r\n  and\nmore  "),
            (name: " Content-Type ", value: "text/plain"),
            (name: "x-a", value: "2"),
            (name: "X-A", value: " 1 "),
            (name: "x-empty", value: "   "),
        ])
        #expect(block == "content-type:text/plain\nx-a:2,1\nx-b:two words and more\nx-empty:\n")
        #expect(signed == "content-type;x-a;x-b;x-empty")
    }

    @Test("the string to sign hashes the canonical request under the scope")
    func stringToSign() {
        let text = SigV4.stringToSign(amzDate: "20150830T123600Z", credentialScope: "20150830/us-east-1/service/aws4_request",
                                      canonicalRequest: "")
        #expect(text == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("credentials never show the secret or the token in their description")
    func credentialsDescription() {
        let text = "\(Self.credentials)"
        #expect(text.contains("AKIDEXAMPLE"))
        #expect(!text.contains("wJalrXUtnFEMI"))
        #expect(!text.contains("FwoGZXIvYXdz"))
    }
}
