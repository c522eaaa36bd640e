import Foundation
import Testing
import SigV4
@testable import Credentials
import TestSupport

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

    /// Sends `request` (then keeps the connection open, unless `close`) and reads until the server closes.
    func exchange(_ server: EndpointServer, _ request: [UInt8]) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = server.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
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
