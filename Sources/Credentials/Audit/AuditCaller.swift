#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

/// Which local process got credentials, as `/proc` tells it at the moment of the hand-out: for
/// `credential-process` the parent (the SDK or tool that ran us), for the endpoint the process
/// holding the connecting socket. What it proves and what it cannot (a process can fake its
/// arguments, a pid can be reused, `/proc` can change under us): docs/SECURITY.md.
///
/// Everything read here comes from other processes: it is bounded (`Limits`), arguments that
/// look like they carry a secret are blanked (`redacted`), and the record escapes every byte.
package struct AuditCaller: Equatable, Sendable {
    package var pid: Int32
    /// `/proc/PID/exe`'s target; nil when it could not be read (the process is gone, or not ours).
    package var executable: String?
    /// The first `Limits.arguments` arguments (`argv[0]` first), each cut to `Limits.argumentBytes`.
    package var arguments: [String]
    /// How many arguments the process has (counted within `Limits.commandLineBytes`).
    package var argumentCount: Int
    package var cwd: String?

    package init(pid: Int32, executable: String?, arguments: [String], argumentCount: Int, cwd: String?) {
        (self.pid, self.executable, self.arguments, self.argumentCount, self.cwd) = (pid, executable, arguments, argumentCount, cwd)
    }

    /// How much of another process is recorded. A record must stay under `AuditLogFile.lineLimit`
    /// after escaping (which can grow a byte to six), so the escaped fields are cut again there.
    package enum Limits {
        package static let arguments = 8
        package static let argumentBytes = 160
        /// Read of `/proc/PID/cmdline`: more is neither read nor counted.
        package static let commandLineBytes = 16 * 1024
        package static let pathBytes = 512
    }

    /// The process `pid` as `/proc` shows it now, or nil when it is not there.
    package static func process(_ pid: Int32, proc: String = "/proc") -> AuditCaller? {
        guard pid > 0 else { return nil }
        let base = proc + "/" + String(pid)
        let commandLine = readBounded(base + "/cmdline", limit: Limits.commandLineBytes)
        let executable = readLink(base + "/exe")
        guard commandLine != nil || executable != nil else { return nil }
        let (arguments, count) = parseCommandLine(commandLine ?? [])
        return AuditCaller(pid: pid, executable: executable, arguments: arguments, argumentCount: count,
                           cwd: readLink(base + "/cwd"))
    }

    /// The NUL-separated `cmdline` as recorded: the first `Limits.arguments`, each bounded and
    /// redacted, and how many there were. Scanned by index (this runs on every cache hit).
    package static func parseCommandLine(_ bytes: [UInt8]) -> (arguments: [String], count: Int) {
        guard !bytes.isEmpty else { return ([], 0) }
        var kept: [String] = []
        var count = 0
        var hideNext = false
        var start = 0
        var index = 0
        let end = bytes.count
        while index <= end {
            guard index == end || bytes[index] == 0 else {
                index += 1
                continue
            }
            // A final NUL ends the last word; it does not start an empty one.
            if index == end && start == end && bytes[end - 1] == 0 { break }
            count += 1
            if kept.count < Limits.arguments {
                let word = bytes[start..<index]
                if hideNext {
                    kept.append(redactedMark)
                    hideNext = false
                } else if let cut = redacted(word) {
                    kept.append(cut.text)
                    hideNext = cut.hideNext
                } else {
                    var text = String(decoding: word.prefix(Limits.argumentBytes), as: UTF8.self)
                    if word.count > Limits.argumentBytes { text += "…" }
                    kept.append(text)
                }
            }
            index += 1
            start = index
        }
        return (kept, count)
    }

    static let redactedMark = "<redacted>"

    /// An argument that names a secret: `--secret-key=X` or `TOKEN=X` keep the name and lose the
    /// value; `--password` alone hides the next argument. Nil when nothing is hidden. A guard
    /// against the obvious, not a promise: arguments can hold anything (docs/audit.md).
    static func redacted(_ word: ArraySlice<UInt8>) -> (text: String, hideNext: Bool)? {
        let equals = word.firstIndex(of: UInt8(ascii: "="))
        let isOption = word.first == UInt8(ascii: "-")
        guard equals != nil || isOption else { return nil }
        let name = word[word.startIndex..<(equals ?? word.endIndex)]
        guard containsSensitiveName(name) else { return nil }
        if let equals {
            return (String(decoding: word[...equals].prefix(Limits.argumentBytes), as: UTF8.self) + redactedMark, false)
        }
        return (String(decoding: word.prefix(Limits.argumentBytes), as: UTF8.self), true)
    }

    private static let sensitiveNames: [StaticString] = ["secret", "password", "passwd", "token", "credential"]

    /// Whether `name` holds one of `sensitiveNames`, ASCII case-insensitively (first 64 bytes).
    private static func containsSensitiveName(_ name: ArraySlice<UInt8>) -> Bool {
        let name = name.prefix(64)
        for sensitive in sensitiveNames {
            let found = sensitive.withUTF8Buffer { needle -> Bool in
                guard name.count >= needle.count else { return false }
                var start = name.startIndex
                while start + needle.count <= name.endIndex {
                    var offset = 0
                    while offset < needle.count {
                        var byte = name[start + offset]
                        if byte >= 65 && byte <= 90 { byte += 32 }
                        if byte != needle[offset] { break }
                        offset += 1
                    }
                    if offset == needle.count { return true }
                    start += 1
                }
                return false
            }
            if found { return true }
        }
        return false
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Limits.pathBytes + 1)
        let count = readlink(path, &buffer, Limits.pathBytes + 1)
        guard count > 0 else { return nil }
        let bytes = buffer.prefix(min(count, Limits.pathBytes)).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self) + (count > Limits.pathBytes ? "…" : "")
    }

    static func readBounded(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard case .success(let bytes) = BoundedRead.toEnd(fd, limit: limit + 1) else { return nil }
        return Array(bytes.prefix(limit))
    }
}

