import Foundation
import Testing

import OpenSSLCrypto
import SigV4
import StscacheSupport
@testable import Credentials

private let expiry = Date(timeIntervalSince1970: 1_800_000_600)

private func parsed(_ text: String) -> Result<LoginSessionFile, LoginSessionFile.Invalid> {
    LoginSessionFile.parse(Array(text.utf8))
}

/// The fixture's JSON with one member changed (nil removes it); `inAccessToken` for accessToken's.
private func mutated(_ name: String, _ value: Any?, inAccessToken: Bool = false) -> String {
    var object = try! JSONSerialization.jsonObject(with: Data(LoginFixture.json(expiresAt: expiry).utf8)) as! [String: Any]
    if inAccessToken {
        var access = object["accessToken"] as! [String: Any]
        access[name] = value
        object["accessToken"] = access
    } else {
        object[name] = value
    }
    return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

@Suite("aws login: the session file")
struct LoginSessionFileTests {
    @Test("a file the CLI wrote parses into its credentials, account, client, refresh token and key")
    func parses() throws {
        let session = try parsed(LoginFixture.json(expiresAt: expiry, signInRegion: "eu-west-1")).get()
        #expect(session.credentials == AWSCredentials(accessKeyId: "ASIALOGIN0000001", secretAccessKey: "login-secret-1",
                                                      sessionToken: "login-token-1", expiration: expiry))
        #expect(session.accountId == "123456789012")
        #expect(session.clientId == LoginFixture.clientId)
        #expect(session.refreshToken == "rt-1")
        #expect(session.signInRegion == "eu-west-1")
        #expect(session.signingKey() != nil)
    }

    @Test("the file name is the SHA-256 of login_session in hex (botocore generate_login_cache_key)")
    func fileName() {
        // hashlib.sha256(b"arn:aws:iam::123456789012:user/alice").hexdigest()
        #expect(LoginSessionFile.fileName(forSession: LoginFixture.session)
            == Hex.encode(SHA256.hash(Array(LoginFixture.session.utf8))) + ".json")
        #expect(LoginSessionFile.fileName(forSession: "abc")
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json")
    }

    @Test("the directory: AWS_LOGIN_CACHE_DIRECTORY with $VAR, ${VAR} and ~ expanded, else ~/.aws/login/cache")
    func directory() {
        #expect(LoginSessionFile.directory(environment: [:], homeDirectory: "/home/a") == "/home/a/.aws/login/cache")
        #expect(LoginSessionFile.directory(environment: ["AWS_LOGIN_CACHE_DIRECTORY": "~/x/$USER/${APP}/$NOPE"],
                                           homeDirectory: "/home/a")
            == "/home/a/x/$USER/${APP}/$NOPE")
        #expect(LoginSessionFile.directory(environment: ["AWS_LOGIN_CACHE_DIRECTORY": "~/x/$USER/${APP}/$NOPE",
                                                         "USER": "alice", "APP": "cli"], homeDirectory: "/home/a")
            == "/home/a/x/alice/cli/$NOPE")
    }

    @Test("every field is validated; the reason names the field, never its value", arguments: [
        (mutated("accessToken", nil), "lacks accessToken"),
        (mutated("refreshToken", nil), "lacks refreshToken"),
        (mutated("dpopKey", nil), "lacks dpopKey"),
        (mutated("clientId", nil), "lacks clientId"),
        (mutated("accessToken", "flat"), "accessToken is not an object"),
        (mutated("sessionToken", nil, inAccessToken: true), "lacks accessKeyId, secretAccessKey or sessionToken"),
        (mutated("accessKeyId", "ASIA'$(reboot)", inAccessToken: true), "accessToken.accessKeyId"),
        (mutated("sessionToken", "tok\"en`x`", inAccessToken: true), "accessToken.sessionToken"),
        (mutated("secretAccessKey", "a b", inAccessToken: true), "accessToken.secretAccessKey"),
        (mutated("expiresAt", "tomorrow", inAccessToken: true), "expiresAt is not a timestamp"),
        (mutated("accountId", "12345678901", inAccessToken: true), "accountId is not a 12-digit"),
        (mutated("accountId", "12345678901a", inAccessToken: true), "accountId is not a 12-digit"),
        (mutated("accountId", 123456789012, inAccessToken: true), "accountId is not a 12-digit"),
        (mutated("refreshToken", "two\nlines"), "refreshToken is not printable"),
        (mutated("refreshToken", String(repeating: "r", count: 12_289)), "refreshToken is not printable"),
        (mutated("clientId", 7), "clientId is not"),
        (mutated("dpopKey", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), "dpopKey is not"),
        (mutated("dpopKey", "-----BEGIN EC PRIVATE KEY-----\n$(x)\n-----END EC PRIVATE KEY-----\n"), "dpopKey is not"),
        (mutated("signInRegion", "x@evil.example/"), "signInRegion is not a region"),
        (mutated("idToken", ["a"]), "idToken is not"),
        ("[1, 2]", "not a JSON object"),
        ("{\"accessToken\":", "not a JSON object"),
    ])
    func refusesBadFields(text: String, reason: String) throws {
        guard case .failure(let invalid) = parsed(text) else {
            Issue.record("accepted a file with a bad field (\(reason))")
            return
        }
        #expect(invalid.reason.contains(reason), "\(invalid.reason)")
        #expect(!invalid.reason.contains("reboot") && !invalid.reason.contains("evil"))
    }

    @Test("a file larger than 64 KiB is refused before parsing")
    func oversize() {
        let big = "{\"pad\": \"" + String(repeating: "x", count: LoginSessionFile.sizeLimit) + "\"}"
        guard case .failure(let invalid) = parsed(big) else { Issue.record("accepted"); return }
        #expect(invalid.reason.contains("larger than"))
    }

    @Test("a refresh keeps the account, the key and every member the CLI wrote, and writes botocore's layout")
    func refreshedAndEncoded() throws {
        let session = try parsed(LoginFixture.json(expiresAt: expiry, signInRegion: "eu-west-1")).get()
        let output = try #require(SignInTokenClient.TokenOutput(body: Array(
            #"{"accessToken":{"accessKeyId":"ASIANEW000000001","secretAccessKey":"new-secret","sessionToken":"new-token"},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"rt-2"}"#.utf8)))
        let now = Date(timeIntervalSince1970: 1_800_001_000.7)
        let refreshed = session.refreshed(with: output, now: now)
        #expect(refreshed.credentials == AWSCredentials(accessKeyId: "ASIANEW000000001", secretAccessKey: "new-secret",
                                                        sessionToken: "new-token",
                                                        expiration: Date(timeIntervalSince1970: 1_800_001_900)))
        #expect(refreshed.refreshToken == "rt-2")
        let text = String(decoding: refreshed.encoded(), as: UTF8.self)
        // botocore's order and json.dumps separators; unknown members kept, nested ones whole.
        #expect(text.hasPrefix(#"{"accessToken": {"accessKeyId": "ASIANEW000000001", "secretAccessKey": "new-secret", "sessionToken": "new-token", "accountId": "123456789012", "expiresAt": "2027-01-15T08:31:40Z", "futureField": [1, 2]}, "tokenType": "aws_sigv4", "clientId": "arn:aws:signin:::devtools/same-device", "refreshToken": "rt-2", "idToken": "id.token.sig", "dpopKey": "-----BEGIN EC PRIVATE KEY-----\nMHcC"#))
        #expect(text.hasSuffix(#""signInRegion": "eu-west-1", "cliExtra": {"nested": {"kept": true}}}"#))
        // And it reads back as the same session.
        let again = try parsed(text).get()
        #expect(again == refreshed)
    }

    @Test("a new session (a sign-in) encodes every field botocore needs")
    func newSession() throws {
        let credentials = AWSCredentials(accessKeyId: "ASIANEW000000001", secretAccessKey: "s", sessionToken: "t",
                                         expiration: expiry)
        let session = LoginSessionFile(credentials: credentials, accountId: "123456789012", clientId: LoginFixture.clientId,
                                       refreshToken: "rt", idToken: "id", dpopKey: LoginFixture.pem, signInRegion: "us-east-1")
        let again = try parsed(String(decoding: session.encoded(), as: UTF8.self)).get()
        #expect(again == session)
        #expect(again.members["tokenType"] == .string("aws_sigv4"))
    }

    @Test("the answer's tokenOutput is checked like credentials from STS")
    func tokenOutput() {
        func output(_ text: String) -> SignInTokenClient.TokenOutput? { SignInTokenClient.TokenOutput(body: Array(text.utf8)) }
        let good = #"{"accessToken":{"accessKeyId":"ASIANEW000000001","secretAccessKey":"s","sessionToken":"t"},"expiresIn":900,"refreshToken":"rt-2"}"#
        #expect(output(good) != nil)
        #expect(output(good.replacingOccurrences(of: "ASIANEW000000001", with: "ASIA'NEW")) == nil)
        #expect(output(good.replacingOccurrences(of: "\"t\"", with: "\"t`id`\"")) == nil)
        #expect(output(good.replacingOccurrences(of: "900", with: "0")) == nil)
        #expect(output(good.replacingOccurrences(of: "900", with: "\"900\"")) == nil)
        #expect(output(good.replacingOccurrences(of: "\"rt-2\"", with: "\"rt 2\"")) == nil)
        #expect(output(good.replacingOccurrences(of: ",\"refreshToken\":\"rt-2\"", with: "")) == nil)
    }
}
