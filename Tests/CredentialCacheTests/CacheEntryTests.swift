import Foundation
import OpenSSLCrypto
import Testing
@testable import CredentialCache
import TestSupport

@Suite("Cache entries", .permissiveTemporaryDirectory)
struct CacheEntryTests {
    let temp = TemporaryDirectory.current
    let cache: CredentialCache
    let key = randomKey()

    init() throws {
        cache = try temporaryCache()
    }

    func hit(_ lookup: CacheLookup) -> CachedCredentials? {
        if case .hit(let credentials, _) = lookup { return credentials }
        return nil
    }

    func reason(_ lookup: CacheLookup) -> MissReason? {
        if case .miss(let reason) = lookup { return reason }
        return nil
    }

    @Test("round trip: what is written is read back, with its header")
    func roundTrip() throws {
        let credentials = sampleCredentials()
        try cache.write(credentials, for: prodKey, issuedAt: issued, encryptionKey: key)
        guard case .hit(let read, let header) = cache.read(prodKey, encryptionKey: key) else {
            Issue.record("expected a hit, got \(cache.read(prodKey, encryptionKey: key))")
            return
        }
        #expect(read == credentials)
        #expect(header.roleArn == prodKey.roleArn)
        #expect(header.sessionName == "alice")
        #expect(header.issuedAt == issued)
        #expect(header.expiration == credentials.expiration)
        #expect(header.stem == prodKey.stem)
        #expect(header.formatVersion == 2)
        #expect(header.keyId == Hex.encode(EntryFormat.keyId(of: key)))
    }

