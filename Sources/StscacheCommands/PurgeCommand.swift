#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import AWSConfig
import CredentialCache
import StscacheSupport
import Credentials

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
            and the agent's record (agent.json) and the audit log (audit.log, audit.log.1), and deletes \
            the key from the selected key store (STSCACHE_KEY_STORE).
            """)

    @Option(name: .long, help: "Remove the session of this profile (a role profile, or one delegating to stscache).",
            completion: .profileNames)
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
        let inventory = CacheInventory(context: context, verbose: verbose)
        if all {
            try purgeAll(inventory, report: &report)
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
        guard let cache = try inventory.existingCache() else {
            report.lines.append("nothing to purge: " + nothingFound(wanted))
            return
        }
        let now = context.now()
        let wantedKey = wanted.map(CredentialBroker.cacheKey(for:))
        for var entry in try inventory.entries(in: cache, verify: false) {
            let header = entry.listing.header
            if let wantedKey {
                guard entry.listing.stem == wantedKey.stem else { continue }
                entry.key = wantedKey
            } else if let roleArn {
                guard let header, header.roleArn == roleArn, sessionName == nil || header.sessionName == sessionName
                else { continue }
            } else {
                guard CacheInventory.isUnusable(entry.listing, now: now) else { continue }
            }
            let what = describe(entry.listing, profiles: entry.profiles, now: now)
            switch dryRun ? .removed : try inventory.remove(entry, from: cache, onlyIfUnusable: expired) {
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

    private func purgeAll(_ inventory: CacheInventory, report: inout Report) throws {
        let context = inventory.context
        let store = try inventory.keyStore()
        if let cache = try inventory.existingCache() {
            let count = dryRun ? try cache.list().count : try inventory.removeAll(from: cache)
            report.removed = count
            report.lines.append(count == 0
                ? "no cached sessions in \(cache.directory.path)"
                : "\(report.verb) \(count) cached session\(count == 1 ? "" : "s") from \(cache.directory.path)")
            // The agent's record names profiles and role ARNs: it goes with the sessions.
            if dryRun ? cache.hasAgentState() : try cache.removeAgentState() {
                report.lines.append("\(report.verb) the agent's record \(cache.directory.pathOf(CredentialCache.agentStateName))"
                    + (cache.agentIsRunning() ? " (the running agent writes it again; stop it first to keep it gone)" : ""))
            }
            // The audit log names profiles, roles and programs: it goes with the sessions (docs/audit.md).
            let logs = try cache.removeAuditLogs(dryRun: dryRun)
            if !logs.isEmpty {
                report.lines.append("\(report.verb) the audit log (\(logs.joined(separator: ", ")) in \(cache.directory.path))")
            }
        } else {
            report.lines.append("no cache directory at \(CacheDirectory.resolvePath(environment: context.environment, home: context.homeDirectory))")
        }

        if store is EnvKeyStore {
            report.lines.append("the key is STSCACHE_CACHE_KEY in your environment: unset or change it to retire it")
        } else if !CacheInventory.keyExists(in: store) {
            report.lines.append("no key in the \(store.name) key store (\(store.location))")
        } else {
            if !dryRun { try store.deleteKey() }
            report.lines.append("\(report.verb) the key from the \(store.name) key store (\(store.location))")
        }
    }
}
