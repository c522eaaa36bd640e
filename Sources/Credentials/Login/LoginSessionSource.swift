#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport

/// An `aws login` session's credentials, with the account they belong to (the file's
/// `accessToken.accountId`, what botocore hands on as `account_id`).
package struct LoginSessionCredentials {
    package var credentials: AWSCredentials
    /// 12 digits: the signed-in identity's account, for a Version-1 answer's `AccountId`.
    package var accountId: String
}

extension CredentialBroker {
    /// The lifetime Sign-In gives a login's credentials (the model's `ExpiresIn` maximum): the
    /// refresh policy's half-lifetime cap is taken from it, as the file has no issue time.
    package static let loginCredentialsLifetime: Double = 900

    /// The credentials of a `login_session` profile. The session file is their cache (as
    /// botocore treats it; docs/DESIGN.md): fresh by the broker's refresh policy, they are served
    /// from it; otherwise one process refreshes them through Sign-In under a lock of its own in
    /// the cache directory (one per session file), after reading the file again (another
    /// process, or the AWS CLI, may have refreshed it), and writes the rotated refresh token and
    /// the new credentials back at once. Processes waiting on the lock answer from the file as
    /// soon as it is fresh.
    ///
    /// Never signs in, never prompts and never opens a browser: without a usable session this
    /// fails at once with the command to run.
    package func loginSessionCredentials(_ settings: LoginSessionSettings, forceRefresh: Bool = false) throws
        -> LoginSessionCredentials
    {
        let files = LoginSessionFiles(environment: context.environment, homeDirectory: context.homeDirectory)
        func decision(_ session: LoginSessionFile) -> RefreshDecision {
            let expiration = session.credentials.expiration ?? Date(timeIntervalSince1970: 0)
            return policy.decide(now: context.now(), issuedAt: expiration.addingTimeInterval(-Self.loginCredentialsLifetime),
                                 expiration: expiration)
        }
        func served(_ session: LoginSessionFile) -> LoginSessionCredentials {
            LoginSessionCredentials(credentials: session.credentials, accountId: session.accountId)
        }
        let first = try files.read(settings)
        if !forceRefresh, decision(first) == .fresh { return served(first) }

        let path = files.path(forSession: settings.session)
        // A lock file in the cache directory named like an entry's (a digest; no entry is ever
        // written under it): the roleArn field only names the lock in a timeout message.
        let lockKey = CacheKey(roleArn: "the aws login session of profile \"\(settings.profile)\"",
                               sessionName: "login-session-refresh", sourceIdentity: path)
        /// Fresh, or (forced) refreshed by someone else since this run first read it.
        func done(_ session: LoginSessionFile) -> Bool {
            decision(session) == .fresh && (!forceRefresh || session.refreshToken != first.refreshToken)
        }
        let whileWaiting = { () -> LoginSessionCredentials? in
            guard let current = try? files.read(settings), done(current) else { return nil }
            return served(current)
        }
        return try cache.withEntryLock(lockKey, timeout: self.settings.get().lockTimeout, whileWaiting: whileWaiting) {
            let (current, file) = try files.readForRefresh(settings)
            if done(current) { return served(current) }
            return try refreshLoginSession(current, file: file, settings: settings, files: files,
                                           stillValid: decision(current) != .expired)
        }
    }

