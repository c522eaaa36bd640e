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
import KeepWarm

/// `stscache list`: every cache entry, from its plaintext header, authenticated with the cache's
/// key when the key is at hand (no credentials are decrypted for display).
struct ListCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List cached sessions: role, session, the profiles using it, expiry, time left, state.",
        discussion: """
            States: valid; refresh-due (inside the refresh window: the next use refreshes it); \
            expired (past, or within a minute of, its expiry); unverified (the cache's key is not \
            at hand, so the header could not be authenticated: its times are what the file \
            claims); unreadable (a damaged, forged or foreign file, replaced on the role's next \
            use). Control characters are shown escaped. A table on a terminal, tab-separated \
            lines otherwise (no header), JSON with --json. While `stscache agent` runs, a last \
            column says what it does with each session: warm (refreshed ahead of time), \
            refreshing, failing (retrying), needs-mfa (left for the next caller at a terminal), \
            idle (not used lately), or - (not one the config reaches).
            """)

    @Flag(name: .long, help: "Print a JSON array of {roleArn, sessionName, profiles, expiration, remainingSeconds, state, verified}.")
    var json = false

    @OptionGroup var cacheOptions: CacheOptions

    struct Row: Equatable {
        var roleArn: String?
        var sessionName: String?
        var profiles: [String]
        var expiration: Date?
        var remainingSeconds: Int?
        var state: String
        var file: String
        var problem: String?
        /// The header was authenticated with the cache's key.
        var verified = false
        /// What the running agent does with it (`AgentState.Condition`), nil without an agent.
        var agent: String?
        /// The PROFILES column: the profiles a user selects (prod, not prod-role); nil shows `profiles`.
        var shown: [String]?
    }

    func run(context: Context) throws {
        let verbose = cacheOptions.verbose || context.verbose
        let rows = try Self.rows(context: context, verbose: verbose)
        if json {
            context.output.stdout(Self.json(rows))
        } else if rows.isEmpty {
            if context.output.stdoutIsTerminal { context.output.stdout("No cached sessions.\n") }
        } else if context.output.stdoutIsTerminal {
            context.output.stdout(Self.table(rows))
        } else {
            context.output.stdout(Self.tabSeparated(rows))
        }
    }

    /// The cache's entries with the profiles that reach them. A missing cache directory is an
    /// empty cache; config trouble only costs the profile names (with a warning).
    static func rows(context: Context, verbose: Bool) throws -> [Row] {
        let inventory = CacheInventory(context: context, verbose: verbose)
        guard let cache = try inventory.existingCache() else { return [] }
        let now = context.now()
        // STSCACHE_REFRESH_WINDOW (a --refresh-window on a credential_process line is not visible here).
        let policy = try RefreshWindow.policy(option: nil, environment: context.environment)
        let agent = AgentState.load(from: cache)
        let conditions = agent.running ? Dictionary(
            (agent.state?.sessions ?? []).map { ($0.stem, $0.condition.rawValue) }, uniquingKeysWith: { first, _ in first }) : nil
        return try inventory.entries(in: cache, verify: true).map { entry in
            var row = row(entry.listing, profiles: entry.profiles, now: now, policy: policy)
            row.shown = entry.shown
            if let conditions { row.agent = conditions[entry.listing.stem] ?? "-" }
            return row
        }
    }

    /// One listing as a row: the state only from an authenticated header, else `unverified`.
    static func row(_ listing: CacheListing, profiles: [String], now: Date, policy: RefreshPolicy) -> Row {
        guard let header = listing.header else {
            return Row(profiles: [], state: "unreadable", file: listing.path,
                       problem: listing.problem.map { "\($0)" } ?? "unreadable")
        }
        return Row(roleArn: header.roleArn, sessionName: header.sessionName, profiles: profiles,
                   expiration: header.expiration,
                   remainingSeconds: SessionDisplay.remainingSeconds(until: header.expiration, now: now),
                   state: listing.verified ? SessionDisplay.state(of: header, now: now, policy: policy) : "unverified",
                   file: listing.path, verified: listing.verified)
    }

    static func json(_ rows: [Row]) -> String {
        func string(_ value: String?) -> String { value.map(JSONText.quoted) ?? "null" }
        let objects = rows.map { row in
            var fields = [
                "\"roleArn\":" + string(row.roleArn),
                "\"sessionName\":" + string(row.sessionName),
                "\"profiles\":[" + row.profiles.map(JSONText.quoted).joined(separator: ",") + "]",
                "\"expiration\":" + string(row.expiration.map(Timestamps.formatRFC3339)),
                "\"remainingSeconds\":" + (row.remainingSeconds.map(String.init) ?? "null"),
                "\"state\":" + JSONText.quoted(row.state),
                "\"file\":" + JSONText.quoted(row.file),
            ]
            fields.append("\"verified\":" + (row.verified ? "true" : "false"))
            if let problem = row.problem { fields.append("\"problem\":" + JSONText.quoted(problem)) }
            if let agent = row.agent { fields.append("\"agent\":" + JSONText.quoted(agent)) }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "[" + objects.joined(separator: ",") + "]\n"
    }

    /// The row's cells, every one escaped for a terminal: a header is file content, and text
    /// from it must not move the cursor, retitle the window or split a TSV line.
    static func cells(_ row: Row) -> [String] {
        let agent = row.agent.map { [$0] } ?? []
        guard let roleArn = row.roleArn, let session = row.sessionName, let expiration = row.expiration else {
            return ([row.file, "-", "-", "-", "-", "unreadable (\(row.problem ?? "unknown"))"] + agent).map { TerminalText.escaped($0) }
        }
        let profiles = row.shown ?? row.profiles
        return ([roleArn, session, profiles.isEmpty ? "-" : profiles.joined(separator: ","),
                 Timestamps.formatRFC3339(expiration), SessionDisplay.remaining(row.remainingSeconds ?? 0), row.state] + agent)
            .map { TerminalText.escaped($0) }
    }

    /// Aligned columns under a header, for people.
    static func table(_ rows: [Row]) -> String {
        let header = ["ROLE", "SESSION", "PROFILES", "EXPIRES", "LEFT", "STATE"] + (rows.contains { $0.agent != nil } ? ["AGENT"] : [])
        return TextTable.aligned([header] + rows.map(cells))
    }

    /// The table's cells, tab-separated, no header: for `cut`, `awk` and `while read`.
    static func tabSeparated(_ rows: [Row]) -> String {
        rows.map { cells($0).joined(separator: "\t") + "\n" }.joined()
    }
}
