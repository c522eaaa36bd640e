#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CProcessControl
import StscacheSupport

/// The answer to one request on the loopback server: the container endpoint's JSON, or a page
/// of login's redirect, which alone may say `stop` (serve returns once it is sent).
package struct EndpointReply: Equatable {
    package var status: Int
    package var contentType: String
    package var body: String
    package var stop = false

    package static func json(_ status: Int, _ body: String) -> EndpointReply {
        EndpointReply(status: status, contentType: "application/json", body: body)
    }

    package static func html(_ status: Int, _ body: String, stop: Bool = false) -> EndpointReply {
        EndpointReply(status: status, contentType: "text/html; charset=utf-8", body: body, stop: stop)
    }
}

/// A loopback HTTP server on `127.0.0.1`, a port the kernel picks, for the container-credentials
/// endpoint (the SDKs open one connection per fetch, a few times an hour) and `stscache login`'s
/// redirect. Its port is visible to every local user, so no client may hold it for another: one
/// thread polls the listener and every open connection (non-blocking), each connection has its
/// own `readTimeout` to send its request head, at most `connectionLimit` are open at once (the
/// oldest is dropped to make room, so slow ones cannot keep a new one out), and each is answered
/// and closed as soon as its head is complete. Nothing else in stscache listens on a socket; the
/// hit path never loads any of this.
///
/// `@unchecked Sendable`: after `init` the descriptors and the handler are only read, and `stop`
/// only writes one byte to a pipe that `serve` polls.
package final class EndpointServer: @unchecked Sendable {
    package let port: UInt16
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let handler: (EndpointRequest) -> EndpointReply
    private let purpose: String
    /// Seconds from accepting a connection to the end of its request head.
    package var readTimeout: Double = 2

    /// Connections open at once. Every peer is 127.0.0.1 and TCP says nothing of the user behind
    /// a port, so the cap is global; a real client sends its request as it connects, so the
    /// oldest unanswered connection is the one to drop.
    package static let connectionLimit = 64
    /// Connections accepted per turn of the loop, so the open ones are read between bursts.
    private static let acceptBatch = 16
    /// After the answer: how long to read what the client still sends before closing.
    private static let lingerSeconds = 0.2

    /// The server could not listen or start (`endpoint.socket`).
    package typealias Failure = CodedError<EndpointErrorCode>

    /// The container-credentials endpoint: every request goes to `endpoint`.
    package convenience init(endpoint: ContainerEndpoint) throws(Failure) {
        try self.init(purpose: "the local credentials endpoint") { request in
            endpoint.answer(request)
        }
    }

    /// Listens on `127.0.0.1` (never another address); `handler` answers each well-formed request
    /// on the thread that runs `serve`, one at a time. `purpose` names the server in a failure.
    package init(purpose: String, handler: @escaping (EndpointRequest) -> EndpointReply) throws(Failure) {
        self.handler = handler
        self.purpose = purpose
        func failed(_ what: String) -> Failure {
            Failure(.socket, "could not \(what) for \(purpose): \(String(cString: strerror(errno)))")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw failed("open a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // A deep queue: a burst of connections waits there to be accepted (and the oldest
        // dropped) rather than having its SYNs dropped, which would cost a client a second.
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1024) == 0
                && getsockname(fd, $0, &length) == 0 }
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard bound, pipe(&pipeFDs) == 0 else {
            let failure = failed(bound ? "make a pipe" : "listen on 127.0.0.1")
            close(fd)
            throw failure
        }
        for pipeFD in pipeFDs { _ = fcntl(pipeFD, F_SETFD, FD_CLOEXEC) }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        wake = (pipeFDs[0], pipeFDs[1])
    }

    deinit {
        close(listener)
        close(wake.read)
        close(wake.write)
    }

    /// `http://127.0.0.1:PORT/`: the `AWS_CONTAINER_CREDENTIALS_FULL_URI` for clients.
    package var url: String { "http://127.0.0.1:\(port)/" }

    /// One accepted connection, from accept to close.
    private final class Connection {
        enum Phase {
            /// Until the head is complete, or `readTimeout` after the accept.
            case reading
            /// Until the socket has taken the whole answer.
            case writing
            /// Answered, our side shut: what the client still sends is read and dropped for a
            /// moment, since closing over unread bytes sends a reset that can overtake the answer.
            case lingering
        }

        private(set) var fd: Int32
        var phase = Phase.reading
        var deadline: Double
        var received: [UInt8] = []
        var answer: [UInt8] = []
        var sent = 0
        var drained = 0
        var stopAfterAnswer = false

        /// The client's port (it connects from 127.0.0.1), for finding who it is.
        let peerPort: UInt16?

        init(fd: Int32, deadline: Double) {
            self.fd = fd
            self.deadline = deadline
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
            }
            peerPort = named && Int32(address.sin_family) == AF_INET ? UInt16(bigEndian: address.sin_port) : nil
        }

        var isOpen: Bool { fd >= 0 }

        /// True once an answer that says stop is out (or could not be sent): serving ends.
        var saidStop: Bool { stopAfterAnswer && (phase != .writing || !isOpen) }

        func end() {
            guard fd >= 0 else { return }
            close(fd)
            fd = -1
        }
    }

    /// Answers connections until `stop()`, a reply that says stop, or the monotonic `deadline`.
    ///
    /// The handler runs on this thread, so a slow one (the endpoint refreshing through STS) holds
    /// the loop; but nobody's deadline runs out meanwhile (a connection is timed out only if it
    /// was still silent when the loop last woke, and what arrived since is read first), and a
    /// request with the token would wait for that same refresh anyway.
    package func serve(until deadline: Double? = nil) {
        var open: [Connection] = []  // oldest first
        defer { for connection in open { connection.end() } }
        var listenerPausedUntil = 0.0
        while true {
            let now = monotonicSeconds()
            if let deadline, now >= deadline { return }
            let listening = now >= listenerPausedUntil
            let wakeAt = (open.map(\.deadline) + [deadline, listening ? nil : listenerPausedUntil].compactMap { $0 }).min()
            var fds = [pollfd(fd: listening ? listener : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            fds += open.map { pollfd(fd: $0.fd, events: Int16($0.phase == .writing ? POLLOUT : POLLIN), revents: 0) }
            let timeout = wakeAt.map { Int32(min(max($0 - now, 0), 3600) * 1000) + 1 } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            let woke = monotonicSeconds()
            for (index, connection) in open.enumerated() {
                if fds[index + 2].revents != 0 {
                    advance(connection)
                } else if woke >= connection.deadline {
                    expire(connection)
                }
                if connection.saidStop { return finish(connection) }
            }
            open.removeAll { !$0.isOpen }
            guard fds[0].revents != 0 else { continue }
            for _ in 0..<Self.acceptBatch {
                let fd = stscache_accept_cloexec(listener, 1)
                if fd < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    // Out of descriptors (or memory): stop accepting for a moment instead of spinning.
                    if errno != EAGAIN && errno != EWOULDBLOCK { listenerPausedUntil = monotonicSeconds() + 0.05 }
                    break
                }
                if open.count >= Self.connectionLimit {
                    drop(open.remove(at: open.firstIndex { $0.phase == .reading } ?? 0))
                }
                let connection = Connection(fd: fd, deadline: monotonicSeconds() + readTimeout)
                // A real client has usually sent its request by now: answered at once, it never waits its turn.
                advance(connection)
                if connection.saidStop { return finish(connection) }
                if connection.isOpen { open.append(connection) }
            }
        }
    }

    /// Does what the connection's phase calls for now that its socket is ready.
    private func advance(_ connection: Connection) {
        switch connection.phase {
        case .reading: readHead(connection)
        case .writing: writeAnswer(connection)
        case .lingering: drain(connection)
        }
    }

    /// Reads what has arrived and answers when the head is complete or refused.
    private func readHead(_ connection: Connection) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // The client left before its request was complete: nothing to answer.
            guard count > 0 else { return connection.end() }
            let searchFrom = max(connection.received.count - 3, 0)
            connection.received += buffer[0..<count]
            // Parsed only when the head can have ended: the blank line just arrived, or the
            // limit is passed. Parsing at every read would cost a one-byte-at-a-time client's
            // head squared.
            guard connection.received.count > EndpointRequest.maximumHeadSize
                    || Self.containsBlankLine(connection.received[searchFrom...]) else { continue }
            switch EndpointRequest.parse(connection.received) {
            case .request(var request):
                request.peer = connection.peerPort.map { EndpointRequest.Peer(clientPort: $0, serverPort: port) }
                return answer(connection, handler(request))
            case .invalid(let status, let reason):
                return answer(connection, ContainerEndpoint.error(status, "BadRequest", reason))
            case .incomplete:
                continue
            }
        }
    }

    private static func containsBlankLine(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return true }
            index += 1
        }
        return false
    }

    /// Starts sending `reply`; the rest goes out as the socket takes it.
    private func answer(_ connection: Connection, _ reply: EndpointReply) {
        connection.answer = Self.render(reply)
        connection.stopAfterAnswer = reply.stop
        connection.phase = .writing
        connection.deadline = monotonicSeconds() + readTimeout
        writeAnswer(connection)
    }

    private func writeAnswer(_ connection: Connection) {
        while connection.sent < connection.answer.count {
            let sent = connection.answer.withUnsafeBytes {
                send(connection.fd, $0.baseAddress! + connection.sent, $0.count - connection.sent, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            guard sent > 0 else { return connection.end() }
            connection.sent += sent
        }
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering
        connection.deadline = monotonicSeconds() + Self.lingerSeconds
    }

    /// Reads and drops what the client sends after its answer; closes at its end of stream, or
    /// past 64 KiB.
    private func drain(_ connection: Connection) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            connection.drained += max(count, 0)
            if count <= 0 || connection.drained > 65536 { return connection.end() }
        }
    }

    /// The answer that said stop: serving ends with it, so its lingering is done here, on this
    /// connection alone, for at most `lingerSeconds`.
    private func finish(_ connection: Connection) {
        let deadline = monotonicSeconds() + Self.lingerSeconds
        while connection.isOpen, monotonicSeconds() < deadline {
            var ready = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 50) > 0 { drain(connection) }
        }
        connection.end()
    }

    /// Its time is up: a connection still reading gets 408, any other is closed.
    private func expire(_ connection: Connection) {
        guard connection.phase == .reading else { return connection.end() }
        answer(connection, ContainerEndpoint.error(408, "RequestTimeout", "no request"))
    }

    /// Makes room for a new connection: one still reading is told so (408, if the socket takes
    /// it now), and closed.
    private func drop(_ connection: Connection) {
        if connection.phase == .reading {
            let bytes = Self.render(ContainerEndpoint.error(408, "RequestTimeout", "no request in time; others were waiting"))
            _ = bytes.withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            shutdown(connection.fd, Int32(SHUT_WR))
            drain(connection)
        }
        connection.end()
    }

    /// `serve(until: deadline)` on a thread of its own, until the handle's `stop()` (the caller's
    /// thread waits for a child or a browser meanwhile).
    package func startThread(until deadline: Double? = nil) throws(Failure) -> Running {
        final class Start {
            let server: EndpointServer
            let deadline: Double?
            init(_ server: EndpointServer, _ deadline: Double?) {
                self.server = server
                self.deadline = deadline
            }
        }
        let box = Unmanaged.passRetained(Start(self, deadline)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            start.server.serve(until: start.deadline)
            return nil
        }, box)
        guard status == 0 else {
            Unmanaged<Start>.fromOpaque(box).release()
            throw Failure(.socket, "could not start \(purpose): \(String(cString: strerror(status)))")
        }
        return Running(server: self, thread: thread)
    }

    /// A server serving on its own thread.
    package struct Running {
        let server: EndpointServer
        let thread: pthread_t

        /// Stops serving and waits for the thread to end.
        package func stop() {
            server.stop()
            pthread_join(thread, nil)
        }

        /// Waits for the thread to end by itself (a reply that said stop, or the deadline).
        package func wait() {
            pthread_join(thread, nil)
        }
    }

    /// Makes `serve()` return; safe from any thread.
    package func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// Every answer is uncacheable and sends no Referer onwards (the login redirect's URL holds
    /// an authorization code).
    private static func render(_ reply: EndpointReply) -> [UInt8] {
        let reasons = [200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                       408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
                       503: "Service Unavailable"]
        let body = reply.body
        let text = "HTTP/1.1 \(reply.status) \(reasons[reply.status] ?? "Error")\r\nContent-Type: \(reply.contentType)\r\n"
            + "Content-Length: \(body.utf8.count)\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
            + "Connection: close\r\n\r\n" + body
        return Array(text.utf8)
    }
}

/// The codes of `EndpointServer.Failure`: `endpoint.<code>`.
package enum EndpointErrorCode: String, ErrorCode {
    package static let domain = "endpoint"

    /// A socket, pipe or thread the server needs could not be had.
    case socket
}