    /// The refresh itself, under the lock: CreateOAuth2Token with the file's refresh token and a
    /// DPoP proof from its key, the answer checked, the file rewritten.
    private func refreshLoginSession(_ current: LoginSessionFile, file: AWSFileWriter.Snapshot,
                                     settings: LoginSessionSettings, files: LoginSessionFiles,
                                     stillValid: Bool) throws -> LoginSessionCredentials {
        let now = context.now()
        let expiration = current.credentials.expiration ?? now
        // The refresh token lasts 12 hours from sign-in, which is before the credentials' last
        // refresh: credentials expired longer ago than that belong to an ended session.
        if now.timeIntervalSince(expiration) > LoginSessionFile.sessionLifetime {
            throw LoginSessionError(.loginExpired, "the aws login session of profile \"\(settings.profile)\" has ended "
                + "(its credentials expired at \(Timestamps.formatRFC3339(expiration)), and a session lasts at most 12 "
                + "hours); sign in again: \(settings.loginCommand)")
        }
        guard let key = current.signingKey() else {
            throw LoginSessionError(.invalidFile, "the dpopKey in the aws login session file \(file.path) of profile "
                + "\"\(settings.profile)\" is not a P-256 private key (the value is not shown); sign in again: "
                + "\(settings.loginCommand)")
        }
        let output: SignInTokenClient.TokenOutput
        do {
            output = try signInClient(settings, session: current).refresh(
                clientId: current.clientId, refreshToken: current.refreshToken, key: key)
        } catch {
            let failure = Self.loginRefreshFailure(error, settings: settings)
            // Still valid: better to serve them than to fail the caller's command (the pipeline's
            // stale-if-error). Expired credentials are never served.
            if servesCachedOnFailure, stillValid {
                let remaining = Int(expiration.timeIntervalSince(now) / 60)
                context.output.stderr("stscache: warning: could not refresh the aws login session of profile "
                    + "\"\(settings.profile)\" (\(describe(failure))); using its credentials valid for \(remaining) more "
                    + "minutes\n")
                return LoginSessionCredentials(credentials: current.credentials, accountId: current.accountId)
            }
            throw failure
        }
        let updated = current.refreshed(with: output, now: now)
        guard let newExpiration = updated.credentials.expiration, newExpiration > context.now() else {
            throw BrokerError.expiredOnArrival("the aws login session of profile \"\(settings.profile)\"",
                                               expiration: updated.credentials.expiration ?? now, now: context.now())
        }
        do {
            try files.write(updated, replacing: file)
        } catch {
            // The old refresh token is spent: say so, the credentials are still good for now.
            context.output.stderr("stscache: warning: \(describe(error)) The session's refresh token has been used, so "
                + "the next refresh will need a new sign-in: \(settings.loginCommand)\n")
        }
        return LoginSessionCredentials(credentials: updated.credentials, accountId: updated.accountId)
    }

    /// The client for this session's refresh: `signInRegion` from the file over the profile's
    /// region, the configured endpoint over both; the STS knobs' timeouts, retries and proxies;
    /// the profile's CA bundle.
    func signInClient(_ settings: LoginSessionSettings, session: LoginSessionFile) throws -> SignInTokenClient {
        let base = try SignInTokenClient.endpoint(region: session.signInRegion ?? settings.region,
                                                  configured: settings.endpointURL)
        let network = try self.settings.get()
        return SignInTokenClient(
            transport: context.makeTransport(), baseURL: base,
            http: network.httpOptions(for: base, caBundle: settings.caBundle), retry: network.retryPolicy,
            clock: context.now, sleep: context.sleep)
    }

    /// What a failed refresh means for the user: sign in again, a missing permission, or the
    /// error as it is.
    static func loginRefreshFailure(_ error: any Error, settings: LoginSessionSettings) -> any Error {
        guard let refused = error as? SignInTokenClient.Refused else { return error }
        if refused.endsSession {
            return LoginSessionError(.loginExpired, "AWS Sign-In ended the aws login session of profile "
                + "\"\(settings.profile)\" (\(refused.summary)); sign in again: \(settings.loginCommand)")
        }
        if refused.lacksPermission {
            return LoginSessionError(.insufficientPermissions, "AWS Sign-In refused to refresh the aws login session of "
                + "profile \"\(settings.profile)\" (\(refused.summary)): the signed-in identity may not call "
                + "signin:CreateOAuth2Token; attach the managed policy SignInLocalDevelopmentAccess (or allow "
                + "signin:AuthorizeOAuth2Access and signin:CreateOAuth2Token) to it, then sign in again: "
                + "\(settings.loginCommand)")
        }
        return LoginSessionError(.refused, "AWS Sign-In refused to refresh the aws login session of profile "
            + "\"\(settings.profile)\" (\(refused.summary)); if this persists, sign in again: \(settings.loginCommand)")
    }
}
