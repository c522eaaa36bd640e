import Foundation
import Testing
import Credentials
import Transport

/// The fixed "now" of the tests that need one: 2030-03-17T17:46:40Z.
public let testNow = Date(timeIntervalSince1970: 1_900_000_000)

/// A value one thread writes and another reads (a fake's route, a server thread, a test's clock).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    public init(_ value: Value) { stored = value }
    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// What the code under test wrote, captured from a context's sinks.
public final class CapturedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var out = ""
    private var err = ""

    public init() {}

    public var stdout: String { lock.withLock { out } }
    public var stderr: String { lock.withLock { err } }

    public func sinks(terminal: Bool = false) -> OutputSinks {
        OutputSinks(stdout: { text in self.lock.withLock { self.out += text } },
                    stderr: { text in self.lock.withLock { self.err += text } },
                    stdoutIsTerminal: terminal)
    }
}

/// A transport that fails closed: any attempt to reach the network fails the test.
public struct NetworkForbidden: HTTPTransport {
    public init() {}

    public func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse {
        Issue.record("the code under test tried to reach the network: \(request.method) \(request.url)")
        throw TransportError.couldNotConnect("the tests never reach the network")
    }
}
