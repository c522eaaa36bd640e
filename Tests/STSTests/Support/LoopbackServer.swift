import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for CurlTransport tests: it accepts one connection per
/// scripted reply, records each request, writes the reply verbatim and closes the connection.
/// Nothing here is mocked: libcurl talks to a real socket.
final class LoopbackServer: @unchecked Sendable {
    struct ReceivedRequest: Sendable {
        var requestLine: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.last { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    enum Reply: Sendable {
        /// Raw bytes written after the request has been read.
        case raw([UInt8])
        /// Raw bytes written as soon as the connection is accepted, without reading anything
        /// (what a plain-HTTP server looks like to a TLS client).
        case rawWithoutReading([UInt8])
        /// Read the request, then hold the connection open without answering until the server stops.
        case silence
    }

    let port: UInt16
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Owned jointly by the test (shutDown) and the accept thread: it is closed only when both
    /// are done with it, so a recycled descriptor number can never make a finished server's
    /// thread accept another test's connections.
    private let listener: Int32
    private let lock = NSLock()
    private var received: [ReceivedRequest] = []
    private var stopped = false
    private var threadDone = true
    private var closed = false
    private let stop = DispatchSemaphore(value: 0)

    /// `replies == nil`: listen but never accept (the kernel still completes TCP handshakes,
    /// so a client connects and then waits forever for an answer).
    init(replies: [Reply]?) throws {
        let (fd, port) = try Self.bindLoopback(listen: true)
        listener = fd
        self.port = port
        guard let replies else { return }
        threadDone = false
        // The thread keeps the server alive until every reply is served or shutDown() is called.
        let thread = Thread { [self] in
            defer { threadFinished() }
            for reply in replies {
                // shutDown() shuts the listener down before anything closes it, so this accept
                // fails rather than blocking once the test is over.
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                serve(connection, reply)
            }
        }
        thread.start()
    }

    deinit {
        // The thread holds `self`, so it has finished by now.
        if !closed { close(listener) }
    }

    private func serve(_ connection: Int32, _ reply: Reply) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        switch reply {
        case .rawWithoutReading(let bytes):
            Self.writeAll(connection, bytes)
        case .raw(let bytes):
            if let request = Self.readRequest(connection) {
                lock.withLock { received.append(request) }
            }
            Self.writeAll(connection, bytes)
        case .silence:
            if let request = Self.readRequest(connection) {
                lock.withLock { received.append(request) }
            }
            _ = stop.wait(timeout: .now() + 30)
        }
        shutdown(connection, Int32(SHUT_RDWR))
        close(connection)
    }

    private func threadFinished() {
        lock.withLock { threadDone = true }
        closeListenerIfUnused()
    }

    private func closeListenerIfUnused() {
        let shouldClose = lock.withLock {
            guard threadDone, stopped, !closed else { return false }
            closed = true
            return true
        }
        if shouldClose { close(listener) }
    }

    /// Stops accepting and releases any held connection.
    func shutDown() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        stop.signal()
        shutdown(listener, Int32(SHUT_RDWR))
        closeListenerIfUnused()
    }

    /// The requests received so far.
    var requests: [ReceivedRequest] { lock.withLock { received } }

    /// A bound but not listening socket: connecting to its port is refused, and holding it keeps
    /// anyone else from taking the port during the test.
    static func refusingPort() throws -> (fd: Int32, port: UInt16) {
        try bindLoopback(listen: false)
    }

    static func response(status: Int, reason: String = "OK", headers: [(String, String)] = [], body: String) -> Reply {
        var text = "HTTP/1.1 \(status) \(reason)\r\n"
        var hasLength = false
        for (name, value) in headers {
            if name.lowercased() == "content-length" { hasLength = true }
            text += "\(name): \(value)\r\n"
        }
        if !hasLength { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "Connection: close\r\n\r\n"
        return .raw(Array(text.utf8) + Array(body.utf8))
    }

    private static func bindLoopback(listen shouldListen: Bool) throws -> (Int32, UInt16) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXFailure(call: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { close(fd); throw POSIXFailure(call: "bind", code: errno) }
        if shouldListen {
            guard listen(fd, 16) == 0 else { close(fd); throw POSIXFailure(call: "listen", code: errno) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { close(fd); throw POSIXFailure(call: "getsockname", code: errno) }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    private static func readRequest(_ fd: Int32) -> ReceivedRequest? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            data += buffer[0..<n]
            if data.count >= 4 {
                for i in 0...(data.count - 4) where Array(data[i..<(i + 4)]) == separator {
                    headerEnd = i
                    break
                }
            }
        }
        let head = String(decoding: data[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst()
        let headers: [(name: String, value: String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.last { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        var body = Array(data[(headerEnd! + 4)...])
        while body.count < length {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            body += buffer[0..<n]
        }
        return ReceivedRequest(requestLine: requestLine, headers: headers, body: body)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            offset += n
        }
    }
}

struct POSIXFailure: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}