    @Test("a rewrite replaces the entry and uses a fresh nonce")
    func rewriteReplaces() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let first = readBytes(cache.entryPath(for: prodKey))
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let second = readBytes(cache.entryPath(for: prodKey))
        #expect(first.count == second.count)
        #expect(first != second, "same plaintext under a fresh nonce must encrypt differently")
        let newer = sampleCredentials(expiration: Date(timeIntervalSince1970: 1_900_003_600), tag: "B")
        try cache.write(newer, for: prodKey, issuedAt: issued, encryptionKey: key)
        #expect(hit(cache.read(prodKey, encryptionKey: key)) == newer)
    }

    @Test("no entry is a miss, not an error")
    func absentIsMiss() {
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .absent)
        #expect(cache.readHeader(prodKey) == nil)
    }

    @Test("readHeader reads the expiry without the key; another key's request gets nil")
    func headerWithoutKey() throws {
        let credentials = sampleCredentials()
        try cache.write(credentials, for: prodKey, issuedAt: issued, encryptionKey: key)
        let header = try #require(cache.readHeader(prodKey))
        #expect(header.expiration == credentials.expiration)
        #expect(header.issuedAt == issued)
        #expect(header.roleArn == prodKey.roleArn)
        #expect(cache.readHeader(devKey) == nil)
        // A file copied over another key's entry does not show the wrong expiry either.
        try FileManager.default.copyItem(atPath: cache.entryPath(for: prodKey), toPath: cache.entryPath(for: devKey))
        #expect(cache.readHeader(devKey) == nil)
    }

    @Test("every flipped byte is a miss, never other credentials")
    func flippedBytes() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let path = cache.entryPath(for: prodKey)
        let original = readBytes(path)
        var reasons: Set<String> = []
        for index in original.indices {
            var tampered = original
            tampered[index] ^= 0x01
            writeBytes(path, tampered)
            let lookup = cache.read(prodKey, encryptionKey: key)
            guard let reason = reason(lookup) else {
                Issue.record("flipping byte \(index) of \(original.count) still gave a hit")
                continue
            }
            reasons.insert("\(reason)")
        }
        // The header fields are each checked by something: magic, version, digest, key id, AEAD.
        #expect(reasons.contains(MissReason.badMagic.description))
        #expect(reasons.contains(MissReason.unsupportedVersion(3).description))
        #expect(reasons.contains(MissReason.differentRequest.description))
        #expect(reasons.contains(MissReason.differentKey.description))
        #expect(reasons.contains(MissReason.authenticationFailed.description))
        writeBytes(path, original)
        #expect(hit(cache.read(prodKey, encryptionKey: key)) != nil)
    }

    @Test("truncation at any of several lengths is a miss")
    func truncation() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let path = cache.entryPath(for: prodKey)
        let original = readBytes(path)
        let headerLength = try EntryFormat.parseHeader(original).get().length
        let lengths = [0, 1, 7, 8, 9, 10, 11, 40, headerLength - 1, headerLength, headerLength + 11,
                       headerLength + 12, headerLength + 28, original.count - 17, original.count - 16,
                       original.count - 1]
        for length in lengths {
            writeBytes(path, Array(original.prefix(length)))
            let miss = reason(cache.read(prodKey, encryptionKey: key))
            #expect(miss != nil, "truncated to \(length) bytes")
        }
        writeBytes(path, Array(original.prefix(headerLength)))
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .truncated)
        #expect(cache.readHeader(prodKey) != nil, "the header alone still shows the expiry")
    }

    @Test("an entry copied over another role's entry is a miss")
    func swappedFile() throws {
        try cache.write(sampleCredentials(tag: "P"), for: prodKey, issuedAt: issued, encryptionKey: key)
        try cache.write(sampleCredentials(tag: "D"), for: devKey, issuedAt: issued, encryptionKey: key)
        try FileManager.default.removeItem(atPath: cache.entryPath(for: devKey))
        try FileManager.default.copyItem(atPath: cache.entryPath(for: prodKey), toPath: cache.entryPath(for: devKey))
        #expect(reason(cache.read(devKey, encryptionKey: key)) == .differentRequest)
        #expect(hit(cache.read(prodKey, encryptionKey: key))?.accessKeyId == "ASIASAMPLEACCESSKEYP")
    }

    @Test("same role and session reached through another source is another entry, and a swap is a miss")
    func sourceIdentityIsPartOfTheKey() throws {
        let viaOther = CacheKey(roleArn: prodKey.roleArn, sessionName: prodKey.sessionName,
                                sourceIdentity: "profile:other", externalId: nil)
        let withExternalId = CacheKey(roleArn: prodKey.roleArn, sessionName: prodKey.sessionName,
                                      sourceIdentity: "profile:base", externalId: "ext-1")
        #expect(Set([prodKey.stem, viaOther.stem, withExternalId.stem]).count == 3)
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        try FileManager.default.copyItem(atPath: cache.entryPath(for: prodKey), toPath: cache.entryPath(for: viaOther))
        #expect(reason(cache.read(viaOther, encryptionKey: key)) == .differentRequest)
    }

    @Test("field boundaries are unambiguous in the cache key")
    func keyEncodingIsUnambiguous() {
        let a = CacheKey(roleArn: "arn:a", sessionName: "bc", sourceIdentity: nil, externalId: nil)
        let b = CacheKey(roleArn: "arn:ab", sessionName: "c", sourceIdentity: nil, externalId: nil)
        let c = CacheKey(roleArn: "arn:a", sessionName: "bc", sourceIdentity: "", externalId: nil)
        let d = CacheKey(roleArn: "arn:a", sessionName: "bc", sourceIdentity: nil, externalId: "")
        #expect(Set([a.stem, b.stem, c.stem, d.stem]).count == 4)
        #expect(a.stem == CacheKey(roleArn: "arn:a", sessionName: "bc").stem)
        #expect(isStem(a.stem))
    }

    @Test("a changed key is a miss")
    func keyChange() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        #expect(reason(cache.read(prodKey, encryptionKey: randomKey())) == .differentKey)
        // The same id with different key bytes cannot happen by accident, but the tag still holds.
        let path = cache.entryPath(for: prodKey)
        var bytes = readBytes(path)
        let otherKey = randomKey()
        let idOffset = 8 + 1 + 2 + 32
        bytes.replaceSubrange(idOffset ..< idOffset + 8, with: EntryFormat.keyId(of: otherKey))
        writeBytes(path, bytes)
        #expect(reason(cache.read(prodKey, encryptionKey: otherKey)) == .authenticationFailed)
    }

    @Test("an entry fetched with other source keys is a miss for these, and stays for its own")
    func principalBinding() throws {
        let first = PrincipalBinding.make(accessKeyId: "AKIAFIRSTKEYS0000001", secretAccessKey: "first", encryptionKey: key)
        let wrongSecret = PrincipalBinding.make(accessKeyId: "AKIAFIRSTKEYS0000001", secretAccessKey: "guess", encryptionKey: key)
        let other = PrincipalBinding.make(accessKeyId: "AKIAOTHERKEYS0000002", secretAccessKey: "first", encryptionKey: key)
        #expect(Set([first, wrongSecret, other, PrincipalBinding.unbound]).count == 4)
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key, principal: first)
        #expect(hit(cache.read(prodKey, encryptionKey: key, principal: first)) == sampleCredentials())
        for binding in [wrongSecret, other, PrincipalBinding.unbound] {
            #expect(reason(cache.read(prodKey, encryptionKey: key, principal: binding)) == .differentPrincipal)
        }
        // Keyed by the cache key: the same source keys under another cache key bind differently,
        // so the header tells nothing about the keys to someone without the cache key.
        #expect(PrincipalBinding.make(accessKeyId: "AKIAFIRSTKEYS0000001", secretAccessKey: "first", encryptionKey: randomKey())
            != first)
        let bytes = readBytes(cache.entryPath(for: prodKey))
        #expect(!contains(bytes, Array("AKIAFIRSTKEYS0000001".utf8)))
        // The binding is authenticated with the entry: rewriting it in the header breaks the tag.
        let parsed = try EntryFormat.parseHeader(bytes).get()
        var forged = bytes
        let offset = 8 + 1 + 2 + 32 + 8 + 8 + 8
        #expect(Array(forged[offset ..< offset + 32]) == first && parsed.header.principal == first)
        forged.replaceSubrange(offset ..< offset + 32, with: other)
        writeBytes(cache.entryPath(for: prodKey), forged)
        #expect(reason(cache.read(prodKey, encryptionKey: key, principal: other)) == .authenticationFailed)
    }

    @Test("header times outside 1970-9999 are malformed: readHeader and list give nothing to display", arguments: [
        (Int64.max, Int64(1_899_996_400)), (Int64(1_900_000_000), Int64.min), (Int64(-1), Int64(0)),
        (Int64(253_402_300_800), Int64(0)), (Int64(1_900_000_000), Int64(-86_400)),
    ])
    func outOfRangeTimes(expiration: Int64, issuedAt: Int64) throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        var bytes = readBytes(cache.entryPath(for: prodKey))
        let issuedOffset = 8 + 1 + 2 + 32 + 8
        bytes.replaceSubrange(issuedOffset ..< issuedOffset + 8, with: withUnsafeBytes(of: issuedAt.bigEndian) { Array($0) })
        bytes.replaceSubrange(issuedOffset + 8 ..< issuedOffset + 16, with: withUnsafeBytes(of: expiration.bigEndian) { Array($0) })
        writeBytes(cache.entryPath(for: prodKey), bytes)
        #expect(cache.readHeader(prodKey) == nil)
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .malformed)
        let listing = try #require(try cache.list().first)
        #expect(listing.header == nil && listing.problem == .malformed)
    }

    @Test("times a header cannot hold are refused when writing, not wrapped")
    func unstorableTimes() {
        for expiration in [Date(timeIntervalSince1970: 1e13), Date(timeIntervalSince1970: -10), Date(timeIntervalSince1970: 1e300)] {
            expectCacheError("cache.file-io") {
                try cache.write(sampleCredentials(expiration: expiration), for: prodKey, issuedAt: issued, encryptionKey: key)
            }
        }
    }

    @Test("an unknown format version is a miss, and readHeader gives nothing")
    func unknownVersion() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let path = cache.entryPath(for: prodKey)
        var bytes = readBytes(path)
        bytes[8] = 3
        writeBytes(path, bytes)
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .unsupportedVersion(3))
        // Version 1 (before principal binding) is not read either: a miss, replaced on next use.
        bytes[8] = 1
        writeBytes(path, bytes)
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .unsupportedVersion(1))
        #expect(cache.readHeader(prodKey) == nil)
    }

    @Test("garbage, oversized files, symlinks and FIFOs are misses")
    func garbage() throws {
        let path = cache.entryPath(for: prodKey)
        writeBytes(path, Array("not an entry at all".utf8))
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .badMagic)
        writeBytes(path, Array("STSCACHE".utf8) + (0..<300).map { _ in UInt8.random(in: 0...255) })
        #expect(reason(cache.read(prodKey, encryptionKey: key)) != nil)
        writeBytes(path, Array("STSCACHE".utf8) + [1] + [UInt8](repeating: 0xff, count: 100))
        #expect(reason(cache.read(prodKey, encryptionKey: key)) != nil)
        writeBytes(path, [UInt8](repeating: 0x41, count: 64 * 1024 + 1))
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .tooLarge)

        try FileManager.default.removeItem(atPath: path)
        let elsewhere = temp.sub("elsewhere")
        try cache.write(sampleCredentials(), for: devKey, issuedAt: issued, encryptionKey: key)
        try FileManager.default.copyItem(atPath: cache.entryPath(for: devKey), toPath: elsewhere)
        #expect(symlink(elsewhere, path) == 0)
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .unreadable("symbolic link"))

        try FileManager.default.removeItem(atPath: path)
        #expect(mkfifo(path, 0o600) == 0)
        #expect(reason(cache.read(prodKey, encryptionKey: key)) == .unreadable("not a regular file"))
    }

    @Test("no secret appears in entry bytes or file names")
    func noSecretsOnDisk() throws {
        let credentials = sampleCredentials()
        try cache.write(credentials, for: prodKey, issuedAt: issued, encryptionKey: key)
        try cache.withEntryLock(prodKey, timeout: 1) {}
        let names = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(Set(names) == [prodKey.entryFileName, prodKey.lockFileName])
        for name in names {
            for word in ["Admin", "123456789012", "alice", "base", "ASIA"] {
                #expect(!name.contains(word), "file name \(name) contains \(word)")
            }
            let bytes = readBytes(cache.directory.path + "/" + name)
            for secret in [credentials.secretAccessKey, credentials.sessionToken, credentials.accessKeyId,
                           "sEcReT", "SESSIONTOKEN", "Zm9vYmFy"] {
                #expect(!contains(bytes, Array(secret.utf8)), "\(name) contains a secret in plaintext")
            }
            #expect(!contains(bytes, key), "\(name) contains the encryption key")
            #expect(!contains(bytes, Array(Hex.encode(key).utf8)))
        }
        #expect(!credentials.description.contains(credentials.secretAccessKey))
        #expect(!credentials.description.contains(credentials.sessionToken))
    }

    @Test("entries and lock files are 0600 under umask 000; no temp files stay behind")
    func fileModes() throws {
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        try cache.withEntryLock(prodKey, timeout: 1) {}
        #expect(modeOf(cache.entryPath(for: prodKey)) == 0o600)
        #expect(modeOf(cache.lockPath(for: prodKey)) == 0o600)
        #expect(modeOf(cache.directory.path) == 0o700)
    }

    @Test("a write that cannot be installed fails cleanly and leaves no temp file")
    func failedWriteCleansUp() throws {
        // A directory squatting on the entry's name makes the rename fail.
        #expect(mkdir(cache.entryPath(for: prodKey), 0o700) == 0)
        let error = expectCacheError("cache.file-io") {
            try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        }
        #expect(error?.message.contains(cache.entryPath(for: prodKey)) == true)
        let names = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(names == [prodKey.entryFileName])
    }

    @Test("a key that is not 32 bytes is refused on write and a miss on read")
    func badKeyLength() throws {
        expectCacheError("cache.file-io") {
            try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: [1, 2, 3])
        }
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        #expect(reason(cache.read(prodKey, encryptionKey: Array(key.prefix(16)))) == .differentKey)
    }

    @Test("credentials too large for an entry are refused with a clear error")
    func tooLarge() throws {
        var credentials = sampleCredentials()
        credentials.sessionToken = String(repeating: "x", count: 70_000)
        expectCacheError("cache.entry-too-large") {
            try cache.write(credentials, for: prodKey, issuedAt: issued, encryptionKey: key)
        }
    }
}
