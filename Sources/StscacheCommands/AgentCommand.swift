#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CredentialCache
import Credentials
import StscacheSupport
import KeepWarm

/// `stscache agent`: the caching agent in the foreground (for `systemd --user`), and
/// `stscache agent status`.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep recently used sessions warm so no caller waits for STS.",
        discussion: """
            Runs in the foreground until SIGTERM or SIGINT (the stscache-agent.service user unit \
            the install puts in place, or --install-unit writes, runs it under systemd --user). Sessions served in the last --keep-for are refreshed \
            --lead (at most a quarter of the session's lifetime) before the callers' refresh window \
            opens, through the same cache entries and \
            locks as every caller. It never asks for an MFA code: a session that needs one is left \
            for the next caller at a terminal (see `stscache agent status` and `stscache list`), \
            and when such a session (a new MFA code, an IAM Identity Center sign-in) will expire \
            within STSCACHE_NOTIFY_LEAD (default 10m; 0: never), the person is told once, with \
            notify-send (or gdbus) and in the log, naming the profile and the command to run. \
            SIGHUP re-reads the config; config and cache changes are also seen by themselves.
            """,
        subcommands: [AgentRunCommand.self, AgentStatusCommand.self],
        defaultSubcommand: AgentRunCommand.self)
}

struct AgentRunCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the agent in the foreground (the default).")

    @Option(name: .long, help: "Keep sessions used within this long warm, e.g. 12h, 30m (default 12h).")
    var keepFor: String?

    @Option(name: .long, help: "Refresh this long before the callers' refresh window opens, at most a quarter of the session's lifetime (default 5m).")
    var lead: String?

    @Option(name: .long, help: "The callers' refresh window, if not STSCACHE_REFRESH_WINDOW's (default 15m).")
    var refreshWindow: String?

    @Flag(name: .long, help: "Write the systemd user unit (~/.config/systemd/user/stscache-agent.service, ExecStart this binary) and say how to start it; do not run the agent.")
    var installUnit = false

    func run(context: Context) throws {
        if installUnit {
            try Self.installUnit(context: context)
            return
        }
        func duration(_ text: String?, _ option: String, default value: Double) throws -> Double {
            guard let text else { return value }
            guard let seconds = parseDuration(text), seconds >= 0 else {
                throw ValidationError("--\(option) \(text) is not a duration; use e.g. 900, 15m or 12h.")
            }
            return seconds
        }
        let plan = KeepWarmPlan(callers: try RefreshWindow.policy(option: refreshWindow, environment: context.environment),
                                lead: try duration(lead, "lead", default: 5 * 60),
                                keepFor: try duration(keepFor, "keep-for", default: 12 * 3600))
        var settings = CachingAgent.Settings(plan: plan, executable: Self.executablePath())
        settings.notifyLead = try PersonNeeded.lead(environment: context.environment)
        settings.notifier = DesktopNotifier(environment: context.environment)
        let agent = try CachingAgent(context: context, settings: settings)
        let status = agent.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// `--install-unit`: for installs that did not put the unit where systemd looks (a binary
    /// copied by hand, an unusual prefix).
    static func installUnit(context: Context) throws {
        guard let executable = ownExecutablePath() else {
            throw CommandError(.unitFileError, "cannot find this program's own path (/proc/self/exe); is /proc mounted?")
        }
        guard let text = AgentUnit.text(executable: executable) else {
            throw CommandError(.unitFileError, "this binary's path (\(TerminalText.escaped(executable))) has characters a "
                + "unit's ExecStart would need quoted; install it under a plainer path (scripts/install --prefix ~/.local).")
        }
        let directory = AgentUnit.directory(context: context)
        let outcome = try AgentUnit.install(text: text, directory: directory)
        let path = directory + "/" + AgentUnit.fileName
        context.output.stdout((outcome == .written ? "Wrote \(path)" : "\(path) is already this unit")
            + " (ExecStart=\(executable) agent).\nStart the agent now and at every login:\n"
            + "  systemctl --user daemon-reload && systemctl --user enable --now stscache-agent\n")
    }

    /// This binary, for the refresh children.
    static func executablePath() -> String {
        ownExecutablePath() ?? CommandLine.arguments.first ?? "stscache"
    }
}

