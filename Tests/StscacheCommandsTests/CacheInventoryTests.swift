import Foundation
import Testing
import CredentialCache
@testable import Credentials
import TestSupport

/// The Credentials side of `list` and `purge` (and the agent's status to come), on the
/// standard home: prod-role and dev-role cached, profiles delegating to them.
@Suite("Cache inventory", .testHome())
struct CacheInventoryTests {
    let home = TestHome.current

    func inventory() -> CacheInventory {
        CacheInventory(context: home.context(output: CapturedOutput()), verbose: false)
    }

    @Test("entries carry the profiles and key that reach them; verified only when asked and the key is there")
    func entries() throws {
        let prodKey = try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        try home.cacheSession(for: "dev-role", expiresIn: 30 * 60)
        let inventory = inventory()
        let cache = try #require(try inventory.existingCache())

        let verified = try inventory.entries(in: cache, verify: true)
        #expect(verified.count == 2)
        let prod = try #require(verified.first { $0.listing.stem == prodKey.stem })
        #expect(prod.profiles == ["prod", "prod-role"])
        #expect(prod.key == prodKey)
        #expect(verified.allSatisfy { $0.listing.verified })
        #expect(try inventory.entries(in: cache, verify: false).allSatisfy { !$0.listing.verified })

        home.environment["STSCACHE_CACHE_KEY"] = Data((0..<32).map { _ in UInt8(9) }).base64EncodedString()
        let otherKey = try self.inventory().entries(in: cache, verify: true)
        #expect(otherKey.allSatisfy { !$0.listing.verified }, "a header is verified with the cache's own key only")
    }

    @Test("no cache directory is an empty cache, and nothing is created")
    func noDirectory() throws {
        #expect(try inventory().existingCache() == nil)
        #expect(!home.exists(home.cacheDirectory))
    }

    @Test("removing only if unusable keeps an entry that is fresh by the time the lock is held")
    func refreshedMeanwhile() throws {
        let fresh = try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        let expired = try home.cacheSession(for: "dev-role", expiresIn: -30)
        let inventory = inventory()
        let cache = try #require(try inventory.existingCache())
        let entries = try inventory.entries(in: cache, verify: false)

        let kept = try inventory.remove(try #require(entries.first { $0.key == fresh }), from: cache, onlyIfUnusable: true)
        #expect(kept == .refreshedMeanwhile)
        #expect(home.exists(home.entryPath(fresh)))
        let removed = try inventory.remove(try #require(entries.first { $0.key == expired }), from: cache, onlyIfUnusable: true)
        #expect(removed == .removed)
        #expect(!home.exists(home.entryPath(expired)))
        #expect(try inventory.remove(try #require(entries.first { $0.key == expired }), from: cache, onlyIfUnusable: false)
            == .goneMeanwhile)
    }

    @Test("removeAll counts the entries and leaves no entry or lock file")
    func removeAll() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        try home.cacheSession(for: "dev-role", expiresIn: 42 * 60)
        let inventory = inventory()
        let cache = try #require(try inventory.existingCache())
        #expect(try inventory.removeAll(from: cache) == 2)
        #expect(home.cacheFiles().filter { $0.hasSuffix(".entry") || $0.hasSuffix(".lock") }.isEmpty, "\(home.cacheFiles())")
    }
}
