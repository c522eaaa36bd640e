import Foundation
import Testing

import AWSConfig
@testable import Credentials
import SigV4
import TestSupport
import Transport
@testable import SignIn

private let session = AWSCredentials(accessKeyId: "ASIAEXAMPLE", secretAccessKey: "se/cr+et",
                                     sessionToken: "to\"ken", expiration: SourcesFixture.now.addingTimeInterval(3600))

private func role(chained: Bool, region: String = "eu-west-1") -> RoleProfile {
    let source: CredentialSource = chained
        ? .role(RoleProfile(name: "base", roleArn: "arn:aws:iam::1:role/B", roleSessionName: "s", region: region,
                            source: .staticKeys(profile: "k", StaticKeys(accessKeyId: "A", secretAccessKey: "B"))))
        : .staticKeys(profile: "k", StaticKeys(accessKeyId: "A", secretAccessKey: "B"))
    return RoleProfile(name: "prod", roleArn: "arn:aws:iam::1:role/A", roleSessionName: "s", region: region, source: source)
}

/// The query parameters of a URL, decoded.
private func query(_ url: String) -> [String: String] {
    var fields: [String: String] = [:]
    let query = url.split(separator: "?", maxSplits: 1).last.map(String.init) ?? ""
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        fields[parts[0]] = parts.count == 2 ? (parts[1].removingPercentEncoding ?? parts[1]) : ""
    }
    return fields
}

private func tokenAnswer(_ body: String, status: Int = 200) -> Result<HTTPResponse, TransportError> {
    .success(HTTPResponse(status: status, body: Array(body.utf8)))
}

