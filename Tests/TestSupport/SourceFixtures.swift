import AWSConfig
import CredentialCache
import Foundation
import SigV4
import Credentials
import Testing
import Transport

/// An HTTP peer answered by a routing closure. It fails closed: a request the route does not
/// answer records a test failure and throws, so nothing reaches the network.
package final class RoutedTransport: HTTPTransport, @unchecked Sendable {
    package typealias Route = (HTTPRequest) -> Result<HTTPResponse, TransportError>?

    package struct Unrouted: Error {}

    private let lock = NSLock()
    private var route: Route
    private var sent: [(request: HTTPRequest, options: HTTPOptions)] = []

    package init(_ route: @escaping Route) { self.route = route }

    package func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse {
        let answer = lock.withLock { () -> Result<HTTPResponse, TransportError>? in
            sent.append((request, options))
            return route(request)
        }
        guard let answer else {
            Issue.record("unexpected HTTP call: \(request.method) \(request.url)")
            throw Unrouted()
        }
        return try answer.get()
    }

    package var requests: [HTTPRequest] { lock.withLock { sent.map(\.request) } }
    package var options: [HTTPOptions] { lock.withLock { sent.map(\.options) } }

    /// The `Action` of each STS (form POST) request, in order.
    package var actions: [String] {
        requests.compactMap { request in
            form(request)["Action"]
        }
    }

    package func form(_ request: HTTPRequest) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            fields[parts[0]] = parts[1].removingPercentEncoding ?? parts[1]
        }
        return fields
    }

    package func requests(action: String) -> [HTTPRequest] {
        requests.filter { form($0)["Action"] == action }
    }
}

/// A key store holding one fixed key in memory.
package struct FixedKeyStore: KeyStore {
    package var name: String { "test" }
    package var location: String { "memory" }
    package let key = [UInt8](repeating: 7, count: 32)
    package init() {}
    package func loadKey() throws -> [UInt8]? { key }
    package func loadOrCreateKey() throws -> [UInt8] { key }
    package func deleteKey() throws {}
}

/// A terminal a test answers: records what was written, replies with scripted lines.
package final class ScriptedTerminal: PromptTerminal {
    package var written = ""
    package var replies: [String?]
    package var prompts: Int { written.components(separatedBy: "MFA code for").count - 1 }

    package init(_ replies: [String?]) { self.replies = replies }

    package func write(_ text: String) { written += text }

    package func readLine(timeout: Double) throws(SourceError) -> String? {
        guard !replies.isEmpty else {
            Issue.record("the code asked the terminal for more lines than scripted")
            return nil
        }
        return replies.removeFirst()
    }
}

/// A temporary directory (removed at the end) with a cache, a fixed clock and captured output.
package final class SourcesFixture {
    package static let now = Date(timeIntervalSince1970: 1_800_000_000)

    private let temporary: TemporaryDirectory
    package var directory: URL { URL(fileURLWithPath: temporary.path, isDirectory: true) }
    package let output = CapturedOutput()
    package let transport: RoutedTransport
    package var environment: [String: String]
    package var now = SourcesFixture.now

    package init(environment: [String: String] = [:], route: @escaping RoutedTransport.Route) throws {
        temporary = try TemporaryDirectory(prefix: "stscache-sources")
        transport = RoutedTransport(route)
        self.environment = environment
    }

    package var path: String { temporary.path }

    package func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let file = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    package func context() -> Context {
        let transport = self.transport
        let now = self.now
        return Context(
            environment: environment, now: { now }, homeDirectory: path, userName: "alice",
            makeTransport: { transport }, output: output.sinks(), sleep: { _ in })
    }

    package func broker(terminal: ScriptedTerminal? = nil) throws -> CredentialBroker {
        let cache = CredentialCache(directory: try CacheDirectory.open(path: path + "/cache"))
        var broker = CredentialBroker(context: context(), cache: cache, keyStore: FixedKeyStore(), policy: RefreshPolicy())
        broker.settings = LazyNetworkSettings(NetworkSettings(lockTimeout: 5))
        broker.sources.openTerminal = { terminal }
        return broker
    }
}

