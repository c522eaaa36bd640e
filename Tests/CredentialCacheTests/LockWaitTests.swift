import Foundation
import Testing
@testable import CredentialCache
import TestSupport

/// The single-flight wait: processes that find the lock held are answered from the entry the
/// holder writes, as soon as it lands, without queueing for the lock.
@Suite("Waiting for a refresh", .permissiveTemporaryDirectory)
struct LockWaitTests {
    let temp = TemporaryDirectory.current
    let cache: CredentialCache

    init() throws {
        cache = try temporaryCache()
    }

    @Test("a waiter is answered from the new entry while the holder still holds the lock")
    func answeredWhileHolderHoldsTheLock() throws {
        let release = DispatchSemaphore(value: 0)
        let cache = self.cache
        let key = randomKey()
        holdEntryLock(prodKey, in: cache) {
            Thread.sleep(forTimeInterval: 0.1)
            try? cache.write(sampleCredentials(), for: prodKey, issuedAt: Date(timeIntervalSince1970: 1_899_996_400),
                             encryptionKey: key)
            _ = release.wait(timeout: .now() + 120)
        }
        defer { release.signal() }
        let start = Date()
        var checks = 0
        // The holder never lets go during the wait, so the answer can only come from the entry;
        // the waiter's timeout is far beyond the bound below (a waiter that only looks again at
        // its timeout would answer after 60 s).
        let answer = try cache.withEntryLock(prodKey, timeout: 60, whileWaiting: { () -> String? in
            checks += 1
            guard case .hit(let credentials, _) = cache.read(prodKey, encryptionKey: key) else { return nil }
            return credentials.accessKeyId
        }) {
            Issue.record("the body ran: the waiter took the lock the holder never released")
            return "body"
        }
        let waited = Date().timeIntervalSince(start)
        #expect(answer == sampleCredentials().accessKeyId)
        #expect(checks >= 2, "checked once before the entry existed, then after it landed")
        #expect(waited < 20, "answered after \(waited) s")
    }

    @Test("without an answer the waiter still takes the lock once it is released")
    func fallsBackToTheLock() throws {
        holdEntryLock(prodKey, in: cache) { Thread.sleep(forTimeInterval: 0.3) }
        let value = try cache.withEntryLock(prodKey, timeout: 5, whileWaiting: { () -> Int? in nil }) { 7 }
        #expect(value == 7)
    }

    @Test("an uncontended lock never asks whileWaiting")
    func uncontended() throws {
        let value = try cache.withEntryLock(prodKey, timeout: 1, whileWaiting: { () -> Int? in
            Issue.record("asked while nobody held the lock")
            return 1
        }) { 2 }
        #expect(value == 2)
    }

    #if os(Linux)
    @Test("inotify wakes a waiter when a file is renamed into the directory, long before its timeout")
    func renameWakesTheWaiter() throws {
        let directory = temp.sub("cache")
        let changes = try #require(DirectoryChanges(watching: directory))
        defer { changes.close() }
        let renamer = Thread {
            Thread.sleep(forTimeInterval: 0.1)
            _ = FileManager.default.createFile(atPath: directory + "/.incoming", contents: Data([1]))
            _ = rename(directory + "/.incoming", directory + "/landed")
        }
        let start = Date()
        renamer.start()
        changes.wait(seconds: 60)
        let waited = Date().timeIntervalSince(start)
        // Not woken, it would return at its 60 s timeout.
        #expect(waited >= 0.05 && waited < 20, "woke after \(waited) s")
    }
    #endif
}
