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
    /// The profile is not a role: its long-term keys from stscache's store, handed out as they
    /// are (aws-vault's `--no-session`). `role` then only names the profile and its region.
    package var isLongTermKeys = false

    /// `scope`: session policies for this session (`exec --policy-arn`), refused for a profile that
    /// cannot take them (`SessionScope.refusal`), else a session of its own under its own cache key.
    package static func fetch(context: Context, profile: String, refreshWindow: String?, verbose: Bool,
                              scope: SessionScope? = nil) throws -> RoleCredentials {
        let policy = try RefreshWindow.policy(option: refreshWindow, environment: context.environment)
        let resources = try CommandResources.open(context: context, verbose: verbose)
        // The resolver follows a delegating profile itself; a profile that is neither a role
        // nor a delegation may still be stored keys, handed out as they are.
        var role: RoleProfile
        do {
            role = try resources.resolve(profile: profile)
        } catch let error as ConfigError where error.code == .missingRoleArn || error.code == .unknownProfile {
            guard let direct = try longTermKeys(resources: resources, profile: profile, policy: policy) else { throw error }
            if scope != nil {
                throw UsageError(.scopeRefused, "profile \"\(oneLine(profile))\" is long-term keys from stscache's store, not a "
                    + "role: there is no AssumeRole to take a session policy, so --policy-arn/--policy-file cannot scope "
                    + "it; use a role profile whose source_profile is \(oneLine(profile)).")
            }
            return direct
        }
        if let scope {
            if let refusal = scope.refusal(for: role, origin: "--policy-arn/--policy-file") {
                throw UsageError(.scopeRefused, refusal)
            }
            role = scope.applied(to: role)
        }
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

    /// A profile with no role whose keys are in stscache's store (and in no file: both places is
    /// refused when a session is made, and here too): the long-term keys themselves. nil when the
    /// store has none for it, so the resolver's error stands.
    private static func longTermKeys(resources: CommandResources, profile: String,
                                     policy: RefreshPolicy) throws -> RoleCredentials? {
        let files = resources.files
        if let existing = files.profile(named: profile),
           ["credential_process", "sso_session", "sso_start_url", "sso_account_id", "web_identity_token_file",
            "credential_source", "source_profile"].contains(where: { existing.string($0) != nil }) {
            return nil
        }
        let context = resources.context
        let broker = resources.broker(policy: policy)
        let stored = StoredKeys(context: context, cacheKeyStore: resources.keyStore, lockTimeout: try broker.settings.get().lockTimeout)
        guard (try? stored.store.profileNames())?.contains(profile) == true else { return nil }
        if let existing = files.profile(named: profile), existing.string("aws_access_key_id") != nil {
            throw KeysError.storedAndPlaintext(profile: profile, credentialsPath: context.credentialsFilePath)
        }
        let keys = try stored.credentials(for: profile, roleProfile: profile)
        let role = RoleProfile(name: profile, roleArn: "", roleSessionName: "",
                               region: files.profile(named: profile)?.string("region") ?? "us-east-1",
                               source: .storedKeys(profile: profile))
        var fetched = RoleCredentials(files: files, profile: profile, role: role, credentials: keys, policy: policy,
                                      origin: .longTermKeys, audit: try AuditLog.open(context: context, cache: resources.cache),
                                      handOutAgain: { (keys, .longTermKeys) }, window: { _ in 0 }, settings: broker.settings)
        fetched.isLongTermKeys = true
        return fetched
    }

    /// Records this hand-out (`credentials`) by `command` to the process that ran stscache.
    package func recordHandOut(_ command: AuditRecord.Command) {
        audit?.record(command, profile: profile, role: role, credentials: credentials, origin: origin,
                      caller: AuditLog.parent())
    }
}
