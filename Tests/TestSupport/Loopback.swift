import Foundation
import Testing

/// Sends `request` to `127.0.0.1:port` as raw bytes and reads until the server closes: a client
/// for the loopback servers (the container endpoint, `login`'s redirect) that controls every byte.
package func loopbackExchange(port: UInt16, _ request: [UInt8]) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var address = loopbackAddress(port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(connected == 0)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    return String(decoding: readUntilClosed(fd, deadline: nil), as: UTF8.self)
}

/// `loopbackExchange` that gives up at `timeout` seconds (connecting included), as a client
/// with a connect/read timeout does: what arrived by then, and how long it took. A server that
/// cannot take the connection makes it a timeout, not a hang.
package func timedLoopbackExchange(port: UInt16, _ request: String, timeout: Double) -> (answer: String, seconds: Double) {
    let start = ProcessInfo.processInfo.systemUptime
    let deadline = start + timeout
    guard let fd = loopbackConnect(port: port, deadline: deadline) else {
        return ("", ProcessInfo.processInfo.systemUptime - start)
    }
    defer { close(fd) }
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    let answer = readUntilClosed(fd, deadline: deadline)
    return (String(decoding: answer, as: UTF8.self), ProcessInfo.processInfo.systemUptime - start)
}

/// Connections to `127.0.0.1:port` that each send `greeting` once connected and then say nothing:
/// the slow clients of a starvation attack. Connecting does not wait on the server (a server that
/// takes one connection at a time leaves most in the kernel's queue); `wait` gives up at its
/// timeout and leaves the rest connecting.
package final class SlowClients {
    package private(set) var descriptors: [Int32] = []
    /// When each connection was opened (`systemUptime`), by index.
    package private(set) var opened: [Double] = []

    package init(port: UInt16, count: Int, greeting: [UInt8] = [UInt8(ascii: "G")], wait: Double = 1) {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var address = loopbackAddress(port)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            descriptors.append(fd)
            opened.append(ProcessInfo.processInfo.systemUptime)
        }
        // Each sends its greeting as soon as it is connected.
        var waiting = Set(descriptors.indices)
        let deadline = ProcessInfo.processInfo.systemUptime + wait
        while !waiting.isEmpty, ProcessInfo.processInfo.systemUptime < deadline {
            var fds = waiting.map { pollfd(fd: descriptors[$0], events: Int16(POLLOUT), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                if entry.revents & Int16(POLLOUT) != 0 && !greeting.isEmpty {
                    _ = greeting.withUnsafeBytes { send(entry.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                if let index = descriptors.firstIndex(of: entry.fd) { waiting.remove(index) }
            }
        }
    }

    /// What each connection has received from the server so far, by index.
    package private(set) var received: [[UInt8]] = []
    /// When the server closed each connection (`systemUptime`; end of stream or reset), by index.
    package private(set) var closedAt: [Double?] = []

    /// Reads what the server sends until every connection is closed or `seconds` have passed
    /// (0: only what is there now), noting when each is closed.
    package func collect(for seconds: Double) {
        if received.count < descriptors.count {
            received = Array(repeating: [], count: descriptors.count)
            closedAt = Array(repeating: nil, count: descriptors.count)
        }
        let deadline = ProcessInfo.processInfo.systemUptime + seconds
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let open = descriptors.indices.filter { closedAt[$0] == nil }
            guard !open.isEmpty else { return }
            var fds = open.map { pollfd(fd: descriptors[$0], events: Int16(POLLIN), revents: 0) }
            let left = max(0, deadline - ProcessInfo.processInfo.systemUptime)
            guard poll(&fds, nfds_t(fds.count), Int32(left * 1000)) > 0 else { return }
            for (slot, index) in open.enumerated() where fds[slot].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { recv(descriptors[index], $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if count > 0 {
                    received[index] += buffer[0..<count]
                } else if count == 0 || errno != EAGAIN {
                    closedAt[index] = ProcessInfo.processInfo.systemUptime
                }
            }
        }
    }

    /// What connection `index` received, as text.
    package func answer(_ index: Int) -> String {
        index < received.count ? String(decoding: received[index], as: UTF8.self) : ""
    }

    /// How many the server has closed, as far as `collect` has seen.
    package var closedCount: Int { closedAt.filter { $0 != nil }.count }

    /// Closes every connection from this side.
    package func closeAll() {
        for fd in descriptors { close(fd) }
        descriptors = []
    }

    deinit { closeAll() }
}

private func loopbackAddress(_ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A blocking socket connected to `127.0.0.1:port`, or nil when it did not connect by `deadline`.
private func loopbackConnect(port: UInt16, deadline: Double) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    var address = loopbackAddress(port)
    let started = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if started != 0 {
        var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let left = deadline - ProcessInfo.processInfo.systemUptime
        guard errno == EINPROGRESS, left > 0, poll(&ready, 1, Int32(left * 1000) + 1) > 0,
              getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0
        else {
            close(fd)
            return nil
        }
    }
    _ = fcntl(fd, F_SETFL, flags)
    return fd
}

/// Reads until the peer closes, or until `deadline` (`systemUptime`) passes.
private func readUntilClosed(_ fd: Int32, deadline: Double?) -> [UInt8] {
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        if let deadline {
            let left = deadline - ProcessInfo.processInfo.systemUptime
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&ready, 1, Int32(left * 1000) + 1) > 0 else { break }
        }
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        received += buffer[0..<count]
    }
    return received
}