/// The process at the other end of a loopback TCP connection to the endpoint: the socket's
/// inode from `/proc/net/tcp` (or `tcp6`), then the process holding it, from `/proc/*/fd`. The
/// work is bounded (`maximumProcesses`, `maximumDescriptors`); when it runs out, or the socket
/// belongs to another user, the caller is unknown.
package enum SocketOwner {
    package static let maximumProcesses = 4096
    package static let maximumDescriptors = 65536
    static let tableLimit = 4 << 20

    package enum Lookup: Equatable {
        case process(AuditCaller)
        case unknown(String)
    }

    /// The process whose socket is `127.0.0.1:clientPort` connected to `serverPort`.
    package static func find(clientPort: UInt16, serverPort: UInt16, proc: String = "/proc") -> Lookup {
        var socket: (inode: UInt64, uid: UInt32)?
        for table in ["net/tcp", "net/tcp6"] {
            guard let bytes = AuditCaller.readBounded(proc + "/" + table, limit: tableLimit) else { continue }
            if let found = inode(in: bytes, localPort: clientPort, remotePort: serverPort) {
                socket = found
                break
            }
        }
        guard let socket else { return .unknown("no such connection in /proc/net/tcp") }
        guard socket.uid == FileSystem.currentUID else { return .unknown("a process of uid \(socket.uid)") }
        guard let pid = holder(of: socket.inode, proc: proc) else { return .unknown("socket owner not found") }
        return AuditCaller.process(pid, proc: proc).map(Lookup.process) ?? .unknown("process \(pid) is gone")
    }

    /// The inode and uid of the loopback socket on `localPort` whose peer is `remotePort`, from
    /// the text of `/proc/net/tcp` or `tcp6` (header line first, then `sl local rem st ... uid
    /// timeout inode`, addresses as hex `ADDR:PORT`).
    package static func inode(in table: [UInt8], localPort: UInt16, remotePort: UInt16) -> (inode: UInt64, uid: UInt32)? {
        for line in table.split(separator: UInt8(ascii: "\n")).dropFirst() {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count >= 10,
                  let local = endpoint(fields[1]), let remote = endpoint(fields[2]),
                  local.port == localPort, remote.port == remotePort, isLoopback(local.address), isLoopback(remote.address),
                  let uid = UInt32(String(decoding: fields[7], as: UTF8.self)),
                  let inode = UInt64(String(decoding: fields[9], as: UTF8.self)), inode != 0
            else { continue }
            return (inode, uid)
        }
        return nil
    }

    private static func endpoint(_ field: ArraySlice<UInt8>) -> (address: String, port: UInt16)? {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let address = String(decoding: field[..<colon], as: UTF8.self)
        guard address.utf8.count == 8 || address.utf8.count == 32,
              let port = UInt16(String(decoding: field[(colon + 1)...], as: UTF8.self), radix: 16) else { return nil }
        return (address.uppercased(), port)
    }

    /// 127.0.0.0/8 as the kernel prints it (host byte order on little-endian machines: the first
    /// octet last), IPv4-mapped in `tcp6`, and `::1`.
    private static func isLoopback(_ address: String) -> Bool {
        let v4 = address.utf8.count == 32 ? String(address.suffix(8)) : address
        if address.utf8.count == 32 && !address.hasPrefix("0000000000000000FFFF0000") {
            return address == "00000000000000000000000001000000"
        }
        #if _endian(little)
        return v4.hasSuffix("7F")
        #else
        return v4.hasPrefix("7F")
        #endif
    }

    /// The first process with a descriptor on `socket:[inode]`, within the bounds.
    static func holder(of inode: UInt64, proc: String) -> Int32? {
        guard let directory = opendir(proc) else { return nil }
        defer { closedir(directory) }
        let target = "socket:[\(inode)]"
        var processes = 0
        var descriptors = 0
        var link = [CChar](repeating: 0, count: 64)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), pid > 0 else { continue }
            processes += 1
            if processes > maximumProcesses { return nil }
            let fdPath = proc + "/" + name + "/fd"
            guard let fds = opendir(fdPath) else { continue }
            defer { closedir(fds) }
            while let fdEntry = readdir(fds) {
                let fdName = withUnsafeBytes(of: fdEntry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard Int32(fdName) != nil else { continue }
                descriptors += 1
                if descriptors > maximumDescriptors { return nil }
                let count = readlink(fdPath + "/" + fdName, &link, link.count - 1)
                guard count > 0, count < link.count else { continue }
                let text = String(decoding: link.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if text == target && pid != getpid() { return pid }
            }
        }
        return nil
    }
}
