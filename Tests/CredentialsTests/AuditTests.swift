import Foundation
import Testing
@testable import Credentials
@testable import CredentialCache
import TestSupport

/// The audit record (hand-written JSON: escaped, bounded, never a secret), the caller read from
/// `/proc`, the socket owner found from `/proc/net/tcp`, and `stscache log`'s reading and filters.
@Suite("audit log")
struct AuditTests {
    let time = Date(timeIntervalSince1970: 1_900_000_000)

    func record(caller: AuditRecord.Caller, profile: String = "prod", scope: String? = nil) -> AuditRecord {
        AuditRecord(time: time, command: .credentialProcess, profile: profile,
                    roleArn: "arn:aws:iam::123456789012:role/Admin", sessionName: "stscache-alice",
                    accessKeyId: "ASIAEXAMPLEKEY000001", expiration: time.addingTimeInterval(3600), origin: .cache,
                    caller: caller, scope: scope)
    }

    func decode(_ line: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }

    @Test("a record is one line of JSON with every field, read back by `log`")
    func encoding() throws {
        let caller = AuditCaller(pid: 42, executable: "/usr/bin/python3.11", arguments: ["python3", "/venv/bin/aws", "s3", "ls"],
                                 argumentCount: 4, cwd: "/home/alice")
        let line = record(caller: .process(caller)).line()
        #expect(line.last == UInt8(ascii: "\n") && line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let object = try decode(line)
        #expect(object["v"] as? Int == 1)
        #expect(object["time"] as? String == "2030-03-17T17:46:40Z")
        #expect(object["command"] as? String == "credential-process")
        #expect(object["accessKeyId"] as? String == "ASIAEXAMPLEKEY000001")
        #expect(object["expiration"] as? String == "2030-03-17T18:46:40Z")
        #expect(object["origin"] as? String == "cache")
        #expect(object["scope"] == nil, "no scope unless one is set")
        let inner = try #require(object["caller"] as? [String: Any])
        #expect(inner["pid"] as? Int == 42 && inner["exe"] as? String == "/usr/bin/python3.11")
        #expect(inner["args"] as? [String] == ["python3", "/venv/bin/aws", "s3", "ls"] && inner["argc"] as? Int == 4)
        let (entries, skipped) = AuditEntry.parse(line)
        #expect(skipped == 0 && entries.first?.accessKeyId == "ASIAEXAMPLEKEY000001")
        #expect(entries.first?.callerText == "pid 42 /usr/bin/python3.11 /venv/bin/aws s3 ls (in /home/alice)")
        // The reserved field round-trips when set.
        let scoped = AuditEntry.parse(record(caller: .unknown("x"), scope: "arn:aws:iam::aws:policy/ReadOnlyAccess").line())
        #expect(scoped.entries.first?.scope == "arn:aws:iam::aws:policy/ReadOnlyAccess")
    }

    @Test("quotes, backslashes, controls and bidi overrides are escaped; the line stays one line")
    func escaping() throws {
        let hostile = "a\"b\\c\nd\re\u{1B}[31m\u{202E}f\u{7F}\u{85}"
        let caller = AuditCaller(pid: 1, executable: hostile, arguments: [hostile], argumentCount: 1, cwd: hostile)
        let line = record(caller: .process(caller), profile: hostile).line()
        #expect(!line.dropLast().contains(where: { $0 < 0x20 || $0 == 0x7F }))
        let text = String(decoding: line, as: UTF8.self)
        #expect(!text.contains("\u{202E}") && !text.contains("\u{85}") && text.contains("\\u202e"))
        let object = try decode(line)
        #expect(object["profile"] as? String == hostile, "escaped, not altered")
        #expect((object["caller"] as? [String: Any])?["args"] as? [String] == [hostile])
    }

    @Test("every field is bounded: a record never exceeds PIPE_BUF, however long the caller's words")
    func bounded() throws {
        let long = String(repeating: "\u{1}", count: 5000)
        let caller = AuditCaller(pid: 1, executable: long, arguments: Array(repeating: long, count: 8),
                                 argumentCount: 100_000, cwd: long)
        let line = record(caller: .process(caller), profile: long, scope: long).line()
        #expect(line.count <= AuditLogFile.lineLimit)
        let object = try decode(line)
        #expect((object["caller"] as? [String: Any])?["argc"] as? Int == 100_000)
        #expect(AuditRecord.string(String(repeating: "é", count: 100), limit: 11) == "\"ééééé…\"")
    }