struct AgentStatusCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Say whether the agent runs, what it keeps warm and when each refresh is next.",
        discussion: "Exit status 0 when an agent runs on this cache, 3 when none does (as `systemctl status`).")

    @Flag(name: .long, help: "Print the agent's state as JSON: {running, pid, sessions: [...]}.")
    var json = false

    func run(context: Context) throws {
        let inventory = CacheInventory(context: context, verbose: context.verbose)
        let loaded: (state: AgentState?, running: Bool) =
            try inventory.existingCache().map { AgentState.load(from: $0) } ?? (nil, false)
        if json {
            context.output.stdout(Self.json(loaded.state, running: loaded.running))
        } else {
            context.output.stdout(Self.text(loaded.state, running: loaded.running))
        }
        if !loaded.running { throw ExitCode(3) }
    }

    static func text(_ state: AgentState?, running: Bool) -> String {
        guard running, let state else {
            return "stscache agent: not running (start it with `stscache agent`, or `systemctl --user start stscache-agent`)\n"
        }
        let summary = "stscache agent: running (pid \(state.pid), since \(format(state.started))); keeps sessions used in "
            + "the last \(CachingAgent.duration(state.keepFor)) warm, refreshing \(CachingAgent.duration(state.lead)) "
            + "before the \(CachingAgent.duration(state.window)) window"
        guard !state.sessions.isEmpty else { return summary + "\nNo cached sessions reachable from the config.\n" }
        let rows = [["PROFILE", "ROLE", "EXPIRES", "NEXT REFRESH", "LAST USED", "STATE"]] + state.sessions.map { record in
            var condition = record.condition.rawValue
            if let error = record.lastError, record.condition == .failing || record.condition == .needsMFA {
                condition += ": " + error
            }
            // The profiles a user selects (prod), not the role half the agent refreshes (prod-role).
            let typed = record.profiles.filter { $0 != record.profile }
            return [typed.isEmpty ? record.profile : typed.joined(separator: ","), record.roleArn, format(record.expiration),
                    record.nextRefresh.map(format) ?? "-", format(record.lastUsed), condition]
                .map { TerminalText.escaped($0) }
        }
        return summary + "\n" + TextTable.aligned(rows)
    }

    static func json(_ state: AgentState?, running: Bool) -> String {
        guard let state else { return "{\"running\":\(running)}\n" }
        func time(_ seconds: Double?) -> String { seconds.map { JSONText.quoted(format($0)) } ?? "null" }
        let sessions = state.sessions.map { (record: AgentState.Record) -> String in
            var fields: [String] = []
            fields.append("\"profile\":" + JSONText.quoted(record.profile))
            fields.append("\"profiles\":[" + record.profiles.map(JSONText.quoted).joined(separator: ",") + "]")
            fields.append("\"roleArn\":" + JSONText.quoted(record.roleArn))
            fields.append("\"expiration\":" + time(record.expiration))
            fields.append("\"nextRefresh\":" + time(record.nextRefresh))
            fields.append("\"lastUsed\":" + time(record.lastUsed))
            fields.append("\"state\":" + JSONText.quoted(record.condition.rawValue))
            fields.append("\"failures\":" + String(record.failures))
            fields.append("\"lastError\":" + (record.lastError.map(JSONText.quoted) ?? "null"))
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"running\":\(running),\"pid\":\(state.pid),\"updated\":\(time(state.updated)),"
            + "\"sessions\":[" + sessions.joined(separator: ",") + "]}\n"
    }

    private static func format(_ seconds: Double) -> String {
        Timestamps.formatRFC3339(Date(timeIntervalSince1970: seconds))
    }
}
