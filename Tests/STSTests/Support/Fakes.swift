import Foundation
import SigV4
import STS
import Testing
import Transport

/// A transport that answers from a script and fails closed: a call beyond the script records a
/// test failure and throws, so no test can reach the network by accident.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    enum Step {
        case respond(HTTPResponse)
        case fail(TransportError)
    }

    struct UnexpectedCall: Error {}

    private let lock = NSLock()
    private var steps: [Step]
    private var sent: [(request: HTTPRequest, options: HTTPOptions)] = []
    private let onSend: (@Sendable () -> Void)?

    init(_ steps: [Step], onSend: (@Sendable () -> Void)? = nil) {
        self.steps = steps
        self.onSend = onSend
    }

    func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse {
        let step: Step? = lock.withLock {
            sent.append((request, options))
            return steps.isEmpty ? nil : steps.removeFirst()
        }
        onSend?()
        guard let step else {
            Issue.record("unexpected HTTP call: \(request.method) \(request.url)")
            throw UnexpectedCall()
        }
        switch step {
        case .respond(let response): return response
        case .fail(let error): throw error
        }
    }

    var requests: [HTTPRequest] { lock.withLock { sent.map(\.request) } }
    var options: [HTTPOptions] { lock.withLock { sent.map(\.options) } }
    var unusedSteps: Int { lock.withLock { steps.count } }
}

/// A signer that records what it was asked to sign and returns recognisable headers.
final class RecordingSigner: @unchecked Sendable {
    struct Call {
        var method: String
        var url: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var credentials: AWSCredentials
        var region: String
        var service: String
        var date: Date
    }

    private let lock = NSLock()
    private var recorded: [Call] = []

    var calls: [Call] { lock.withLock { recorded } }

    var function: STSSigningFunction {
        { [self] method, url, headers, body, credentials, region, service, date in
            lock.withLock {
                recorded.append(Call(method: method, url: url, headers: headers, body: body, credentials: credentials,
                                     region: region, service: service, date: date))
            }
            return [
                (name: "X-Amz-Date", value: "fake-\(Int(date.timeIntervalSince1970))"),
                (name: "Authorization", value: "FAKE-SIG4 region=\(region) service=\(service)"),
            ]
        }
    }
}

/// A clock tests move by hand; `sleep` advances it, so backoff and deadlines run instantly.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var slept: [Double] = []

    init(_ start: Date) { current = start }

    var now: Date { lock.withLock { current } }
    var sleeps: [Double] { lock.withLock { slept } }

    func advance(_ seconds: Double) { lock.withLock { current = current.addingTimeInterval(seconds) } }

    var clock: @Sendable () -> Date { { [self] in now } }
    var sleep: @Sendable (Double) -> Void {
        { [self] seconds in
            lock.withLock {
                slept.append(seconds)
                current = current.addingTimeInterval(seconds)
            }
        }
    }
}

enum Fixtures {
    static let sourceCredentials = AWSCredentials(
        accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCEKEY")

    static let secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    static let sessionToken = "FwoGZXIvYXdzEBYaDHhBTEXAMPLETOKEN+/=="

    static let assumeRoleResponse = """
        <AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleResult>
            <SourceIdentity>Alice</SourceIdentity>
            <AssumedRoleUser>
              <Arn>arn:aws:sts::123456789012:assumed-role/Admin/alice</Arn>
              <AssumedRoleId>AROA3XFRBF535PLBIFPI4:alice</AssumedRoleId>
            </AssumedRoleUser>
            <Credentials>
              <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
              <SecretAccessKey>\(secretAccessKey)</SecretAccessKey>
              <SessionToken>\(sessionToken)</SessionToken>
              <Expiration>2019-11-09T13:34:41Z</Expiration>
            </Credentials>
            <PackedPolicySize>6</PackedPolicySize>
          </AssumeRoleResult>
          <ResponseMetadata>
            <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
          </ResponseMetadata>
        </AssumeRoleResponse>

        """

    static func errorDocument(code: String, message: String, type: String = "Sender") -> String {
        """
        <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <Error>
            <Type>\(type)</Type>
            <Code>\(code)</Code>
            <Message>\(message)</Message>
          </Error>
          <RequestId>4f1c2a3b-0000-4000-8000-000000000000</RequestId>
        </ErrorResponse>
        """
    }

    static let endpoint = STSEndpoint(url: "https://sts.eu-west-1.amazonaws.com/", signingRegion: "eu-west-1")

    static let request = AssumeRoleRequest(
        roleArn: "arn:aws:iam::123456789012:role/Admin", roleSessionName: "alice", durationSeconds: 3600)

    /// 2019-11-09T12:34:41Z, an hour before the fixture's expiration.
    static let now = Date(timeIntervalSince1970: 1_573_302_881)

    static func ok(_ body: String = assumeRoleResponse) -> ScriptedTransport.Step {
        .respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/xml")], body: Array(body.utf8)))
    }

    static func stsError(_ status: Int, code: String, message: String, date: String? = nil) -> ScriptedTransport.Step {
        var headers: [(name: String, value: String)] = [("Content-Type", "text/xml")]
        if let date { headers.append(("Date", date)) }
        return .respond(HTTPResponse(status: status, headers: headers, body: Array(errorDocument(code: code, message: message).utf8)))
    }
}
