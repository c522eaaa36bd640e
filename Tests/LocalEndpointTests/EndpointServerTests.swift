import Foundation
import Testing
import SigV4
@testable import Credentials
import TestSupport
@testable import LocalEndpoint

/// The endpoint's server over a real loopback socket: what a client that misbehaves gets.
@Suite("endpoint server", .serialized)
struct EndpointServerTests {
    static let token = String(repeating: "cd", count: 32)

    /// A server on its own thread for the length of `body`.
    func withServer(_ body: (EndpointServer) throws -> Void) throws {
        let session = AWSCredentials(accessKeyId: "ASIASERVERTEST000001", secretAccessKey: "s", sessionToken: "t",
                                     expiration: Date().addingTimeInterval(3600))
        let server = try EndpointServer(endpoint: ContainerEndpoint(
            token: Self.token, roleArn: "arn:aws:iam::123456789012:role/A", minimumRemaining: 900, now: { Date() },
            credentials: { session }))
        server.readTimeout = 0.3
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            server.serve()
            done.signal()
        }
        defer {
            server.stop()
            #expect(done.wait(timeout: .now() + 5) == .success, "serve() did not return after stop()")
        }
        try body(server)
    }

    func exchange(_ server: EndpointServer, _ request: [UInt8]) throws -> String {
        try loopbackExchange(port: server.port, request)
    }

    @Test("the right token gets 200 with the credentials, and the connection is closed")
    func served() throws {
        try withServer { server in
            #expect(server.url == "http://127.0.0.1:\(server.port)/")
            let answer = try exchange(server, Array("GET / HTTP/1.1\r\nAuthorization: \(Self.token)\r\n\r\n".utf8))
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer)")
            #expect(answer.contains("Content-Type: application/json\r\n") && answer.contains("Connection: close\r\n"))
            #expect(answer.contains("\"AccessKeyId\":\"ASIASERVERTEST000001\""))
        }
    }

    @Test("a client that sends nothing gets 408 after the read timeout, and the next one is served")
    func silentClient() throws {
        try withServer { server in
            let silent = try exchange(server, [])
            #expect(silent.hasPrefix("HTTP/1.1 408 "), "\(silent)")
            let next = try exchange(server, Array("GET / HTTP/1.1\r\nAuthorization: \(Self.token)\r\n\r\n".utf8))
            #expect(next.hasPrefix("HTTP/1.1 200 "), "\(next)")
        }
    }

    @Test("an oversized head gets 431 and a malformed one 400, without credentials")
    func refusals() throws {
        try withServer { server in
            let large = "GET / HTTP/1.1\r\nAuthorization: \(Self.token)\r\nX: " + String(repeating: "a", count: 9000)
            let tooLarge = try exchange(server, Array(large.utf8))
            #expect(tooLarge.hasPrefix("HTTP/1.1 431 ") && !tooLarge.contains("ASIA"), "\(tooLarge.prefix(80))")
            let twoTokens = try exchange(server, Array("GET / HTTP/1.1\r\nAuthorization: \(Self.token)\r\nAuthorization: x\r\n\r\n".utf8))
            #expect(twoTokens.hasPrefix("HTTP/1.1 400 ") && !twoTokens.contains("ASIA"))
        }
    }
}
