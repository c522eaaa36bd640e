import SigV4
import Testing

@Suite("The format of issued credentials")
struct IssuedCredentialsFormatTests {
    static let goodSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let goodToken = "FwoGZXIvYXdzEBYaDH+example/token=="

    func violation(id: String = "ASIAIOSFODNN7EXAMPLE", secret: String = goodSecret, token: String? = goodToken)
        -> IssuedCredentialsFormat.Violation?
    {
        IssuedCredentialsFormat.violation(in: AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: token))
    }

    @Test("what AWS and STS-compatible services issue passes: base64, URL-safe base64, a JWT, no token")
    func realValues() {
        #expect(violation() == nil)
        #expect(violation(token: nil) == nil)
        #expect(violation(id: "AKIA" + String(repeating: "Z", count: 124)) == nil)
        #expect(violation(id: "ASIA000000000001") == nil)
        #expect(violation(token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl-_") == nil)
        #expect(violation(token: String(repeating: "A", count: IssuedCredentialsFormat.maximumSessionTokenLength)) == nil)
        #expect(violation(secret: "!#%&()*+,-./:;<=>?@[]^_{|}~") == nil)
    }

    @Test("AccessKeyId: only A-Z and 0-9, 16 to 128", arguments: [
        "ASIAlowercase0001", "ASIA SPACE 000001", "ASIA-DASH-0000001", "ASIAÉ00000000000",
        "ASIA'\u{301}000000000", "ASIA12345678901", String(repeating: "A", count: 129), "",
    ])
    func accessKeyId(_ id: String) {
        #expect(violation(id: id)?.field == "AccessKeyId")
    }

    static let forbiddenInSecrets: [String] = [
        "tok'\u{301}; touch /tmp/x; #", "tok\u{600}'", "'", "\"", "\\", "$", "`", " ", "\t", "\n", "\r", "\u{7F}",
        "\u{1}", "\u{85}", "\u{A0}", "\u{2028}", "\u{2019}", "\u{FF07}", "é", "\u{301}", "\u{200D}", "🇦🇶",
    ]

    @Test("SecretAccessKey and SessionToken: printable ASCII without quotes, backslash, $ or backtick",
          arguments: forbiddenInSecrets)
    func secrets(_ bad: String) {
        #expect(violation(secret: "abc" + bad + "def")?.field == "SecretAccessKey")
        #expect(violation(token: "abc" + bad + "def")?.field == "SessionToken")
    }

    @Test("empty or longer than the bounds")
    func lengths() {
        #expect(violation(secret: "")?.field == "SecretAccessKey")
        #expect(violation(token: "")?.field == "SessionToken")
        #expect(violation(secret: String(repeating: "a", count: IssuedCredentialsFormat.maximumSecretLength + 1))?.field
            == "SecretAccessKey")
        #expect(violation(token: String(repeating: "a", count: IssuedCredentialsFormat.maximumSessionTokenLength + 1))?.field
            == "SessionToken")
    }

    @Test("the rule in words never quotes the value")
    func wordsOnly() throws {
        let secretish = "tok'\u{301}; touch /tmp/x; #"
        let found = try #require(violation(token: secretish))
        #expect(!found.description.contains("touch"))
        #expect(found.description.hasPrefix("SessionToken "))
    }
}
