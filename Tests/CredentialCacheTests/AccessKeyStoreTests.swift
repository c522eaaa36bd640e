import Foundation
import Testing
@testable import CredentialCache
import TestSupport

private let added = Date(timeIntervalSince1970: 1_800_000_000)

private func record(_ profile: String, _ tag: String, rotation: RotationState? = nil) -> StoredAccessKey {
    StoredAccessKey(profile: profile, accessKeyId: "AKIAEXAMPLEKEY\(tag)",
                    secretAccessKey: "long/term+secret+\(tag)+0123456789abcdefghij", addedAt: added,
                    rotatedAt: rotation == nil ? nil : added.addingTimeInterval(60), rotation: rotation)
}

private func expectStoreError(_ code: String, sourceLocation: Testing.SourceLocation = #_sourceLocation,
                              _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), nothing thrown", sourceLocation: sourceLocation)
    } catch let error as AccessKeyStoreError {
        #expect(error.errorCode == code, "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Long-term key store", .permissiveTemporaryDirectory)
struct AccessKeyStoreTests {
    let directory = TemporaryDirectory.current

    @Test("records round-trip with every rotation state; file 0600, directory 0700, no secret in plaintext")
    func roundTrip() throws {
        let store = AccessKeyStore(path: directory.sub("config/stscache/access-keys"))
        let key = randomKey()
        let written = [
            record("base", "A"),
            record("ops", "B", rotation: .creating(startedAt: added, existingKeyIds: ["AKIAEXAMPLEKEYB"])),
            record("dev", "C", rotation: .created(accessKeyId: "AKIANEWKEYC00000", secretAccessKey: "new/secret+C")),
            record("prod", "D", rotation: .retiring(oldAccessKeyId: "AKIAOLDKEYD00000")),
        ]
        try store.update(encryptionKey: key) { $0 = written }
        #expect(try store.records(encryptionKey: key) == written)
        #expect(try store.record(for: "dev", encryptionKey: key) == written[2])
        #expect(try store.record(for: "nobody", encryptionKey: key) == nil)
        #expect(try store.profileNames() == ["base", "ops", "dev", "prod"])
        #expect(modeOf(store.path) == 0o600)
        #expect(modeOf(directory.sub("config/stscache")) == 0o700)
        let bytes = readBytes(store.path)
        for secret in written.map(\.secretAccessKey) + ["new/secret+C"] {
            #expect(!contains(bytes, Array(secret.utf8)))
        }
        // Removing every record removes the file.
        try store.update(encryptionKey: key) { $0.removeAll() }
        #expect(!FileManager.default.fileExists(atPath: store.path))
        #expect(try store.records(encryptionKey: key).isEmpty)
    }

    @Test("a record moved to another profile is refused (the profile name is associated data)")
    func swappedRecordRefused() throws {
        let store = AccessKeyStore(path: directory.sub("access-keys"))
        let key = randomKey()
        try store.update(encryptionKey: key) { $0 = [record("alpha", "A"), record("bravo", "B")] }
        // Same-length names: swap them in place, leaving every sealed record where it was.
        var bytes = readBytes(store.path)
        let alpha = Array("alpha".utf8), bravo = Array("bravo".utf8)
        var positions: [Int] = []
        for start in 0...(bytes.count - 5) where Array(bytes[start..<start + 5]) == alpha || Array(bytes[start..<start + 5]) == bravo {
            positions.append(start)
        }
        #expect(positions.count == 2)
        let first = Array(bytes[positions[0]..<positions[0] + 5])
        bytes.replaceSubrange(positions[0]..<positions[0] + 5, with: Array(bytes[positions[1]..<positions[1] + 5]))
        bytes.replaceSubrange(positions[1]..<positions[1] + 5, with: first)
        writeBytes(store.path, bytes)
        chmod(store.path, 0o600)
        expectStoreError("keys.record-tampered") { _ = try store.record(for: "alpha", encryptionKey: key) }
        expectStoreError("keys.record-tampered") { _ = try store.records(encryptionKey: key) }
    }

    @Test("every flipped bit and every cut is an error, never a crash or a record")
    func tamperingRefused() throws {
        let store = AccessKeyStore(path: directory.sub("access-keys"))
        let key = randomKey()
        try store.update(encryptionKey: key) { $0 = [record("base", "A", rotation: .retiring(oldAccessKeyId: "AKIAOLD0000000000"))] }
        let genuine = readBytes(store.path)
        for index in genuine.indices {
            var altered = genuine
            altered[index] ^= 0x01
            #expect(throws: AccessKeyStoreError.self) { _ = try AccessKeyFile.decode(altered, key: key, path: "x") }
        }
        for length in 0..<genuine.count {
            #expect(throws: AccessKeyStoreError.self) { _ = try AccessKeyFile.decode(Array(genuine[..<length]), key: key, path: "x") }
        }
        expectStoreError("keys.store-damaged") { _ = try AccessKeyFile.decode(genuine + [0], key: key, path: "x") }
        expectStoreError("keys.store-other-key") { _ = try AccessKeyFile.decode(genuine, key: randomKey(), path: "x") }
        // Control: the untouched file opens.
        #expect(try AccessKeyFile.decode(genuine, key: key, path: "x").count == 1)
    }

    @Test("a store others can read, or a symlink, is refused")
    func insecureFileRefused() throws {
        let store = AccessKeyStore(path: directory.sub("dir/access-keys"))
        let key = randomKey()
        try store.update(encryptionKey: key) { $0 = [record("base", "A")] }
        chmod(store.path, 0o640)
        expectStoreError("keys.store-insecure") { _ = try store.profileNames() }
        chmod(store.path, 0o600)
        #expect(try store.profileNames() == ["base"])
        chmod(directory.sub("dir"), 0o777)
        expectStoreError("keys.store-insecure") { _ = try store.profileNames() }
        chmod(directory.sub("dir"), 0o700)
        let linked = AccessKeyStore(path: directory.sub("dir/link"))
        symlink(store.path, linked.path)
        expectStoreError("keys.store-insecure") { _ = try linked.profileNames() }
    }

    @Test("the store's key is not the cache key: a file of its own, or derived from STSCACHE_CACHE_KEY")
    func encryptionKeySeparate() throws {
        let store = AccessKeyStore(path: directory.sub("stscache/access-keys"))
        let fileStore = store.encryptionKeyStore(for: FileKeyStore(path: directory.sub("stscache/cache-key")))
        #expect((fileStore as? FileKeyStore)?.path == directory.sub("stscache/access-keys-key"))
        let base = try EnvKeyStore(value: Data(repeating: 7, count: 32).base64EncodedString())
        let derived = store.encryptionKeyStore(for: base)
        let derivedKey = try #require(try derived.loadKey())
        #expect(derivedKey.count == 32)
        #expect(derivedKey != (try base.loadKey()))
        #expect(try derived.loadOrCreateKey() == derivedKey)
    }
}
