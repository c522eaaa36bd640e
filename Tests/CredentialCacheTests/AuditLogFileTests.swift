import Foundation
import Testing
@testable import CredentialCache
import TestSupport

/// The audit log's file: appended with single `O_APPEND` writes (lines from concurrent writers
/// never interleave), capped with one rotation, 0600, and never used when it is not a private
/// regular file of ours.
@Suite("audit log file", .permissiveTemporaryDirectory)
struct AuditLogFileTests {
    let cache: CredentialCache

    init() throws {
        cache = try temporaryCache()
    }

    var logPath: String { cache.directory.path + "/" + CredentialCache.auditLogName }
    var rotatedPath: String { cache.directory.path + "/" + CredentialCache.rotatedAuditLogName }

    func line(_ n: Int, size: Int = 100) -> [UInt8] {
        let prefix = "{\"n\":\(n),\"pad\":\""
        return Array((prefix + String(repeating: "x", count: max(0, size - prefix.count - 3)) + "\"}\n").utf8)
    }

    /// The suite runs under umask 000 (`permissiveUmask`): the mode is the code's.
    @Test("appends whole lines to a 0600 file it creates, whatever the umask")
    func createsPrivateFile() throws {
        #expect(cache.appendAuditLine(line(1)) == nil)
        #expect(cache.appendAuditLine(line(2)) == nil)
        #expect(modeOf(logPath) & 0o777 == 0o600)
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(cache.readAuditLogs() == Array(text.utf8))
    }

    @Test("past the cap the file is rotated once: audit.log.1 replaced, audit.log started again")
    func rotation() throws {
        for n in 0..<10 { #expect(cache.appendAuditLine(line(n), limit: 350) == nil) }
        // 3 lines of 100 bytes fit in 350: lines 0-2, 3-5, 6-8 in turn, then 9.
        let current = try String(contentsOfFile: logPath, encoding: .utf8)
        let rotated = try String(contentsOfFile: rotatedPath, encoding: .utf8)
        #expect(current.hasPrefix("{\"n\":9,") && current.split(separator: "\n").count == 1)
        #expect(rotated.split(separator: "\n").map { $0.prefix(7) } == ["{\"n\":6,", "{\"n\":7,", "{\"n\":8,"])
        #expect(modeOf(rotatedPath) & 0o777 == 0o600)
        // Older generations are gone: at most two files, each under the cap.
        let names = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path).filter { $0.hasPrefix("audit") }
        #expect(Set(names) == [CredentialCache.auditLogName, CredentialCache.rotatedAuditLogName])
        #expect(cache.readAuditLogs().count == rotated.utf8.count + current.utf8.count, "both, older first")
    }

    @Test("a symlink, a file with group or other bits, someone's hard link or a FIFO is refused and left alone")
    func hostileFilesRefused() throws {
        let target = cache.directory.path + "/../elsewhere"
        writeBytes(target, Array("theirs\n".utf8))
        chmod(target, 0o600)
        try #require(symlink(target, logPath) == 0)
        guard case .refused(_, let reason) = cache.appendAuditLine(line(1)) else {
            Issue.record("a symlink was followed"); return
        }
        #expect(reason.contains("symbolic link"))
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "theirs\n")

        unlink(logPath)
        writeBytes(logPath, [])
        chmod(logPath, 0o644)
        #expect(cache.appendAuditLine(line(2)).map { "\($0)".contains("0644") } == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: logPath)).isEmpty)

        chmod(logPath, 0o600)
        try #require(link(logPath, target + "-link") == 0)
        #expect(cache.appendAuditLine(line(3)).map { "\($0)".contains("hard links") } == true)

        unlink(logPath)
        try #require(mkfifo(logPath, 0o600) == 0)
        #expect(cache.appendAuditLine(line(4)) != nil, "a FIFO is not written to (and nothing blocks)")
        #expect(cache.readAuditLogs().isEmpty, "and not read back")
    }

    @Test("lines from concurrent writers never interleave, across a rotation")
    func concurrentWriters() async throws {
        let writers = 8, perWriter = 200
        let limit = 64 * 1024
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    // Each writer its own descriptor on the directory, like separate processes.
                    guard let own = try? CredentialCache(directory: CacheDirectory.open(path: cache.directory.path, create: false))
                    else { return }
                    for n in 0..<perWriter {
                        let text = "{\"w\":\(writer),\"n\":\(n),\"pad\":\"" + String(repeating: "\(writer)", count: 900) + "\"}\n"
                        _ = own.appendAuditLine(Array(text.utf8), limit: limit)
                    }
                }
            }
        }
        let lines = cache.readAuditLogs().split(separator: UInt8(ascii: "\n"))
        #expect(lines.count > 0)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            let writer = try #require(object?["w"] as? Int)
            #expect((object?["pad"] as? String) == String(repeating: "\(writer)", count: 900), "a torn or mixed line")
        }
        // The current generation was written whole from its start: its lines are all there.
        let current = try Data(contentsOf: URL(fileURLWithPath: logPath))
        #expect(current.count <= limit)
        #expect(current.last == UInt8(ascii: "\n"))
    }
}
