import Foundation
import Testing
@testable import CredentialCache
import TestSupport

@Suite("Entry locks", .permissiveTemporaryDirectory)
struct EntryLockTests {
    let cache: CredentialCache

    init() throws {
        cache = try temporaryCache()
    }

    @Test("a second locker waits for the first, then runs")
    func secondLockerWaits() throws {
        // The holder marks its release just before it lets go: the second locker's body must see
        // the mark (it ran after the release, whatever the machine's load), and it must not have
        // waited out its own timeout (a waiter that sleeps its whole timeout, or never wakes).
        let released = Locked(false)
        holdEntryLock(prodKey, in: cache) {
            Thread.sleep(forTimeInterval: 0.4)
            released.value = true
        }
        let start = Date()
        let ranAfterRelease = try cache.withEntryLock(prodKey, timeout: 60) { released.value }
        let waited = Date().timeIntervalSince(start)
        #expect(ranAfterRelease, "the second locker ran while the first still held the lock")
        #expect(waited < 20, "took the lock \(waited) s after asking, with the holder gone after 0.4 s")
    }

    @Test("the stem-named lock is the same lock as the key's (purge and refresh exclude each other)")
    func stemLockIsTheKeyLock() throws {
        try cache.withEntryLock(prodKey, timeout: 1) {
            let error = expectCacheError("cache.lock-timeout") {
                try cache.withEntryLock(stem: prodKey.stem, roleArn: prodKey.roleArn, timeout: 0.2) { () -> Void in
                    Issue.record("ran while the key's lock was held")
                }
            }
            #expect(error?.message.contains(prodKey.roleArn) == true)
        }
        #expect(throws: CacheError.self) {
            try cache.withEntryLock(stem: "../escape", roleArn: "x", timeout: 0.1) {}
        }
    }

    @Test("different entries do not block each other")
    func independentEntries() throws {
        // Taken on the same thread while prod's is held: if they were one lock, this would end in
        // cache.lock-timeout (flock does not nest across two opens), however fast the machine.
        try cache.withEntryLock(prodKey, timeout: 1) {
            try cache.withEntryLock(devKey, timeout: 1) {}
        }
    }

    @Test("waiting past the timeout ends in an error naming the role and the lock file")
    func timesOut() throws {
        try cache.withEntryLock(prodKey, timeout: 1) {
            let start = Date()
            let error = expectCacheError("cache.lock-timeout") {
                try cache.withEntryLock(prodKey, timeout: 0.3) { () -> Void in Issue.record("ran without the lock") }
            }
            let waited = Date().timeIntervalSince(start)
            // Not before the timeout; after it, only as late as a loaded machine makes it (a
            // waiter that ignored its timeout would hang, one that read it as minutes 18 s).
            #expect(waited >= 0.3 && waited < 15, "waited \(waited) s")
            #expect(error?.message.contains(prodKey.roleArn) == true)
            #expect(error?.message.contains(cache.lockPath(for: prodKey)) == true)
            #expect(error?.message.contains("another stscache process") == true)
        }
    }

    @Test("the body's error propagates and the lock is released")
    func releasesOnError() throws {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try cache.withEntryLock(prodKey, timeout: 1) { throw Boom() } }
        try cache.withEntryLock(prodKey, timeout: 0.2) {}
    }

    @Test("another process's lock blocks us; SIGKILL on the holder releases it")
    func holderKilled() throws {
        try cache.withEntryLock(prodKey, timeout: 1) {}
        let lockPath = cache.lockPath(for: prodKey)
        // sh opens the lock file on fd 9, flock(1) locks that open file, and exec leaves `sleep`
        // as the only holder: killing that one pid must free the lock.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>\"$1\" && flock -x 9 && echo locked && exec sleep 60", "sh", lockPath]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let line = String(decoding: out.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
        try #require(line == "locked\n", "holder said \(line.debugDescription)")

        expectCacheError("cache.lock-timeout") { try cache.withEntryLock(prodKey, timeout: 0.3) {} }

        #expect(kill(holder.processIdentifier, SIGKILL) == 0)
        holder.waitUntilExit()
        #expect(holder.terminationReason == .uncaughtSignal)
        // A lock the dead holder kept would end this in cache.lock-timeout.
        try cache.withEntryLock(prodKey, timeout: 5) {}
    }
}

extension FileHandle {
    /// Reads until a newline or end of file.
    func availableDataUntilNewline() -> Data {
        var data = Data()
        while true {
            let byte = readData(ofLength: 1)
            if byte.isEmpty { return data }
            data.append(byte)
            if byte == Data([0x0a]) { return data }
        }
    }
}
