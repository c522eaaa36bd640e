import Credentials
import ArgumentParser
import AWSConfig
import CredentialCache
import STS
import StscacheSupport


/// Options every cache-touching command shares.
struct CacheOptions: ParsableArguments {
    @Flag(name: .long, help: "Explain on stderr which key store and cache directory are used.")
    var verbose = false
}

struct CredentialProcessCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential-process",
        abstract: "Print a role's credentials as credential_process JSON, from the cache or STS.")

    @Option(name: .long, help: "The profile whose role to assume (a role profile, or one delegating to stscache).",
            completion: .profileNames)
    var profile: String

    @Flag(name: .long, help: "Ignore the cached session and call STS.")
    var forceRefresh = false

    @Option(name: .long, help: "Refresh when less than this is left, e.g. 900, 15m, 1h (default 15m, at most half the session).")
    var refreshWindow: String?

    /// The agent's refresh: no credentials on stdout, and no serving the cached session when the
    /// refresh fails (the failure is the answer). Not for people: hidden from help.
    @Flag(name: .long, help: .private)
    var refreshOnly = false

    /// The agent's lead before the refresh window (`RefreshPolicy.lead`). Not for people.
    @Option(name: .long, help: .private)
    var lead: String?

    @OptionGroup var cacheOptions: CacheOptions

    var options: CredentialProcessOptions {
        CredentialProcessOptions(profile: profile, forceRefresh: forceRefresh, refreshWindow: refreshWindow,
                                 lead: lead, verbose: cacheOptions.verbose, refreshOnly: refreshOnly)
    }

    func run(context: Context) throws {
        try Self.run(options, context: context)
    }

    /// The command itself, shared by the parser and `FastPath`.
    static func run(_ options: CredentialProcessOptions, context: Context) throws {
        var policy = try RefreshWindow.policy(option: options.refreshWindow, environment: context.environment)
        policy.lead = try RefreshWindow.parse(options.lead) ?? 0
        let resources = try CommandResources.open(context: context, verbose: options.verbose || context.verbose)
        var role = try resources.resolve(profile: options.profile)
        // A caller scope costs one read of the parent's command line, and only in a profile with one.
        if let callers = role.callerScope, !options.refreshOnly, callers.matches(CallerProcess.names()) {
            role = callers.scope.applied(to: role)
        }
        var broker = resources.broker(policy: policy)
        broker.forceRefresh = options.forceRefresh
        broker.servesCachedOnFailure = !options.refreshOnly
        // The agent's refreshes hand nothing out: they are not recorded.
        let audit = options.refreshOnly ? nil : try AuditLog.open(context: context, cache: resources.cache)
        let (credentials, origin) = try broker.handOut(for: role)
        guard !options.refreshOnly else { return }
        context.output.stdout(CredentialOutput.json(credentials))
        audit?.record(.credentialProcess, profile: options.profile, role: role, credentials: credentials, origin: origin,
                      caller: AuditLog.parent())
    }
}

/// What `credential-process` was asked, however it was parsed.
struct CredentialProcessOptions: Equatable {
    var profile: String
    var forceRefresh = false
    var refreshWindow: String?
    var lead: String?
    var verbose = false
    /// `--refresh-only` (the agent's refreshes).
    var refreshOnly = false
}