@Suite("Console sign-in")
struct ConsoleSignInTests {
    @Test("federation and console hosts follow the region's partition")
    func partitions() throws {
        #expect(try ConsoleSignIn.endpoints(region: "eu-west-1", environment: [:]) == .init(
            federation: "https://signin.aws.amazon.com/federation",
            consoleHome: "https://console.aws.amazon.com/console/home?region=eu-west-1"))
        #expect(try ConsoleSignIn.endpoints(region: "cn-north-1", environment: [:]).federation
            == "https://signin.amazonaws.cn/federation")
        #expect(try ConsoleSignIn.endpoints(region: "us-gov-west-1", environment: [:]).consoleHome
            == "https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1")
        #expect(throws: ConsoleError.self) { try ConsoleSignIn.endpoints(region: "us-iso-east-1", environment: [:]) }
        #expect(throws: ConsoleError.self) { try ConsoleSignIn.endpoints(region: "eu-west-1&x=y", environment: [:]) }
    }

    @Test("the endpoint override must be https, or http to this machine")
    func endpointOverride() throws {
        let variable = ConsoleSignIn.endpointVariable
        #expect(try ConsoleSignIn.endpoints(region: "eu-west-1", environment: [variable: "http://127.0.0.1:8080/federation"])
            .federation == "http://127.0.0.1:8080/federation")
        #expect(try ConsoleSignIn.endpoints(region: "eu-west-1", environment: [variable: "https://signin.example/federation"])
            .federation == "https://signin.example/federation")
        #expect(throws: ConsoleError.self) {
            try ConsoleSignIn.endpoints(region: "eu-west-1", environment: [variable: "http://signin.example/federation"])
        }
        #expect(throws: ConsoleError.self) {
            try ConsoleSignIn.endpoints(region: "eu-west-1", environment: [variable: "ftp://127.0.0.1/"])
        }
    }

    @Test("the session JSON has exactly sessionId, sessionKey and sessionToken, escaped")
    func sessionJSON() throws {
        let json = try ConsoleSignIn.sessionJSON(session)
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(decoded == ["sessionId": "ASIAEXAMPLE", "sessionKey": "se/cr+et", "sessionToken": "to\"ken"])
        #expect(throws: ConsoleError.self) {
            try ConsoleSignIn.sessionJSON(AWSCredentials(accessKeyId: "AKIA", secretAccessKey: "x"))
        }
    }

    @Test("accepts a token answer; refuses an error status, non-JSON, a huge answer, odd bytes")
    func tokenAnswers() throws {
        func token(_ body: String, status: Int = 200) throws -> String {
            try ConsoleSignIn.signinToken(from: HTTPResponse(status: status, body: Array(body.utf8)), host: "h")
        }
        #expect(try token(#"{"SigninToken":"abc-_DEF123=="}"#) == "abc-_DEF123==")
        let refusals: [(String, Int, ConsoleError.Code)] = [
            (#"{"SigninToken":"abc"}"#, 403, .refused),
            ("<html>not json</html>", 200, .badAnswer),
            (#"{"Other":"x"}"#, 200, .badAnswer),
            (#"{"SigninToken":""}"#, 200, .badAnswer),
            (#"{"SigninToken":"a&Destination=https://evil"}"#, 200, .badAnswer),
            (#"{"SigninToken":"a\u001b[31m"}"#, 200, .badAnswer),
            ("{\"SigninToken\":\"" + String(repeating: "a", count: 20_000) + "\"}", 200, .badAnswer),
            ("{\"SigninToken\":\"a\",\"pad\":\"" + String(repeating: "b", count: 70_000) + "\"}", 200, .badAnswer),
        ]
        for (body, status, code) in refusals {
            do {
                _ = try token(body, status: status)
                Issue.record("accepted \(body.prefix(60))")
            } catch let error as ConsoleError {
                #expect(error.code == code)
                #expect(!error.message.contains("Destination"))
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test("builds the login URL with Issuer, an encoded Destination and the token")
    func loginURL() {
        let url = ConsoleSignIn.loginURL(federation: "https://signin.aws.amazon.com/federation",
                                         destination: "https://console.aws.amazon.com/s3/home?region=eu-west-1", token: "t+k=")
        #expect(url.hasPrefix("https://signin.aws.amazon.com/federation?Action=login&Issuer=stscache&Destination=https%3A%2F%2F"))
        #expect(query(url) == ["Action": "login", "Issuer": "stscache",
                               "Destination": "https://console.aws.amazon.com/s3/home?region=eu-west-1", "SigninToken": "t+k="])
    }

    @Test("asks with SessionDuration for a direct role, without it for a chained one, and retries without on a 400")
    func sessionDuration() throws {
        let fixture = try SourcesFixture(route: { _ in tokenAnswer(#"{"SigninToken":"TOKEN"}"#) })
        _ = try ConsoleSignIn.signInURL(role: role(chained: false), credentials: session, region: nil, destination: nil,
                                        settings: NetworkSettings(), context: fixture.context())
        let direct = query(fixture.transport.requests[0].url)
        #expect(direct["Action"] == "getSigninToken")
        #expect(direct["SessionDuration"] == "3600")
        #expect(fixture.transport.requests[0].method == "GET")

        let chained = try SourcesFixture(route: { _ in tokenAnswer(#"{"SigninToken":"TOKEN"}"#) })
        let url = try ConsoleSignIn.signInURL(role: role(chained: true), credentials: session, region: "us-east-1",
                                              destination: nil, settings: NetworkSettings(), context: chained.context())
        #expect(query(chained.transport.requests[0].url)["SessionDuration"] == nil)
        #expect(query(url)["Destination"] == "https://console.aws.amazon.com/console/home?region=us-east-1")
        #expect(query(url)["SigninToken"] == "TOKEN")

        let refusesDuration = try SourcesFixture(route: { request in
            query(request.url)["SessionDuration"] == nil ? tokenAnswer(#"{"SigninToken":"T2"}"#) : tokenAnswer("{}", status: 400)
        })
        let retried = try ConsoleSignIn.signInURL(role: role(chained: false), credentials: session, region: nil,
                                                  destination: "https://console.aws.amazon.com/ec2/home", settings: NetworkSettings(),
                                                  context: refusesDuration.context())
        #expect(refusesDuration.transport.requests.count == 2)
        #expect(query(retried)["SigninToken"] == "T2")
        #expect(query(retried)["Destination"] == "https://console.aws.amazon.com/ec2/home")
    }

    @Test("refuses a destination that is not https")
    func destination() {
        #expect(throws: ConsoleError.self) { try ConsoleSignIn.checkDestination("http://console.aws.amazon.com/") }
        #expect(throws: ConsoleError.self) { try ConsoleSignIn.checkDestination("javascript:alert(1)") }
        #expect(throws: ConsoleError.self) { try ConsoleSignIn.checkDestination("https://a b/") }
    }

    @Test("the browser is BROWSER's first entry, else xdg-open")
    func opener() throws {
        #expect(try BrowserLaunch.opener(environment: [:]) == ["xdg-open"])
        #expect(try BrowserLaunch.opener(environment: ["BROWSER": "firefox --new-window:chromium"]) == ["firefox", "--new-window"])
        #expect(throws: BrowserError.self) { try BrowserLaunch.opener(environment: ["BROWSER": "'unterminated"]) }
        // Each command's way around the browser is the one it has: console's --print, login's --no-browser.
        let console = #expect(throws: BrowserError.self) { try BrowserLaunch.opener(environment: ["BROWSER": "'x"]) }
        #expect(console?.message.contains("--print") == true)
        #expect(console?.errorCode == "browser.invalid-setting", "login opens a browser too: not a console error")
        let login = #expect(throws: BrowserError.self) {
            try BrowserLaunch.opener(environment: ["BROWSER": "'x"], fallback: "--no-browser")
        }
        #expect(login?.message.contains("--no-browser") == true && login?.message.contains("--print") == false)
    }

    @Test("the redirect page is 0600 in a 0700 directory, with the URL HTML-escaped")
    func redirectPage() throws {
        let base = try TemporaryDirectory()
        let (directory, page) = try BrowserLaunch.writePage(url: "https://x/federation?a=1&b=\"2\"",
                                                            environment: ["XDG_RUNTIME_DIR": base.path])
        defer { unlink(page); rmdir(directory) }
        #expect(directory.hasPrefix(base.path + "/stscache-console."))
        let pageMode = try FileManager.default.attributesOfItem(atPath: page)[.posixPermissions] as? Int
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(pageMode == 0o600)
        #expect(directoryMode == 0o700)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("content=\"0;url=https://x/federation?a=1&amp;b=&quot;2&quot;\""))
    }
}
