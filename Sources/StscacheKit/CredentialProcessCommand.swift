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

    @Option(name: .long, help: "The role profile to assume (the one with role_arn).")
    var profile: String

    @Flag(name: .long, help: "Ignore the cached session and call STS.")
    var forceRefresh = false

    @Option(name: .long, help: "Refresh when less than this is left, e.g. 900, 15m, 1h (default 15m, at most half the session).")
    var refreshWindow: String?

    @OptionGroup var cacheOptions: CacheOptions

    var options: CredentialProcessOptions {
        CredentialProcessOptions(profile: profile, forceRefresh: forceRefresh, refreshWindow: refreshWindow,
                                 verbose: cacheOptions.verbose)
    }

    func run(context: Context) throws {
        try Self.run(options, context: context)
    }

    /// The command itself, shared by the parser and `FastPath`.
    static func run(_ options: CredentialProcessOptions, context: Context) throws {
        let window = try RefreshWindow.parse(options.refreshWindow ?? context.environment["STSCACHE_REFRESH_WINDOW"])
        let resources = try CommandResources.open(context: context, verbose: options.verbose || context.verbose)
        let role = try resources.resolve(profile: options.profile)
        var broker = resources.broker(policy: RefreshPolicy(window: window))
        broker.forceRefresh = options.forceRefresh
        let credentials = try broker.credentials(for: role)
        context.output.stdout(CredentialOutput.json(credentials))
    }
}

/// What `credential-process` was asked, however it was parsed.
struct CredentialProcessOptions: Equatable {
    var profile: String
    var forceRefresh = false
    var refreshWindow: String?
    var verbose = false
}

/// What a credential-touching command opens: the config files, the cache and the key store.
struct CommandResources {
    let context: Context
    let files: ConfigFiles
    let cache: CredentialCache
    let keyStore: any KeyStore

    static func open(context: Context, verbose: Bool) throws -> CommandResources {
        let files = try ConfigFiles.load(configPath: context.configFilePath,
                                         credentialsPath: context.credentialsFilePath)
        let cache = try CredentialCache.open(environment: context.environment, home: context.homeDirectory)
        let selection = try KeyStoreSelection.make(environment: context.environment, home: context.homeDirectory,
                                                   verbose: verbose)
        if verbose {
            if let note = selection.note { context.output.stderr("stscache: \(note)\n") }
            context.output.stderr("stscache: cache \(cache.directory.path), key store \(selection.store.name) (\(selection.store.location))\n")
        }
        return CommandResources(context: context, files: files, cache: cache, keyStore: selection.store)
    }

    func resolve(profile: String) throws -> RoleProfile {
        try ProfileResolver(files: files, environment: context.environment, policy: context.resolutionPolicy)
            .resolve(profile: profile)
    }

    func broker(policy: RefreshPolicy) -> CredentialBroker {
        var broker = CredentialBroker(context: context, cache: cache, keyStore: keyStore, policy: policy)
        broker.lockTimeout = NetworkSettings.lockTimeout(environment: context.environment)
        return broker
    }
}

enum RefreshWindow {
    /// Seconds from `900`, `900s`, `15m` or `1h`; nil input means the default.
    static func parse(_ text: String?) throws -> Double? {
        guard let text = text?.trimmingWhitespace(), !text.isEmpty else { return nil }
        var digits = Substring(text)
        var unit: Double = 1
        switch digits.last {
        case "s": digits = digits.dropLast()
        case "m": unit = 60; digits = digits.dropLast()
        case "h": unit = 3600; digits = digits.dropLast()
        default: break
        }
        guard let value = Double(digits), value >= 0, value.isFinite else {
            throw UsageError("refresh window '\(text)' is not a duration; use seconds (900) or 15m / 1h")
        }
        return value * unit
    }
}

/// A command-line or environment setting that is not usable (`--refresh-window`, timeouts).
struct UsageError: UserFacingError {
    let message: String
    var errorCode: String { "usage.invalid-setting" }
    init(_ message: String) { self.message = message }
}
