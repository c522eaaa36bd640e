import AWSConfig
import CredentialCache
import StscacheSupport

/// What a credential-touching command opens: the config files, the cache and the key store.
package struct CommandResources {
    package let context: Context
    package let files: ConfigFiles
    package let cache: CredentialCache
    package let keyStore: any KeyStore

    package static func open(context: Context, verbose: Bool) throws -> CommandResources {
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

    package func resolve(profile: String) throws -> RoleProfile {
        try ProfileResolver(files: files, environment: context.environment, policy: context.resolutionPolicy)
            .resolve(profile: profile)
    }

    package func broker(policy: RefreshPolicy) -> CredentialBroker {
        CredentialBroker(context: context, cache: cache, keyStore: keyStore, policy: policy)
    }
}

package enum RefreshWindow {
    /// The policy a command judges sessions by: its `--refresh-window` when given, else
    /// `STSCACHE_REFRESH_WINDOW`, else the default. The one reader of the variable, and not
    /// part of `NetworkSettings`: a cache hit needs it, and only it.
    package static func policy(option: String?, environment: [String: String]) throws(UsageError) -> RefreshPolicy {
        RefreshPolicy(window: try parse(option ?? environment["STSCACHE_REFRESH_WINDOW"]))
    }

    /// Seconds from `900`, `900s`, `15m` or `1h`; nil input means the default.
    package static func parse(_ text: String?) throws(UsageError) -> Double? {
        guard let text = text?.trimmingWhitespace(), !text.isEmpty else { return nil }
        guard let seconds = parseDuration(text) else {
            throw UsageError(.invalidSetting, "refresh window '\(text)' is not a duration; use seconds (900) or 15m / 1h")
        }
        return seconds
    }
}

/// A command-line or environment setting that is not usable (`--refresh-window`, timeouts).
package typealias UsageError = CodedError<UsageErrorCode>

/// The codes of `UsageError`: `usage.<code>`.
package enum UsageErrorCode: String, ErrorCode {
    package static let domain = "usage"

    case invalidSetting = "invalid-setting"
    /// A session scope (`exec --policy-arn`) for a profile that cannot take one.
    case scopeRefused = "scope-refused"
}
