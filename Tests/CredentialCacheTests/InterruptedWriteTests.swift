import Foundation
import Testing
@testable import CredentialCache
import TestSupport
import StscacheSupport

/// What a killed or interrupted writer leaves behind (issue 5): nothing that lasts.
@Suite("Interrupted writes", .permissiveTemporaryDirectory)
struct InterruptedWriteTests {
    let cache: CredentialCache
    let key = randomKey()

    init() throws {
        cache = try temporaryCache()
    }

    /// A temp file as a writer killed mid-write leaves it, last modified `age` seconds ago.
    func leftover(_ stem: String, age: Int) throws -> String {
        let name = "." + stem + "." + String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) + ".tmp"
        #expect(isTemporaryName(name), "\(name)")
        let path = cache.directory.pathOf(name)
        writeBytes(path, Array("half an entry".utf8))
        let then = Date().addingTimeInterval(-Double(age))
        try FileManager.default.setAttributes([.modificationDate: then], ofItemAtPath: path)
        return path
    }

    @Test("a write removes temp files abandoned over 10 minutes ago, and only those")
    func abandonedTemporariesRemoved() throws {
        let old = try leftover(devKey.stem, age: 3600)
        let oldOwnStem = try leftover(prodKey.stem, age: 601 + 60)
        let recent = try leftover(devKey.stem, age: 30)
        // Not ours: a name that is not one of our temp names, however old.
        let foreign = cache.directory.pathOf(".notes.tmp")
        writeBytes(foreign, [1, 2, 3])
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: foreign)

        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)

        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(!FileManager.default.fileExists(atPath: oldOwnStem))
        #expect(FileManager.default.fileExists(atPath: recent), "a temp file this young may be another writer's")
        #expect(FileManager.default.fileExists(atPath: foreign))
        guard case .hit = cache.read(prodKey, encryptionKey: key) else {
            Issue.record("the entry written is not readable")
            return
        }
    }

    @Test("the agent's abandoned state temp files go too, with its next state write or any entry write")
    func abandonedAgentTemporariesRemoved() throws {
        let old = try leftover("agent", age: 3600)
        let recent = try leftover("agent", age: 30)
        try cache.writeAgentState(Array("{}".utf8))
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: recent), "a temp file this young may be the agent's write under way")
        let another = try leftover("agent", age: 3600)
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        #expect(!FileManager.default.fileExists(atPath: another))
        #expect(!isTemporaryName(".agents.0123456789abcdef.tmp") && !isTemporaryName(".agent.0123.tmp"))
    }

    @Test("a leftover temp file never stands in for the entry")
    func leftoverIsNotAnEntry() throws {
        try cache.write(sampleCredentials(tag: "A"), for: prodKey, issuedAt: issued, encryptionKey: key)
        let entry = readBytes(cache.entryPath(for: prodKey))
        _ = try leftover(prodKey.stem, age: 5)
        guard case .hit(let credentials, _) = cache.read(prodKey, encryptionKey: key) else {
            Issue.record("the previous entry was lost")
            return
        }
        #expect(credentials == sampleCredentials(tag: "A"))
        #expect(readBytes(cache.entryPath(for: prodKey)) == entry)
        #expect(try cache.list().count == 1)
    }

    /// The termination signals blocked on this thread.
    func blocked() -> [Int32] {
        var current = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &current)
        return [SIGINT, SIGTERM, SIGHUP, SIGQUIT].filter { sigismember(&current, $0) == 1 }
    }

    /// Runs `body` on this thread with no signal blocked (test runner threads may block some),
    /// then puts the thread's mask back.
    func withEmptySignalMask(_ body: () throws -> Void) rethrows {
        var empty = sigset_t()
        sigemptyset(&empty)
        var saved = sigset_t()
        pthread_sigmask(SIG_SETMASK, &empty, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try body()
    }

    @Test("termination signals are held while the temp file exists, and released afterwards")
    func signalsHeldDuringWrite() throws { try withEmptySignalMask {
        #expect(blocked().isEmpty)
        var duringInstall: [Int32] = []
        var temporaryExisted = false
        let directory = cache.directory
        try FileSystem.writeAtomically(
            directory: directory.fd, directoryPath: directory.path, finalName: "probe", temporaryStem: prodKey.stem,
            bytes: [1, 2, 3]
        ) { temporaryName in
            duringInstall = blocked()
            temporaryExisted = FileManager.default.fileExists(atPath: directory.pathOf(temporaryName))
            return renameat(directory.fd, temporaryName, directory.fd, "probe") == 0 ? .success(()) : .failure(Errno(errno))
        }
        #expect(temporaryExisted)
        #expect(duringInstall == [SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        #expect(blocked().isEmpty, "the signal mask must be restored")
    } }

    @Test("the signal mask is restored when the write fails")
    func signalsReleasedOnFailure() throws { try withEmptySignalMask {
        let directory = cache.directory
        #expect(throws: FileSystem.WriteFailure.self) {
            try FileSystem.writeAtomically(
                directory: directory.fd, directoryPath: directory.path, finalName: "probe",
                temporaryStem: prodKey.stem, bytes: [1]
            ) { _ -> Result<Void, Errno> in .failure(Errno(EXDEV)) }
        }
        #expect(blocked().isEmpty, "the signal mask must be restored")
        let leftovers = try directory.fileNames().filter(isTemporaryName)
        #expect(leftovers.isEmpty, "\(leftovers)")
    } }
}
