import AWSConfig
import CredentialCache
import Foundation
import SigV4
@testable import StscacheKit
import Testing
import Transport

/// An HTTP peer answered by a routing closure. It fails closed: a request the route does not
/// answer records a test failure and throws, so nothing reaches the network.
final class RoutedTransport: HTTPTransport, @unchecked Sendable {
    typealias Route = (HTTPRequest) -> Result<HTTPResponse, TransportError>?

    struct Unrouted: Error {}

    private let lock = NSLock()
    private var route: Route
    private var sent: [(request: HTTPRequest, options: HTTPOptions)] = []

    init(_ route: @escaping Route) { self.route = route }

    func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse {
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

    var requests: [HTTPRequest] { lock.withLock { sent.map(\.request) } }
    var options: [HTTPOptions] { lock.withLock { sent.map(\.options) } }

    /// The `Action` of each STS (form POST) request, in order.
    var actions: [String] {
        requests.compactMap { request in
            form(request)["Action"]
        }
    }

    func form(_ request: HTTPRequest) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            fields[parts[0]] = parts[1].removingPercentEncoding ?? parts[1]
        }
        return fields
    }

    func requests(action: String) -> [HTTPRequest] {
        requests.filter { form($0)["Action"] == action }
    }
}

/// A key store holding one fixed key in memory.
struct FixedKeyStore: KeyStore {
    var name: String { "test" }
    var location: String { "memory" }
    let key = [UInt8](repeating: 7, count: 32)
    func loadKey() throws -> [UInt8]? { key }
    func loadOrCreateKey() throws -> [UInt8] { key }
    func deleteKey() throws {}
}

/// Everything written to stderr by the code under test.
final class SourcesOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var errText = ""
    private var outText = ""

    var stderr: String { lock.withLock { errText } }
    var stdout: String { lock.withLock { outText } }

    var sinks: OutputSinks {
        OutputSinks(stdout: { [self] text in lock.withLock { outText += text } },
                    stderr: { [self] text in lock.withLock { errText += text } })
    }
}

/// A terminal a test answers: records what was written, replies with scripted lines.
final class ScriptedTerminal: PromptTerminal {
    var written = ""
    var replies: [String?]
    var prompts: Int { written.components(separatedBy: "MFA code for").count - 1 }

    init(_ replies: [String?]) { self.replies = replies }

    func write(_ text: String) { written += text }

    func readLine(timeout: Double) throws(SourceError) -> String? {
        guard !replies.isEmpty else {
            Issue.record("the code asked the terminal for more lines than scripted")
            return nil
        }
        return replies.removeFirst()
    }
}

/// A temporary directory (removed at the end) with a cache, a fixed clock and captured output.
final class SourcesFixture {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    let directory: URL
    let output = SourcesOutput()
    let transport: RoutedTransport
    var environment: [String: String]
    var now = SourcesFixture.now

    init(environment: [String: String] = [:], route: @escaping RoutedTransport.Route) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stscache-sources-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        transport = RoutedTransport(route)
        self.environment = environment
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var path: String { directory.path }

    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let file = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    func context() -> Context {
        let transport = self.transport
        let now = self.now
        return Context(
            environment: environment, now: { now }, homeDirectory: path, userName: "alice",
            makeTransport: { transport }, output: output.sinks, sleep: { _ in })
    }

    func broker(terminal: ScriptedTerminal? = nil) throws -> CredentialBroker {
        let cache = CredentialCache(directory: try CacheDirectory.open(path: path + "/cache"))
        var broker = CredentialBroker(context: context(), cache: cache, keyStore: FixedKeyStore(), policy: RefreshPolicy())
        broker.lockTimeout = 5
        broker.sources.openTerminal = { terminal }
        return broker
    }
}

/// STS answers for the fakes.
enum STSAnswers {
    static func credentialsXML(action: String, keyId: String, expiration: Date, roleArn: String? = nil) -> String {
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

    static func ok(_ xml: String) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: 200, headers: [("Content-Type", "text/xml")], body: Array(xml.utf8)))
    }

    static func error(_ status: Int, code: String, message: String) -> Result<HTTPResponse, TransportError> {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>\(code)</Code><Message>\(message)</Message></Error>"
            + "<RequestId>r-1</RequestId></ErrorResponse>"
        return .success(HTTPResponse(status: status, body: Array(xml.utf8)))
    }

    static func json(_ status: Int, _ text: String) -> Result<HTTPResponse, TransportError> {
        .success(HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(text.utf8)))
    }

    /// A standard STS fake: every AssumeRole / GetSessionToken / AssumeRoleWithWebIdentity
    /// succeeds with a numbered key, valid for an hour (12 hours for GetSessionToken).
    static func sts(now: Date) -> RoutedTransport.Route {
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

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

let staticBase = CredentialSource.staticKeys(profile: "base", StaticKeys(accessKeyId: "AKIDBASE", secretAccessKey: "base-secret"))

func makeRole(_ name: String = "prod", arn: String = "arn:aws:iam::1:role/Admin", source: CredentialSource = staticBase,
          duration: Int? = nil, mfaSerial: String? = nil, mfaProcess: String? = nil,
          mfaSession: MFASessionSettings? = nil) -> RoleProfile {
    RoleProfile(name: name, roleArn: arn, roleSessionName: "alice", durationSeconds: duration, mfaSerial: mfaSerial,
                mfaProcess: mfaProcess, mfaSession: mfaSession, region: "us-east-1",
                endpointURL: "https://sts.test.invalid", source: source)
}

/// Runs `body`, requires a `SourceError` with `code`, returns it.
@discardableResult
func expectSourceError(_ code: SourceError.Code, sourceLocation: SourceLocation = #_sourceLocation,
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
func sh(_ script: String) -> String {
    "sh -c '" + script.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