/// STS answers for the fakes.
package enum STSAnswers {
    package static func credentialsXML(action: String, keyId: String, expiration: Date, roleArn: String? = nil) -> String {
        let user = roleArn.map {
            "<AssumedRoleUser><Arn>\($0)/session</Arn><AssumedRoleId>AROAEXAMPLE:session</AssumedRoleId></AssumedRoleUser>"
        } ?? ""
        return """
            <\(action)Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><\(action)Result>\(user)
            <Credentials><AccessKeyId>\(keyId)</AccessKeyId><SecretAccessKey>secret-\(keyId)</SecretAccessKey>
            <SessionToken>token-\(keyId)</SessionToken><Expiration>\(iso(expiration))</Expiration></Credentials>
            </\(action)Result></\(action)Response>
            """
    }

    package static func ok(_ xml: String) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: 200, headers: [("Content-Type", "text/xml")], body: Array(xml.utf8)))
    }

    package static func error(_ status: Int, code: String, message: String) -> Result<HTTPResponse, TransportError> {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>\(code)</Code><Message>\(message)</Message></Error>"
            + "<RequestId>r-1</RequestId></ErrorResponse>"
        return .success(HTTPResponse(status: status, body: Array(xml.utf8)))
    }

    package static func json(_ status: Int, _ text: String) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(text.utf8)))
    }

    /// A standard STS fake: every AssumeRole / GetSessionToken / AssumeRoleWithWebIdentity
    /// succeeds with a numbered key, valid for an hour (12 hours for GetSessionToken).
    package static func sts(now: Date) -> RoutedTransport.Route {
        let counter = Counter()
        return { request in
            guard request.method == "POST" else { return nil }
            let body = String(decoding: request.body, as: UTF8.self)
            guard let action = body.split(separator: "&").first.flatMap({ $0.split(separator: "=").last }) else { return nil }
            let n = counter.next()
            switch action {
            case "AssumeRole":
                return ok(credentialsXML(action: "AssumeRole", keyId: "ASIAROLE\(n)EXAMPLEKEY", expiration: now + 3600,
                                         roleArn: "arn:aws:sts::1:assumed-role/R"))
            case "GetSessionToken":
                return ok(credentialsXML(action: "GetSessionToken", keyId: "ASIAMFA\(n)EXAMPLEKEY", expiration: now + 43200))
            case "AssumeRoleWithWebIdentity":
                return ok(credentialsXML(action: "AssumeRoleWithWebIdentity", keyId: "ASIAWEB\(n)EXAMPLEKEY", expiration: now + 3600,
                                         roleArn: "arn:aws:sts::1:assumed-role/W"))
            default:
                return nil
            }
        }
    }

    package static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

package final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    package init() {}
    package func next() -> Int { lock.withLock { value += 1; return value } }
}

package let staticBase = CredentialSource.staticKeys(profile: "base", StaticKeys(accessKeyId: "AKIDBASE", secretAccessKey: "base-secret"))

package func makeRole(_ name: String = "prod", arn: String = "arn:aws:iam::1:role/Admin", source: CredentialSource = staticBase,
          duration: Int? = nil, mfaSerial: String? = nil, mfaProcess: String? = nil,
          mfaSession: MFASessionSettings? = nil) -> RoleProfile {
    RoleProfile(name: name, roleArn: arn, roleSessionName: "alice", durationSeconds: duration, mfaSerial: mfaSerial,
                mfaProcess: mfaProcess, mfaSession: mfaSession, region: "us-east-1",
                endpointURL: "https://sts.test.invalid", source: source)
}

/// Runs `body`, requires a `SourceError` with `code`, returns it.
@discardableResult
package func expectSourceError(_ code: SourceError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) -> SourceError? {
    do {
        try body()
        Issue.record("expected SourceError \(code.rawValue), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as SourceError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected SourceError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A helper line that runs `script` with `sh -c`: helper lines are not run by a shell, so
/// shell syntax must ask for one, as botocore users write it.
package func sh(_ script: String) -> String {
    "sh -c '" + script.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
