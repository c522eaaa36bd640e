import Foundation
import Testing
@testable import CredentialCache
import TestSupport

@Suite("Listing and purging", .permissiveTemporaryDirectory)
struct ListingTests {
    @Test("lists entries with headers, unreadable files as such, and ignores other files")
    func listsEntries() throws {
        let cache = try temporaryCache()
        let key = randomKey()
        try cache.write(sampleCredentials(), for: devKey, issuedAt: issued, encryptionKey: key)
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        let garbageStem = String(repeating: "ab", count: 32)
        writeBytes(cache.directory.path + "/" + garbageStem + ".entry", Array("garbage".utf8))
        writeBytes(cache.directory.path + "/notes.txt", Array("not ours".utf8))
        try cache.withEntryLock(prodKey, timeout: 1) {}

        let listings = try cache.list()
        #expect(listings.map(\.stem) == [prodKey.stem, devKey.stem, garbageStem])
        #expect(listings[0].header?.roleArn == prodKey.roleArn)
        #expect(listings[0].header?.expiration == sampleCredentials().expiration)
        #expect(listings[1].header?.roleArn == devKey.roleArn)
        #expect(listings[2].header == nil)
        #expect(listings[2].problem == .badMagic)
        #expect(listings[0].path == cache.entryPath(for: prodKey))
    }

    @Test("remove drops one entry but keeps its lock file; removeAll drops only stscache's files")
    func removes() throws {
        let cache = try temporaryCache()
        let key = randomKey()
        try cache.write(sampleCredentials(), for: devKey, issuedAt: issued, encryptionKey: key)
        try cache.write(sampleCredentials(), for: prodKey, issuedAt: issued, encryptionKey: key)
        try cache.withEntryLock(prodKey, timeout: 1) {}
        try cache.withEntryLock(devKey, timeout: 1) {}
        let leftoverTemp = "." + devKey.stem + ".0123456789abcdef.tmp"
        writeBytes(cache.directory.path + "/" + leftoverTemp, [0])
        writeBytes(cache.directory.path + "/notes.txt", [0])

        #expect(try cache.remove(prodKey) == true)
        #expect(try cache.remove(prodKey) == false)
        // Kept: a waiter on the old lock inode and a newcomer on a new one would both refresh.
        #expect(FileManager.default.fileExists(atPath: cache.lockPath(for: prodKey)))
        #expect(cache.readHeader(devKey) != nil)
        #expect(try cache.remove(stem: "../../etc/passwd") == false)

        #expect(try cache.removeAll() == 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(names == ["notes.txt"])
        #expect(try cache.list().isEmpty)
    }

    @Test("temp file names are recognised exactly")
    func temporaryNames() {
        let stem = prodKey.stem
        #expect(isTemporaryName("." + stem + ".0123456789abcdef.tmp"))
        #expect(!isTemporaryName(stem + ".0123456789abcdef.tmp"))
        #expect(!isTemporaryName("." + stem + ".tmp"))
        #expect(!isTemporaryName(".cache-key.0123456789abcdef.tmp"))
    }
}
