#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache
import StscacheSupport

/// The cache as `list`, `purge` (and the agent's status to come) see it: its entries with the
/// profiles that reach them, authenticated when the key is at hand, and removal under each
/// entry's lock. Nothing here prints; the commands word the results.
package struct CacheInventory {
    package let context: Context
    /// Say on stderr which cache and key store are used, and why entries are not verified.
    package var verbose = false

    package init(context: Context, verbose: Bool) {
        self.context = context
        self.verbose = verbose
    }

    /// One entry and the profiles of the current config that select it (sorted).
    package struct Entry {
        package var listing: CacheListing
        package var profiles: [String]
        /// The profiles a user selects (`RoleLookup.Reach.shown`).
        package var shown: [String] = []
        /// Its key, when the config reaches it (the whole request, not only the stem).
        package var key: CacheKey?
    }

    /// The cache directory if it exists (checked as always), nil if nothing was ever cached.
    package func existingCache() throws(CacheError) -> CredentialCache? {
        let cache: CredentialCache
        do {
            cache = try CredentialCache.open(environment: context.environment, home: context.homeDirectory, create: false)
        } catch {
            if case .directoryMissing = error { return nil }
            throw error
        }
        if verbose { context.output.stderr("stscache: cache \(cache.directory.path)\n") }
        return cache
    }

    /// Every entry, its header authenticated with the cache's key when `verify` and the key
    /// exists. A missing cache directory is an empty cache; config trouble only costs the
    /// profile names (with a warning).
    package func entries(in cache: CredentialCache, verify: Bool) throws -> [Entry] {
        let reach = RoleLookup.reachableEntries(context: context)
        let encryptionKey = verify ? existingKey() : nil
        return try cache.list().map { listing in
            Entry(listing: encryptionKey.map { cache.verify(listing, encryptionKey: $0) } ?? listing,
                  profiles: reach[listing.stem]?.profiles ?? [], shown: reach[listing.stem]?.shown ?? [],
                  key: reach[listing.stem]?.key)
        }
    }

    /// The cache's key if one exists (never created here); nil when the key store cannot give
    /// it (`env` store without the variable, a keyring from another login session).
    package func existingKey() -> [UInt8]? {
        do {
            return try keyStore().loadKey()
        } catch {
            if verbose { context.output.stderr("stscache: entries are not verified: \(describe(error))\n") }
            return nil
        }
    }

    package func keyStore() throws(CacheError) -> any KeyStore {
        let selection = try KeyStoreSelection.make(environment: context.environment, home: context.homeDirectory,
                                                   verbose: verbose)
        if let note = selection.note { context.output.stderr("stscache: \(note)\n") }
        return selection.store
    }

    // MARK: Removal

    /// How long to wait for a role's lock (a refresh in progress) before giving up. Shorter than
    /// the broker's wait: someone is at the terminal, and the message says what holds it.
    package static let lockTimeout: Double = 10

    package enum Removal {
        case removed
        /// `onlyIfUnusable`: a refresh finished while we waited for the lock.
        case refreshedMeanwhile
        /// Another purge got there first.
        case goneMeanwhile
    }

    /// Removes one entry under its lock (named by the entry's stem, so entries no profile of
    /// the current config reaches are locked too), re-checking `onlyIfUnusable` once the lock is
    /// held (a refresh may have finished while we waited).
    package func remove(_ entry: Entry, from cache: CredentialCache, onlyIfUnusable: Bool) throws -> Removal {
        try cache.withEntryLock(stem: entry.listing.stem, roleArn: entry.listing.header?.roleArn ?? entry.listing.stem,
                                timeout: Self.lockTimeout) {
            if onlyIfUnusable, let key = entry.key, let header = cache.readHeader(key),
               RefreshPolicy().decide(now: context.now(), issuedAt: header.issuedAt, expiration: header.expiration) != .expired {
                return .refreshedMeanwhile
            }
            return try cache.remove(stem: entry.listing.stem) ? .removed : .goneMeanwhile
        }
    }

    /// Entries stscache will never hand out again: expired ones, and damaged ones; an entry in a
    /// format this version does not know may belong to a newer stscache: kept.
    package static func isUnusable(_ listing: CacheListing, now: Date) -> Bool {
        if let header = listing.header {
            return RefreshPolicy().decide(now: now, issuedAt: header.issuedAt, expiration: header.expiration) == .expired
        }
        if case .unsupportedVersion = listing.problem { return false }
        return true
    }

    /// Removes every entry (each under its lock, so no refresh writes one back) and the lock
    /// files; the number of entries there were.
    package func removeAll(from cache: CredentialCache) throws -> Int {
        let listings = try cache.list()
        for listing in listings {
            _ = try cache.withEntryLock(stem: listing.stem, roleArn: listing.header?.roleArn ?? listing.stem,
                                        timeout: Self.lockTimeout) { try cache.remove(stem: listing.stem) }
        }
        _ = try cache.removeAll()
        return listings.count
    }

    /// A key that cannot be read (a key file of the wrong size, say) still exists, and
    /// `purge --all` is how it goes away.
    package static func keyExists(in store: any KeyStore) -> Bool {
        do {
            return try store.loadKey() != nil
        } catch {
            return true
        }
    }
}
