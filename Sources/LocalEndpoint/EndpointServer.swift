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

/// A loopback HTTP server on `127.0.0.1`, a port the kernel picks: one thread, one connection at
/// a time, each answered and closed. It serves the container-credentials endpoint (the SDKs open
/// one connection per fetch, a few times an hour) and `stscache login`'s redirect. A connection
/// gets `readTimeout` seconds to send its request head. Nothing else in stscache listens on a
/// socket; the hit path never loads any of this.
///
/// `@unchecked Sendable`: after `init` the descriptors and the handler are only read, and `stop`
/// only writes one byte to a pipe that `serve` polls.
package final class EndpointServer: @unchecked Sendable {
    package let port: UInt16
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let handler: (EndpointRequest) -> EndpointReply
    private let purpose: String
    package var readTimeout: Double = 2

    /// The server could not listen or start (`endpoint.socket`).
    package typealias Failure = CodedError<EndpointErrorCode>

    /// The container-credentials endpoint: every request goes to `endpoint`.
    package convenience init(endpoint: ContainerEndpoint) throws(Failure) {
        try self.init(purpose: "the local credentials endpoint") { request in
            endpoint.answer(method: request.method, authorization: request.authorization)
        }
    }

    /// Listens on `127.0.0.1` (never another address); `handler` answers each well-formed request
    /// on the thread that runs `serve`. `purpose` names the server in a failure.
    package init(purpose: String, handler: @escaping (EndpointRequest) -> EndpointReply) throws(Failure) {
        self.handler = handler
        self.purpose = purpose
        func failed(_ what: String) -> Failure {
            Failure(.socket, "could not \(what) for \(purpose): \(String(cString: strerror(errno)))")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failed("open a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0
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

    /// Answers connections until `stop()`, a reply that says stop, or the monotonic `deadline`.
    package func serve(until deadline: Double? = nil) {
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            var wait: Int32 = -1
            if let deadline {
                let left = deadline - monotonicSeconds()
                if left <= 0 { return }
                wait = Int32(min(left, 3600) * 1000) + 1
            }
            guard poll(&fds, 2, wait) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let connection = stscache_accept_cloexec(listener)
            guard connection >= 0 else { continue }
            let stop = answer(connection)
            closeGracefully(connection)
            if stop { return }
        }
    }

    /// Closes after the answer without losing it: a request the server stopped reading (too
    /// large, malformed) leaves unread bytes, and closing over unread bytes sends a reset that can
    /// overtake the answer. So: end our side, read what is left for a moment, then close.
    private func closeGracefully(_ connection: Int32) {
        shutdown(connection, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicSeconds() + 0.2
        var drained = 0
        while drained < 65536, monotonicSeconds() < deadline {
            var ready = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 50) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            drained += count
        }
        close(connection)
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

    /// Reads one request and answers it; true when the reply says to stop serving.
    private func answer(_ connection: Int32) -> Bool {
        let deadline = monotonicSeconds() + readTimeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            switch EndpointRequest.parse(received) {
            case .request(let request):
                let reply = handler(request)
                respond(connection, reply)
                return reply.stop
            case .invalid(let status, let reason):
                respond(connection, ContainerEndpoint.error(status, "BadRequest", reason))
                return false
            case .incomplete:
                break
            }
            let left = deadline - monotonicSeconds()
            var ready = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&ready, 1, Int32(left * 1000) + 1) > 0 else {
                respond(connection, ContainerEndpoint.error(408, "RequestTimeout", "no request"))
                return false
            }
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            received += buffer[0..<count]
        }
    }

    /// Every answer is uncacheable and sends no Referer onwards (the login redirect's URL holds
    /// an authorization code).
    private func respond(_ connection: Int32, _ reply: EndpointReply) {
        let reasons = [200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                       408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
                       503: "Service Unavailable"]
        let body = reply.body
        let text = "HTTP/1.1 \(reply.status) \(reasons[reply.status] ?? "Error")\r\nContent-Type: \(reply.contentType)\r\n"
            + "Content-Length: \(body.utf8.count)\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
            + "Connection: close\r\n\r\n" + body
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes { send(connection, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return }
            offset += sent
        }
    }
}

/// The codes of `EndpointServer.Failure`: `endpoint.<code>`.
package enum EndpointErrorCode: String, ErrorCode {
    package static let domain = "endpoint"

    /// A socket, pipe or thread the server needs could not be had.
    case socket
}
