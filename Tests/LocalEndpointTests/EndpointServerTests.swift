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
    func withServer(readTimeout: Double = 0.3, _ body: (EndpointServer) throws -> Void) throws {
        let session = AWSCredentials(accessKeyId: "ASIASERVERTEST000001", secretAccessKey: "s", sessionToken: "t",
                                     expiration: Date().addingTimeInterval(3600))
        let server = try EndpointServer(endpoint: ContainerEndpoint(
            token: Self.token, minimumRemaining: 900, now: { Date() },
            credentials: { session }))
        server.readTimeout = readTimeout
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

    static let good = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(token)\r\n\r\n"

    /// Five requests with the token, one after another: each must be answered 200 within a second.
    func fiveGoodRequests(_ server: EndpointServer, spacing: useconds_t = 0) {
        for attempt in 1...5 {
            usleep(spacing)
            let (answer, seconds) = timedLoopbackExchange(port: server.port, Self.good, timeout: 1.5)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.contains("ASIASERVERTEST000001"),
                    "request \(attempt): \(answer.prefix(60))")
            #expect(seconds < 1, "request \(attempt) took \(seconds) s")
        }
    }

    @Test("20 connections that sent one byte and went silent delay no request with the token")
    func slowClients() throws {
        // The real two seconds would do; five keep the slow ones open for the whole test on a busy machine.
        try withServer(readTimeout: 5) { server in
            let slow = SlowClients(port: server.port, count: 20)
            defer { slow.closeAll() }
            fiveGoodRequests(server)
            slow.collect(for: 0)
            #expect(slow.closedCount == 0, "a slow connection was closed before its deadline")
        }
    }

    @Test("a flood above the cap: the oldest slow connections make room, and requests with the token are served")
    func flood() throws {
        try withServer(readTimeout: 5) { server in
            let flood = SlowClients(port: server.port, count: 3 * EndpointServer.connectionLimit)
            defer { flood.closeAll() }
            fiveGoodRequests(server)
            // Each good request took a slot too, so at most `connectionLimit` of the flood are still held.
            flood.collect(for: 1)
            #expect(flood.descriptors.count - flood.closedCount <= EndpointServer.connectionLimit)
            // The oldest went first, each told why.
            #expect(flood.closedAt[0] != nil && flood.answer(0).hasPrefix("HTTP/1.1 408 "), "\(flood.answer(0))")
            #expect(flood.closedAt.last! == nil, "the newest connection was dropped instead of the oldest")
        }
    }

    @Test("while connections keep arriving and going silent, over the cap, requests with the token are served")
    func ongoingFlood() throws {
        try withServer(readTimeout: 5) { server in
            let flood = FloodState()
            let ended = DispatchSemaphore(value: 0)
            // Bounded: at most 50 rounds of 40 connections, the last three rounds held open (120,
            // over the cap), the one before closed by the client.
            Thread.detachNewThread {
                var held: [SlowClients] = []
                for _ in 0..<50 where !flood.stopped {
                    held.append(SlowClients(port: server.port, count: 40, wait: 0.2))
                    if held.count > 3 { held.removeFirst().closeAll() }
                    flood.roundDone()
                }
                for round in held { round.closeAll() }
                ended.signal()
            }
            let started = Date()
            while flood.rounds < 2 && Date().timeIntervalSince(started) < 5 { usleep(1000) }
            let before = flood.rounds
            fiveGoodRequests(server, spacing: 30_000)
            let during = flood.rounds - before
            flood.stop()
            #expect(ended.wait(timeout: .now() + 20) == .success)
            #expect(before >= 2 && during >= 1, "the flood was not running: \(before) rounds before, \(during) during")
        }
    }

    @Test("silent connections opened together are each closed at their own deadline with 408")
    func deadlines() throws {
        try withServer(readTimeout: 0.5) { server in
            let silent = SlowClients(port: server.port, count: 10, greeting: [])
            defer { silent.closeAll() }
            silent.collect(for: 3)
            for index in silent.descriptors.indices {
                let closed = try #require(silent.closedAt[index], "connection \(index) was never closed")
                let after = closed - silent.opened[index]
                #expect(silent.answer(index).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(silent.answer(index))")
                #expect(after >= 0.45 && after < 1.0, "connection \(index) closed after \(after) s")
            }
        }
    }

    /// A connection to `server` that sends `parts` with `pause` microseconds between them, and
    /// the answer it read.
    func dribble(_ server: EndpointServer, _ parts: [String], pause: useconds_t) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = server.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        for part in parts {
            _ = Array(part.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            usleep(pause)
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test("a request head sent a byte at a time is read whole")
    func byteAtATime() throws {
        try withServer(readTimeout: 5) { server in
            let answer = try dribble(server, Self.good.map(String.init), pause: 500)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.prefix(60))")
        }
    }

    @Test("a slow handler holds the loop, but a request completed meanwhile is answered, not timed out")
    func slowHandler() throws {
        let server = try EndpointServer(purpose: "a test") { request in
            if request.target == "/slow" { usleep(800_000) }
            return .json(200, "{\"target\":\"\(request.target)\"}")
        }
        server.readTimeout = 0.3
        let running = try server.startThread()
        defer { running.stop() }
        let slow = Locked("")
        let handled = Thread {
            usleep(50_000)
            slow.value = timedLoopbackExchange(port: server.port, "GET /slow HTTP/1.1\r\n\r\n", timeout: 3).answer
        }
        handled.start()
        // Half a request before the slow one arrives, the rest while its handler runs and after
        // this connection's deadline would have passed.
        let answer = try dribble(server, ["GET /other HTTP/1.1\r\n", "Host: x\r\n\r\n"], pause: 400_000)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("{\"target\":\"/other\"}"), "\(answer)")
        while !handled.isFinished { usleep(1000) }
        #expect(slow.value.hasPrefix("HTTP/1.1 200 OK\r\n"))
    }
}

/// The flooding thread's progress and the signal to end it, shared with the test's thread.
final class FloodState: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    private var ended = false
    var rounds: Int { lock.withLock { done } }
    var stopped: Bool { lock.withLock { ended } }
    func roundDone() { lock.withLock { done += 1 } }
    func stop() { lock.withLock { ended = true } }
}

