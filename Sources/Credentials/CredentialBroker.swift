#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import CredentialCache
import OpenSSLCrypto
import SigV4
import STS
import Transport
import StscacheSupport

/// Resolve → cache lookup → lock → STS → cache write: the one path every session takes
/// (`session(_:fetch:)`), role sessions and MFA sessions alike.
///
/// The hit path reads one entry and decrypts it; it never builds a transport (so libcurl is never
/// loaded) and never takes a lock. Only a miss locks the entry, re-reads it (another process may
/// have refreshed it while we waited), and calls STS.
package struct CredentialBroker {
    package let context: Context
    package let cache: CredentialCache
    package let keyStore: any KeyStore
    package let policy: RefreshPolicy
    /// Skip the cache for the requested role (not for the sources it is chained from).
    package var forceRefresh: Bool = false
    /// When the requested role's refresh fails, serve its cached session while it is still
    /// valid (with a warning). The agent turns this off: a refresh that did not happen must
    /// fail, so it can say why and retry. Sessions the role is made from keep their fallback.
    package var servesCachedOnFailure = true
    /// Timeouts, retries, proxies and lock waits: parsed on the first miss, never on a hit.
    package var settings: LazyNetworkSettings
    /// MFA prompt terminal and the codes already sent (CredentialSources/SessionCreation.swift).
    package var sources = SourceOptions()

    package init(context: Context, cache: CredentialCache, keyStore: any KeyStore, policy: RefreshPolicy) {
        (self.context, self.cache, self.keyStore, self.policy) = (context, cache, keyStore, policy)
        settings = LazyNetworkSettings(environment: context.environment)
    }

    /// Credentials for `role`, valid for at least the refresh safety margin.
    package func credentials(for role: RoleProfile, forceRefresh force: Bool? = nil) throws -> AWSCredentials {
        try handOut(for: role, forceRefresh: force).credentials
    }

    /// Where handed-out credentials came from, for the audit log.
    package enum Origin: String, Sendable {
        /// A fresh cached session.
        case cache
        /// Fetched now (STS, the portal, ...) and stored.
        case sts
        /// The refresh failed and the still-valid cached session was served.
        case staleIfError = "stale-if-error"
        /// An `aws login` session's own file (served from it, or refreshed into it: the login's
        /// source does not say which).
        case loginSession = "login-session"
        /// Long-term keys from stscache's own store (`export` and `exec` of a keys-only profile).
        case longTermKeys = "long-term-keys"
    }

    /// `credentials(for:)`, and where they came from.
    package func handOut(for role: RoleProfile, forceRefresh force: Bool? = nil) throws
        -> (credentials: AWSCredentials, origin: Origin)
    {
        // A credential_process helper up the process tree is resolving this profile: calling
        // it again would loop.
        try ProcessChain.refuseLoop(profile: role.name, environment: context.environment)
        // The login's own file is its cache (docs/DESIGN.md, "aws login sessions").
        if case .loginSession(let settings) = role.source {
            let login = try loginSessionCredentials(settings, forceRefresh: force ?? forceRefresh)
            var credentials = login.credentials
            // The signed-in identity's account, from the session file (validated there).
            credentials.accountId = login.accountId
            return (credentials, .loginSession)
        }
        let request = SessionRequest(
            key: Self.cacheKey(for: role), subject: role.roleArn, principal: principalKeys(role.source),
            policy: policy, forceRefresh: force ?? forceRefresh, servesCachedOnFailure: servesCachedOnFailure)
        var handed = try sessionWithOrigin(request) { try createSession(for: role) }
        // From the config, not the entry: the hit path reads nothing more for it.
        handed.credentials.accountId = role.accountId
        return handed
    }

    /// One session through the cache: which entry, whose it is, and when it is due.
    package struct SessionRequest {
        var key: CacheKey
        /// What the session is of, for messages (a role ARN, an MFA device).
        var subject: String
        /// The source keys the session is bound to (`PrincipalBinding`), nil for none.
        var principal: (accessKeyId: String, secretAccessKey: String)?
        var policy: RefreshPolicy
        var forceRefresh = false
        var servesCachedOnFailure = true
    }

    /// The session pipeline every kind of session goes through: key → read → fresh? → lock →
    /// re-read (waiters answer as soon as the entry lands) → `fetch` → check → store → serve.
    ///
    /// - A fresh entry is served without a lock, a transport or a key store write.
    /// - A session inside its refresh window is refreshed; if the refresh fails while the entry
    ///   is still valid (before expiry minus the safety margin), the entry is served with a
    ///   warning. An expired entry is never served.
    /// - `forceRefresh` skips the cache for this session (not for the sessions it is made from).
    /// - An entry fetched with other source keys is a miss, and never the fallback.
    /// - A failed cache write is a warning: the fresh session is still served.
    package func session(_ request: SessionRequest, fetch: () throws -> AWSCredentials) throws -> AWSCredentials {
        try sessionWithOrigin(request, fetch: fetch).credentials
    }

    /// `session(_:fetch:)`, and whether the answer was the cache's, a fetch's, or the cache's
    /// after a failed fetch.
    package func sessionWithOrigin(_ request: SessionRequest, fetch: () throws -> AWSCredentials) throws
        -> (credentials: AWSCredentials, origin: Origin)
    {
        let force = request.forceRefresh
        if !force, let cached = freshEntry(request) {
            return (Self.awsCredentials(cached), .cache)
        }
        // A mistyped timeout must not turn into a default silently, nor wait on the lock first.
        let lockTimeout = try settings.get().lockTimeout
        // While another process refreshes this entry, answer from it as soon as it lands.
        let whileWaiting = { () -> (credentials: AWSCredentials, origin: Origin)? in
            guard !force, let cached = freshEntry(request) else { return nil }
            return (Self.awsCredentials(cached), .cache)
        }
        return try cache.withEntryLock(request.key, timeout: lockTimeout, whileWaiting: whileWaiting) {
            let encryptionKey = try keyStore.loadOrCreateKey()
            let principal = Self.binding(request.principal, encryptionKey: encryptionKey)
            var fallback: CachedCredentials?
            if case .hit(let cached, let header) = cache.read(request.key, encryptionKey: encryptionKey, principal: principal) {
                switch request.policy.decide(now: context.now(), issuedAt: header.issuedAt, expiration: cached.expiration) {
                case .fresh where !force: return (Self.awsCredentials(cached), .cache)
                case .fresh, .refreshDue: fallback = cached
                case .expired: break
                }
            }

            let fresh: AWSCredentials
            do {
                fresh = try fetch()
            } catch {
                // Still valid: better to serve what we have than to fail the caller's command.
                if request.servesCachedOnFailure, let fallback,
                   context.now() < fallback.expiration.addingTimeInterval(-RefreshPolicy.safetyMargin) {
                    let remaining = Int(fallback.expiration.timeIntervalSince(context.now()) / 60)
                    context.output.stderr(
                        "stscache: warning: could not refresh \(request.subject) (\(describe(error))); "
                            + "using cached credentials valid for \(remaining) more minutes\n")
                    return (Self.awsCredentials(fallback), .staleIfError)
                }
                throw error
            }

            try store(fresh, for: request.key, encryptionKey: encryptionKey, principal: principal)
            return (fresh, .sts)
        }
    }

    /// Checks a session STS just issued and shares it through the cache. A write failure is a
    /// warning only: the credentials are good, and the caller still gets them.
    package func store(_ fresh: AWSCredentials, for key: CacheKey, encryptionKey: [UInt8], principal: [UInt8]) throws {
        guard let expiration = fresh.expiration, let token = fresh.sessionToken else {
            throw BrokerError.incompleteCredentials(key.roleArn)
        }
        // Never print credentials that are expired by our own clock: every SDK would reject
        // them (or call us again at once). Either the local clock is far ahead or the endpoint
        // is not STS.
        if expiration <= context.now() {
            throw BrokerError.expiredOnArrival(key.roleArn, expiration: expiration, now: context.now())
        }
        do {
            try cache.write(
                CachedCredentials(accessKeyId: fresh.accessKeyId, secretAccessKey: fresh.secretAccessKey,
                                  sessionToken: token, expiration: expiration),
                for: key, issuedAt: context.now(), encryptionKey: encryptionKey, principal: principal)
        } catch {
            context.output.stderr("stscache: warning: could not cache the session: \(describe(error))\n")
        }
    }

    /// The entry's credentials when they are fresh under the policy; nil for a miss, a stale
    /// entry or no key yet. Lock-free: entries are replaced by rename, never written in place.
    private func freshEntry(_ request: SessionRequest) -> CachedCredentials? {
        guard let encryptionKey = try? keyStore.loadKey(),
              case .hit(let cached, let header) = cache.read(
                request.key, encryptionKey: encryptionKey, principal: Self.binding(request.principal, encryptionKey: encryptionKey)),
              request.policy.decide(now: context.now(), issuedAt: header.issuedAt, expiration: cached.expiration) == .fresh
        else { return nil }
        return cached
    }

    /// The cache keys on role + session, on how the role is reached (source and external id)
    /// and on the STS endpoint that issues it, so two profiles that reach one role differently
    /// neither share nor thrash an entry, and a test endpoint's session is never served for the
    /// real account. Computed from the config alone: `prompt` and `list` need no secret for it.
    ///
    /// A session with a source identity, session tags or session policies is keyed on them too
    /// (`SessionParameters.cacheIdentity`): a scoped or tagged session is never served for the
    /// profile without them, nor the reverse.
    package static func cacheKey(for role: RoleProfile) -> CacheKey {
        CacheKey(roleArn: role.roleArn, sessionName: role.roleSessionName,
                 sourceIdentity: sourceIdentity(role.source), externalId: role.externalId,
                 endpoint: endpointIdentity(for: role), sessionParameters: role.sessionParameters.cacheIdentity)
    }

    /// Which STS issues the role's sessions: an explicit endpoint (`endpoint_url`,
    /// `AWS_ENDPOINT_URL_STS`, ...) by its normalised URL, otherwise AWS's own endpoints by
    /// partition. Regional endpoints of one partition issue interchangeable sessions, so a shell
    /// with another `AWS_REGION` shares the entry; a test endpoint (moto, localstack) and the real
    /// account, or two partitions, never do.
    package static func endpointIdentity(for role: RoleProfile) -> String {
        if case .identityCenter(let settings) = role.source {
            return "sso-portal:" + ((try? IdentityCenterService.portalBase(settings)) ?? settings.portalEndpoint ?? settings.region)
        }
        if let explicit = role.endpointURL {
            return "url:" + ((try? STSEndpoint.normalizeExplicit(explicit)) ?? explicit)
        }
        return "partition:" + STSEndpoint.partition(ofRegion: role.region)
    }

    /// The keys a role's sessions are bound to: its source's own keys, or for a chained role the
    /// keys at the root of the chain. Nil for sources with no keys of their own to bind (a
    /// credential_process helper, instance or container metadata, web identity): their entries
    /// are keyed by the source's name alone (docs/SECURITY.md).
    package static func principalKeys(_ source: CredentialSource) -> (accessKeyId: String, secretAccessKey: String)? {
        switch source {
        case .staticKeys(_, let keys), .environment(let keys): return (keys.accessKeyId, keys.secretAccessKey)
        case .role(let role): return principalKeys(role.source)
        case .ec2InstanceMetadata, .ecsContainer, .credentialProcess, .webIdentity, .storedKeys, .identityCenter,
             .loginSession: return nil
        }
    }

    /// `principalKeys`, with a chain rooted in stored keys bound to the store and the profile
    /// instead: a hit must not open the store to learn the keys (docs/DESIGN.md, "Long-term
    /// keys"). Two stores (another `XDG_CONFIG_HOME`) sharing a cache never share a session.
    package func principalKeys(_ source: CredentialSource) -> (accessKeyId: String, secretAccessKey: String)? {
        switch source {
        case .storedKeys(let profile):
            // StoredKeys.binding(profile:encryptionKey:) makes the same binding.
            return ("stored-keys:" + AccessKeyStore.defaultPath(environment: context.environment, home: context.homeDirectory),
                    profile)
        case .role(let role): return principalKeys(role.source)
        default: return Self.principalKeys(source)
        }
    }

    package static func principalBinding(for role: RoleProfile, encryptionKey: [UInt8]) -> [UInt8] {
        binding(principalKeys(role.source), encryptionKey: encryptionKey)
    }

    package static func binding(_ keys: (accessKeyId: String, secretAccessKey: String)?, encryptionKey: [UInt8]) -> [UInt8] {
        guard let keys else { return PrincipalBinding.unbound }
        return PrincipalBinding.make(accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey,
                                     encryptionKey: encryptionKey)
    }

    package static func sourceIdentity(_ source: CredentialSource) -> String {
        switch source {
        case .staticKeys(let profile, _): return "profile:" + profile
        case .environment: return "environment"
        // The source role's whole entry identity: its own source, external id and endpoint.
        case .role(let role): return "role:" + cacheKey(for: role).stem
        case .ec2InstanceMetadata: return "ec2-instance-metadata"
        case .ecsContainer: return "ecs-container"
        case .credentialProcess(let profile, _): return "process:" + profile
        // The same as the profile's keys in a file: `keys import` and `keys export` move the keys,
        // not the sessions, which keep their entries (the binding inside tells the two apart).
        case .storedKeys(let profile): return "profile:" + profile
        case .webIdentity(let tokenFile): return "web-identity:" + tokenFile
        // The login: two start URLs (or sso-sessions, which may be two identities) never share.
        case .identityCenter(let settings):
            return "identity-center:" + settings.startURL + "\n" + (settings.sessionName.map { "session:" + $0 } ?? "legacy")
        // The signed-in identity (the file is named after it).
        case .loginSession(let settings): return "login-session:" + settings.session
        }
    }

    package static func awsCredentials(_ cached: CachedCredentials) -> AWSCredentials {
        AWSCredentials(accessKeyId: cached.accessKeyId, secretAccessKey: cached.secretAccessKey,
                       sessionToken: cached.sessionToken, expiration: cached.expiration)
    }
}

/// What the broker refuses in an answer STS accepted: a session it cannot serve.
package enum BrokerError: UserFacingError {
    case incompleteCredentials(String)
    case expiredOnArrival(String, expiration: Date, now: Date)

    package var errorCode: String {
        switch self {
        case .incompleteCredentials: return "broker.incomplete-credentials"
        case .expiredOnArrival: return "broker.expired-on-arrival"
        }
    }

    package var message: String {
        switch self {
        case .incompleteCredentials(let role):
            return "STS answered AssumeRole for \(role) without a session token or expiration; "
                + "check that the endpoint is really STS"
        case .expiredOnArrival(let role, let expiration, let now):
            return "STS answered AssumeRole for \(role) with credentials that expire at "
                + "\(Timestamps.formatRFC3339(expiration)), already past by the local clock "
                + "(\(Timestamps.formatRFC3339(now))); the system clock is probably wrong (set it right, e.g. "
                + "'timedatectl set-ntp true'), or the endpoint is not STS"
        }
    }
}
