#if canImport(FoundationEssentials)
import Credentials
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import AWSConfig
import CredentialCache
import StscacheSupport

/// `stscache purge`: drop one role's session, a role's sessions, the expired ones, or
/// everything including the key.
///
/// Each entry is removed holding its lock, so a purge never races a refresh of the same role
/// (the refresher would otherwise write its fresh entry back, or lose it). stdout says what was
/// removed; purging nothing is not an error.
struct PurgeCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove cached sessions: one profile's, one role's, the expired ones, or all (and the key).",
        discussion: """
            Give exactly one of --profile, --role-arn, --expired or --all. --expired also removes \
            damaged entries (neither can be used again). --all removes every entry and lock file \
            and deletes the key from the selected key store (STSCACHE_KEY_STORE).
            """)

    @Option(name: .long, help: "Remove the session of this profile (a role profile, or one delegating to stscache).")
    var profile: String?

    @Option(name: .long, help: "Remove every session of this role ARN.")
    var roleArn: String?

    @Option(name: .long, help: "With --role-arn: only the session with this role session name.")
    var sessionName: String?

    @Flag(name: .long, help: "Remove expired (and damaged) entries; keep the valid ones.")
    var expired = false

    @Flag(name: .long, help: "Remove every entry and lock file, and the key in the selected key store.")
    var all = false

    @Flag(name: .long, help: "Say what would be removed, and remove nothing.")
    var dryRun = false

    @OptionGroup var cacheOptions: CacheOptions

    /// How long to wait for a role's lock (a refresh in progress) before giving up. Shorter than
    /// the broker's wait: someone is at the terminal, and the message says what holds it.
    static let lockTimeout: Double = 10

    func validate() throws {
        let chosen = [profile != nil, roleArn != nil, expired, all].filter { $0 }.count
        guard chosen == 1 else {
            throw ValidationError("give exactly one of --profile, --role-arn, --expired or --all")
        }
        if sessionName != nil && roleArn == nil {
            throw ValidationError("--session-name goes with --role-arn")
        }
    }

    func run(context: Context) throws {
        let verbose = cacheOptions.verbose || context.verbose
        var report = Report(dryRun: dryRun)
        do {
            try purge(context: context, verbose: verbose, report: &report)
        } catch {
            guard report.removed > 0 else { throw error }
            throw CommandError(.purgeFailed, StscacheSupport.describe(error)
                + " (\(report.removed) entr\(report.removed == 1 ? "y was" : "ies were") removed before this)")
        }
        context.output.stdout(report.lines.map { $0 + "\n" }.joined())
    }

    /// What stdout will say; printed only once everything succeeded.
    struct Report {
        let dryRun: Bool
        var lines: [String] = []
        var removed = 0
        var verb: String { dryRun ? "would remove" : "removed" }
    }

    private func purge(context: Context, verbose: Bool, report: inout Report) throws {
        if all {
            try purgeAll(context: context, verbose: verbose, report: &report)
            return
        }
        // The target first: an unknown profile is a mistake worth reporting even when the
        // cache is empty.
        var wanted: RoleProfile?
        if let profile {
            let files = try ConfigFiles.load(configPath: context.configFilePath,
                                             credentialsPath: context.credentialsFilePath)
            wanted = try RoleLookup(files: files, context: context, keysOnly: true).role(for: profile)
        }
        guard let cache = try CredentialCache.openExisting(context: context) else {
            report.lines.append("nothing to purge: " + nothingFound(wanted))
            return
        }
        if verbose { context.output.stderr("stscache: cache \(cache.directory.path)\n") }
        let reach = RoleLookup.reachableEntries(context: context)
        let now = context.now()
        let wantedKey = wanted.map(CredentialBroker.cacheKey(for:))

        for listing in try cache.list() {
            let selected: Bool
            if let wantedKey {
                selected = listing.stem == wantedKey.stem
            } else if let roleArn {
                selected = listing.header.map { $0.roleArn == roleArn && (sessionName == nil || $0.sessionName == sessionName) } ?? false
            } else {
                selected = Self.isUnusable(listing, now: now)
            }
            guard selected else { continue }
            let what = describe(listing, profiles: reach[listing.stem]?.profiles ?? [], now: now)
            if dryRun {
                report.lines.append("\(report.verb) \(what)")
                report.removed += 1
                continue
            }
            switch try remove(listing, key: wantedKey ?? reach[listing.stem]?.key, cache: cache, now: now) {
            case .removed:
                report.lines.append("\(report.verb) \(what)")
                report.removed += 1
            case .refreshedMeanwhile:
                report.lines.append("kept \(what): it was refreshed meanwhile")
            case .goneMeanwhile:
                break
            }
        }
        if report.removed == 0 && report.lines.isEmpty {
            report.lines.append("nothing to purge: " + nothingFound(wanted))
        }
    }

    /// Removes one entry under its lock (named by the entry's stem, so entries no profile of
    /// the current config reaches are locked too), re-checking `--expired` once the lock is held
    /// (a refresh may have finished while we waited).
    private func remove(_ listing: CacheListing, key: CacheKey?, cache: CredentialCache, now: Date) throws -> Removal {
        try cache.withEntryLock(stem: listing.stem, roleArn: listing.header?.roleArn ?? listing.stem,
                                timeout: Self.lockTimeout) {
            if expired, let key, let header = cache.readHeader(key),
               RefreshPolicy().decide(now: now, issuedAt: header.issuedAt, expiration: header.expiration) != .expired {
                return .refreshedMeanwhile
            }
            return try cache.remove(stem: listing.stem) ? .removed : .goneMeanwhile
        }
    }

    private enum Removal {
        case removed
        /// `--expired`: a refresh finished while we waited for the lock.
        case refreshedMeanwhile
        /// Another purge got there first.
        case goneMeanwhile
    }

    /// `--expired`: entries stscache will never hand out again. Expired ones, and damaged ones;
    /// an entry in a format this version does not know may belong to a newer stscache: kept.
    static func isUnusable(_ listing: CacheListing, now: Date) -> Bool {
        if let header = listing.header {
            return RefreshPolicy().decide(now: now, issuedAt: header.issuedAt, expiration: header.expiration) == .expired
        }
        if case .unsupportedVersion = listing.problem { return false }
        return true
    }

    private func describe(_ listing: CacheListing, profiles: [String], now: Date) -> String {
        guard let header = listing.header else {
            return "damaged entry \(listing.path) (\(listing.problem.map { "\($0)" } ?? "unreadable"))"
        }
        var text = "session \(header.sessionName) of \(header.roleArn)"
        if !profiles.isEmpty { text += " (profile\(profiles.count == 1 ? "" : "s") \(profiles.joined(separator: ", ")))" }
        let left = SessionDisplay.remainingSeconds(until: header.expiration, now: now)
        text += left == 0 ? ", expired" : ", \(SessionDisplay.remaining(left)) left"
        return text
    }

    private func nothingFound(_ wanted: RoleProfile?) -> String {
        if let profile, let wanted {
            return "no cached session for profile \(profile) (session \(wanted.roleSessionName) of \(wanted.roleArn))"
        }
        if let roleArn {
            return "no cached session" + (sessionName.map { " \($0)" } ?? "") + " of \(roleArn)"
        }
        return "no expired or damaged entries"
    }

    private func purgeAll(context: Context, verbose: Bool, report: inout Report) throws {
        let selection = try KeyStoreSelection.make(environment: context.environment, home: context.homeDirectory,
                                                   verbose: verbose)
        if let note = selection.note { context.output.stderr("stscache: \(note)\n") }
        let store = selection.store

        if let cache = try CredentialCache.openExisting(context: context) {
            let cacheDescription = cache.directory.path
            let listings = try cache.list()
            let count = listings.count
            if !dryRun {
                // Under each entry's lock where the config names it, so no refresh writes one back.
                for listing in listings {
                    _ = try cache.withEntryLock(stem: listing.stem, roleArn: listing.header?.roleArn ?? listing.stem,
                                                timeout: Self.lockTimeout) { try cache.remove(stem: listing.stem) }
                }
                _ = try cache.removeAll()
            }
            report.removed = count
            report.lines.append(count == 0
                ? "no cached sessions in \(cacheDescription)"
                : "\(report.verb) \(count) cached session\(count == 1 ? "" : "s") from \(cacheDescription)")
        } else {
            report.lines.append("no cache directory at \(CacheDirectory.resolvePath(environment: context.environment, home: context.homeDirectory))")
        }

        if store is EnvKeyStore {
            report.lines.append("the key is STSCACHE_CACHE_KEY in your environment: unset or change it to retire it")
        } else if !Self.keyExists(in: store) {
            report.lines.append("no key in the \(store.name) key store (\(store.location))")
        } else {
            if !dryRun { try store.deleteKey() }
            report.lines.append("\(report.verb) the key from the \(store.name) key store (\(store.location))")
        }
    }

    /// A key that cannot be read (a key file of the wrong size, say) still exists, and
    /// `--all` is how it goes away.
    static func keyExists(in store: any KeyStore) -> Bool {
        do {
            return try store.loadKey() != nil
        } catch {
            return true
        }
    }
}
