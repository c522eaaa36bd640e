import Foundation
import Testing
@testable import CredentialCache
import TestSupport

/// What the caching agent relies on in the cache: only reads that hand credentials out report
/// `IN_ACCESS` (the agent's signal that a session is in use), its state file round-trips
/// atomically, and its lock says whether an agent runs.
@Suite("agent files", .permissiveTemporaryDirectory)
struct AgentFilesTests {
    let temp = TemporaryDirectory.current
    let cache: CredentialCache
    let key = randomKey()

    init() throws {
        cache = try temporaryCache()
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
    }

    /// The `IN_ACCESS` events `body` causes on the cache directory's files, by name (listing the
    /// directory itself reports one without a name, which the agent ignores).
    func accesses(_ body: () -> Void) throws -> [String] {
        let watcher = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(watcher >= 0)
        defer { close(watcher) }
        try #require(inotify_add_watch(watcher, cache.directory.path, UInt32(IN_ACCESS)) >= 0)
        body()
        var names: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(watcher, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            var offset = 0
            while offset < count {
                let length = buffer.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self).len) }
                let start = offset + MemoryLayout<inotify_event>.size
                let name = String(decoding: buffer[start..<(start + length)].prefix { $0 != 0 }, as: UTF8.self)
                if !name.isEmpty { names.append(name) }
                offset = start + length
            }
        }
        return names
    }

    @Test("reading credentials reports an access; header readers (prompt, list, the agent) do not")
    func onlyCredentialReadsCount() throws {
        #expect(try accesses { _ = cache.read(prodKey, encryptionKey: key) } == [prodKey.entryFileName],
                "control: a hit is seen")
        #expect(try accesses {
            _ = cache.readHeader(prodKey)
            if let listing = try? cache.list().first { _ = cache.verify(listing, encryptionKey: key) }
        }.isEmpty)
        #expect(cache.readHeader(prodKey)?.roleArn == prodKey.roleArn, "the mapped read still reads the header")
        #expect(try cache.list().first.map { cache.verify($0, encryptionKey: key).verified } == true)
    }

    @Test("the state file round-trips, mode 0600, replacing the old one whole")
    func stateFile() throws {
        #expect(cache.readAgentState() == nil)
        try cache.writeAgentState(Array("first".utf8))
        try cache.writeAgentState(Array("{\"second\":true}".utf8))
        #expect(cache.readAgentState() == Array("{\"second\":true}".utf8))
        #expect(modeOf(cache.directory.path + "/" + CredentialCache.agentStateName) & 0o777 == 0o600)
        #expect(try cache.list().count == 1, "list sees entries only")
    }

    @Test("a symlink planted as the state file is not followed")
    func stateSymlink() throws {
        let target = temp.sub("elsewhere")
        writeBytes(target, Array("secret-looking".utf8))
        try #require(symlink(target, cache.directory.path + "/" + CredentialCache.agentStateName) == 0)
        #expect(cache.readAgentState() == nil)
    }

    @Test("the lock: one holder; released when the holder closes it (as when it dies)")
    func lock() throws {
        #expect(!cache.agentIsRunning())
        guard case .acquired(let fd) = try cache.lockAgent() else {
            Issue.record("the first lock must succeed")
            return
        }
        #expect(cache.agentIsRunning())
        if case .acquired(let second) = try cache.lockAgent() {
            close(second)
            Issue.record("a second agent got the lock")
        }
        close(fd)
        #expect(!cache.agentIsRunning())
    }
}