    @Test("the command line: at most 8 arguments of 160 bytes, counted; secret-looking values blanked")
    func commandLine() {
        var bytes: [UInt8] = []
        for word in ["aws", "--secret-access-key", "wJalrXUtnFEMI", "AWS_SESSION_TOKEN=FwoGZX", "--password=hunter2",
                     String(repeating: "x", count: 300), "a", "b", "c", "d"] {
            bytes += Array(word.utf8) + [0]
        }
        let (arguments, count) = AuditCaller.parseCommandLine(bytes)
        #expect(count == 10)
        #expect(arguments.count == 8)
        #expect(arguments[0] == "aws" && arguments[1] == "--secret-access-key" && arguments[2] == "<redacted>")
        #expect(arguments[3] == "AWS_SESSION_TOKEN=<redacted>" && arguments[4] == "--password=<redacted>")
        #expect(arguments[5] == String(repeating: "x", count: 160) + "…")
        #expect(!arguments.joined().contains("wJalr") && !arguments.joined().contains("hunter2")
                && !arguments.joined().contains("FwoGZX"))
        #expect(AuditCaller.parseCommandLine([]).count == 0)
    }

    @Test("the parent as /proc shows it: this test process's own entry")
    func processFromProc() throws {
        let me = try #require(AuditCaller.process(getpid()))
        #expect(me.executable == (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
        #expect(me.cwd == FileManager.default.currentDirectoryPath)
        #expect(me.argumentCount == CommandLine.arguments.count)
        #expect(AuditCaller.process(0) == nil && AuditCaller.process(Int32.max) == nil)
    }

    @Test("/proc/net/tcp and tcp6 lines: the client socket (local port, remote = the endpoint) and its inode")
    func socketTable() {
        let tcp = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1111 1 0 100 0 0 10 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 2222 1 0 20 4 30 10 -1
               2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 3333 1 0 20 4 30 10 -1
               3: 0A00000A:C351 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0 20 4 30 10 -1
            """
        let bytes = Array(tcp.utf8)
        // The client at 127.0.0.1:50000 (0xC350) connected to the endpoint on 8080 (0x1F90).
        #expect(SocketOwner.inode(in: bytes, localPort: 50000, remotePort: 8080)?.inode == 3333)
        #expect(SocketOwner.inode(in: bytes, localPort: 50000, remotePort: 8080)?.uid == 1000)
        #expect(SocketOwner.inode(in: bytes, localPort: 50001, remotePort: 8080) == nil, "not from a loopback address")
        #expect(SocketOwner.inode(in: bytes, localPort: 8080, remotePort: 50000)?.inode == 2222, "the server's own side")
        let tcp6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0000000000000000FFFF00000100007F:C350 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 5555 1 0 20 4 30 10 -1
            """
        #expect(SocketOwner.inode(in: Array(tcp6.utf8), localPort: 50000, remotePort: 8080)?.inode == 5555)
        #expect(SocketOwner.inode(in: Array("garbage\n: : : \n".utf8), localPort: 1, remotePort: 2) == nil)
    }

    @Test("a real loopback connection: its owner is found through /proc (this process, so not found: it is skipped)")
    func realSocketOwner() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(listener, $0, length) == 0 && listen(listener, 1) == 0
                             && getsockname(listener, $0, &length) == 0)
            }
        }
        let serverPort = UInt16(bigEndian: address.sin_port)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0)
            }
        }
        var mine = sockaddr_in()
        var mineLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &mine) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &mineLength) } }
        let clientPort = UInt16(bigEndian: mine.sin_port)
        let table = try #require(AuditCaller.readBounded("/proc/net/tcp", limit: 1 << 22))
        let found = try #require(SocketOwner.inode(in: table, localPort: clientPort, remotePort: serverPort))
        #expect(found.uid == UInt32(geteuid()))
        // The holder search skips the process that asks (the endpoint never records itself).
        #expect(SocketOwner.find(clientPort: clientPort, serverPort: serverPort) == .unknown("socket owner not found"))
        #expect(SocketOwner.find(clientPort: 1, serverPort: 2) == .unknown("no such connection in /proc/net/tcp"))
    }

    @Test("log reading skips what is not a record; the filters each narrow it")
    func readingAndFilters() throws {
        let python = AuditCaller(pid: 7, executable: "/usr/bin/python3.11", arguments: ["python3", "/v/bin/aws", "s3", "ls"],
                                 argumentCount: 4, cwd: "/w")
        var older = record(caller: .process(python))
        older.time = time.addingTimeInterval(-7200)
        older.accessKeyId = "ASIAOLDER00000000001"
        var other = record(caller: .unknown("socket owner not found"), profile: "dev")
        other.command = .endpoint
        let newer = record(caller: .process(python))
        var bytes = older.line() + Array("not json\n{\"v\":2,\"time\":\"x\"}\n{\"v\":1}\n".utf8) + other.line()
        bytes += Array(String(repeating: "{", count: 20000).utf8) + [10] + newer.line()
        let (entries, skipped) = AuditEntry.parse(bytes)
        #expect(entries.count == 3 && skipped == 4)
        func keys(_ query: AuditQuery) -> [String] { entries.filter(query.matches).map(\.accessKeyId) }
        #expect(keys(AuditQuery(keyId: "asiaolder00000000001 ")) == ["ASIAOLDER00000000001"], "case and blanks forgiven")
        #expect(keys(AuditQuery(profile: "dev")).count == 1)
        #expect(keys(AuditQuery(caller: "aws")).count == 2)
        #expect(keys(AuditQuery(caller: "python3.11")).count == 2)
        #expect(keys(AuditQuery(caller: "curl")).isEmpty)
        #expect(keys(AuditQuery(since: time.addingTimeInterval(-3600))).count == 2)
        #expect(try AuditQuery.since("2h", now: time) == time.addingTimeInterval(-7200))
        #expect(try AuditQuery.since("3d", now: time) == time.addingTimeInterval(-3 * 86400))
        #expect(try AuditQuery.since("2030-03-17T17:00:00Z", now: time) == Date(timeIntervalSince1970: 1_899_997_200))
        #expect(throws: UsageError.self) { try AuditQuery.since("yesterday", now: time) }
        // `--json` re-escapes what it prints.
        var hostile = newer
        hostile.profile = "p\u{1B}]0;owned\u{7}"
        let json = try #require(AuditEntry.parse(hostile.line()).entries.first).json
        #expect(!json.contains("\u{1B}") && !json.contains("\u{7}"))
    }

    @Test("STSCACHE_AUDIT: on by default, off turns it off, anything else is an error naming it")
    func setting() throws {
        #expect(try AuditLog.isEnabled(environment: [:]))
        #expect(try AuditLog.isEnabled(environment: ["STSCACHE_AUDIT": "on"]))
        #expect(try !AuditLog.isEnabled(environment: ["STSCACHE_AUDIT": "off"]))
        #expect(throws: UsageError.self) { try AuditLog.isEnabled(environment: ["STSCACHE_AUDIT": "maybe"]) }
    }
}
