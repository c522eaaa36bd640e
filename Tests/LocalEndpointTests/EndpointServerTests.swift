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

    /// A server on its own thread for the length of `body`. The default read timeout is only a
    /// safety net: a client here sends its request as soon as it connects, but on a loaded machine
    /// it may be descheduled between the two.
    func withServer(readTimeout: Double = 10, _ body: (EndpointServer) throws -> Void) throws {
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
            #expect(done.wait(timeout: .now() + 30) == .success, "serve() did not return after stop()")
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
        try withServer(readTimeout: 1) { server in
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

    /// How long the slow connections of the starvation tests may stay silent: long enough that,
    /// on a loaded machine, none reaches its deadline during a test (so an answer can only come
    /// from serving around them), and far beyond `answerBound`.
    static let slowReadTimeout = 30.0
    /// How long a request with the token may take here. Not a speed test: a server that waits for
    /// a slow connection's deadline, or for a slot to free, answers after `slowReadTimeout` (a
    /// one-at-a-time server after 20 of them), six times this; a loaded machine stays well inside it.
    static let answerBound = 5.0

    /// Five requests with the token, one after another: each must be answered 200 before any
    /// slow connection's deadline could have freed the server (`answerBound`).
    func fiveGoodRequests(_ server: EndpointServer, before each: () -> Void = {}) {
        for attempt in 1...5 {
            each()
            let (answer, seconds) = timedLoopbackExchange(port: server.port, Self.good, timeout: Self.answerBound)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.contains("ASIASERVERTEST000001"),
                    "request \(attempt) after \(seconds) s: \(answer.prefix(60))")
        }
    }

    @Test("20 connections that sent one byte and went silent delay no request with the token")
    func slowClients() throws {
        try withServer(readTimeout: Self.slowReadTimeout) { server in
            let slow = SlowClients(port: server.port, count: 20)
            defer { slow.closeAll() }
            fiveGoodRequests(server)
            slow.collect(for: 0)
            #expect(slow.closedCount == 0, "a slow connection was closed before its deadline")
        }
    }

    @Test("a flood above the cap: the oldest slow connections make room, and requests with the token are served")
    func flood() throws {
        try withServer(readTimeout: Self.slowReadTimeout) { server in
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
        try withServer(readTimeout: Self.slowReadTimeout) { server in
            let flood = FloodState()
            let ended = DispatchSemaphore(value: 0)
            // Bounded: at most 200 rounds of 40 connections, the last three rounds held open (120,
            // over the cap), the one before closed by the client.
            Thread.detachNewThread {
                var held: [SlowClients] = []
                for _ in 0..<200 where !flood.stopped {
                    held.append(SlowClients(port: server.port, count: 40, wait: 0.2))
                    if held.count > 3 { held.removeFirst().closeAll() }
                    flood.roundDone()
                }
                for round in held { round.closeAll() }
                ended.signal()
            }
            // Each request goes out only after a new round of the flood has arrived, so the flood
            // is running (and over the cap) while every one is served: by construction, not by timing.
            var seen = 0
            var rounds: [Int] = []
            fiveGoodRequests(server) {
                let target = max(seen + 1, 3)
                let started = Date()
                while flood.rounds < target && Date().timeIntervalSince(started) < 60 { usleep(1000) }
                seen = flood.rounds
                rounds.append(seen)
            }
            flood.stop()
            #expect(ended.wait(timeout: .now() + 60) == .success)
            #expect(rounds.count == 5 && rounds.first! >= 3 && zip(rounds, rounds.dropFirst()).allSatisfy { $0 < $1 },
                    "the flood was not running before each request: rounds \(rounds)")
        }
    }

    @Test("silent connections opened together are each closed at their own deadline with 408")
    func deadlines() throws {
        // A server that takes one connection at a time closes the i-th (from 0) at (i + 1) times
        // the read timeout: eight of these ten after 3 timeouts or more. Closed together within
        // 3 timeouts, and none before its deadline, is the fix; the load of a busy machine only
        // delays the closes, and it would take 2 s of delay to fail.
        let readTimeout = 1.0
        try withServer(readTimeout: readTimeout) { server in
            let silent = SlowClients(port: server.port, count: 10, greeting: [])
            defer { silent.closeAll() }
            silent.collect(for: 3 * readTimeout)
            for index in silent.descriptors.indices {
                let closed = try #require(silent.closedAt[index], "connection \(index) was not closed within 3 timeouts")
                let after = closed - silent.opened[index]
                #expect(silent.answer(index).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(silent.answer(index))")
                #expect(after >= 0.9 * readTimeout, "connection \(index) closed after \(after) s, before its deadline")
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
        var timeout = timeval(tv_sec: 30, tv_usec: 0)  // a safety net: the answer comes at once
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
        try withServer(readTimeout: Self.slowReadTimeout) { server in
            let answer = try dribble(server, Self.good.map(String.init), pause: 500)
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.prefix(60))")
        }
    }

    @Test("a slow handler holds the loop, but a request completed meanwhile is answered, not timed out")
    func slowHandler() throws {
        // The order is forced rather than timed: the /other connection sends half its head, the
        // /slow handler starts, the rest of /other arrives while it runs, and the handler returns
        // only after /other's deadline has passed. A server that expires connections before
        // reading what arrived answers /other 408.
        let readTimeout = 1.0
        let handlerStarted = DispatchSemaphore(value: 0)
        let otherCompleted = DispatchSemaphore(value: 0)
        let server = try EndpointServer(purpose: "a test") { request in
            if request.target == "/slow" {
                // /other was accepted before this handler started, so its deadline is at most
                // `readTimeout` from now.
                let started = Date()
                handlerStarted.signal()
                _ = otherCompleted.wait(timeout: .now() + 30)
                let left = readTimeout + 0.2 - Date().timeIntervalSince(started)
                if left > 0 { usleep(useconds_t(left * 1_000_000)) }
            }
            return .json(200, "{\"target\":\"\(request.target)\"}")
        }
        server.readTimeout = readTimeout
        let running = try server.startThread()
        defer { running.stop() }

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
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func sendPart(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        sendPart("GET /other HTTP/1.1\r\n")

        let slow = Locked("")
        let handled = Thread {
            slow.value = timedLoopbackExchange(port: server.port, "GET /slow HTTP/1.1\r\n\r\n", timeout: 60).answer
        }
        handled.start()
        try #require(handlerStarted.wait(timeout: .now() + 30) == .success, "the /slow handler never ran")
        sendPart("Host: x\r\n\r\n")
        otherCompleted.signal()

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        let answer = String(decoding: received, as: UTF8.self)
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

