import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport

/// A role's credentials through the broker, for `export` and `exec`: the selected profile is
/// followed to its role profile (the delegating pattern) as `prompt` and `credential-process` do.
package struct RoleCredentials {
    package let files: ConfigFiles
    /// The profile the user named.
    package let profile: String
    package let role: RoleProfile
    package let credentials: AWSCredentials
    /// The refresh policy the credentials were served under (`--refresh-window`, else
    /// `STSCACHE_REFRESH_WINDOW`, else the default).
    package let policy: RefreshPolicy
    /// Where `credentials` came from (for the audit log).
    package let origin: CredentialBroker.Origin
    /// The audit log (nil when `STSCACHE_AUDIT=off`), on the command's cache.
    package let audit: AuditLog?
    /// The same role's credentials again, through the same cache and refresh window (a server
    /// handing them out for a child's lifetime), and where they came from.
    package let handOutAgain: () throws -> (credentials: AWSCredentials, origin: CredentialBroker.Origin)
    package var fetchAgain: () throws -> AWSCredentials { { [handOutAgain] in try handOutAgain().credentials } }
    /// The refresh window of the session `credentials` belong to, from its own lifetime (the
    /// cache entry's issue time): what must be left on them for the policy to call them fresh.
    package let window: (AWSCredentials) -> Double
    /// The broker's network settings, for the command's own calls after the fetch: parsed once
    /// in the run, by whichever needs them first.
    package let settings: LazyNetworkSettings

    package static func fetch(context: Context, profile: String, refreshWindow: String?, verbose: Bool) throws -> RoleCredentials {
        let policy = try RefreshWindow.policy(option: refreshWindow, environment: context.environment)
        let resources = try CommandResources.open(context: context, verbose: verbose)
        let role = try resources.resolve(profile: profile)
        let broker = resources.broker(policy: policy)
        let key = CredentialBroker.cacheKey(for: role)
        let audit = try AuditLog.open(context: context, cache: resources.cache)
        let (credentials, origin) = try broker.handOut(for: role)
        return RoleCredentials(
            files: resources.files, profile: profile, role: role, credentials: credentials, policy: policy,
            origin: origin, audit: audit, handOutAgain: { try broker.handOut(for: role, forceRefresh: false) },
            window: { credentials in
                guard let expiration = credentials.expiration else { return 0 }
                // Not in the cache (its write failed): issued just now, as far as anyone knows.
                let header = resources.cache.readHeader(key).flatMap { $0.expiration == expiration ? $0 : nil }
                return policy.effectiveWindow(issuedAt: header?.issuedAt ?? context.now(), expiration: expiration)
            },
            settings: broker.settings)
    }

    /// Records this hand-out (`credentials`) by `command` to the process that ran stscache.
    package func recordHandOut(_ command: AuditRecord.Command) {
        audit?.record(command, profile: profile, role: role, credentials: credentials, origin: origin,
                      caller: AuditLog.parent())
    }
}
