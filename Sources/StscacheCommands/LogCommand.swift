import ArgumentParser
import CredentialCache
import StscacheSupport
import Credentials

/// `stscache log`: the audit log's records (which local process got which credentials), newest
/// last, filtered. Reads `audit.log.1` then `audit.log`; lines that are not records are skipped
/// (the file is the user's to write, so it may hold anything), and every field is escaped
/// before it reaches the terminal.
struct LogCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show which local process got which credentials (the audit log), e.g. --key-id ASIA...",
        discussion: """
            Each hand-out (credential-process, export, exec, the exec --server endpoint, console) \
            is one record: time, command, profile, role, session name, access key id, expiry, \
            where it came from (cache, sts, stale-if-error) and the process that asked. Paste the \
            access key id of a CloudTrail event into --key-id to see which process used it. \
            STSCACHE_AUDIT=off stops recording. Format, rotation and limits: docs/audit.md.
            """)

    @Option(name: .long, help: "Only records this recent: a duration (90s, 15m, 2h, 3d) or a time (2026-01-31T09:00:00Z).")
    var since: String?

    @Option(name: .long, help: "Only records of this profile.")
    var profile: String?

    @Option(name: .customLong("key-id"), help: "Only records of this access key id (as CloudTrail shows it).")
    var keyId: String?

    @Option(name: .long, help: "Only records whose caller's executable or arguments contain this text.")
    var caller: String?

    @Flag(name: .long, help: "Print a JSON array of the records.")
    var json = false

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let query = AuditQuery(since: try since.map { try AuditQuery.since($0, now: context.now()) },
                               profile: profile, keyId: keyId, caller: caller)
        let verbose = cacheOptions.verbose || context.verbose
        let bytes = try CacheInventory(context: context, verbose: verbose).existingCache()?.readAuditLogs() ?? []
        let (entries, skipped) = AuditEntry.parse(bytes)
        if skipped > 0 && verbose {
            context.output.stderr("stscache: skipped \(skipped) line\(skipped == 1 ? "" : "s") of the audit log that are not records\n")
        }
        let matching = entries.filter(query.matches)
        if json {
            context.output.stdout("[" + matching.map(\.json).joined(separator: ",\n") + "]\n")
        } else if !matching.isEmpty {
            context.output.stdout(Self.table(matching))
        } else if context.output.stdoutIsTerminal {
            context.output.stdout("No matching records.\n")
        }
    }

    static func table(_ entries: [AuditEntry]) -> String {
        let header = ["TIME", "COMMAND", "PROFILE", "KEY ID", "EXPIRES", "FROM", "CALLER"]
        let rows = entries.map { entry in
            [entry.time, entry.command, entry.profile, entry.accessKeyId, entry.expiration ?? "-", entry.origin ?? "-",
             entry.callerText].map { TerminalText.escaped(oneLine($0)) }
        }
        return TextTable.aligned([header] + rows)
    }
}
