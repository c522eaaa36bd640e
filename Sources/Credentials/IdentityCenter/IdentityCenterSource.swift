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
import AWSConfig
import CredentialCache
import OpenSSLCrypto
import SigV4
import StscacheSupport

/// The AWS CLI's Identity Center token cache, `~/.aws/sso/cache`: read as botocore's
/// `SSOTokenLoader` reads it, written (after a refresh, at login) as its `SSOTokenProvider`
/// does, through the one writer of the user's AWS files (`AWSFileWriter`).
package struct IdentityCenterTokenFiles {
    package var directory: String

    package init(homeDirectory: String) {
        directory = homeDirectory + "/.aws/sso/cache"
    }

    package func path(for settings: IdentityCenterSettings) -> String {
        directory + "/" + name(for: settings)
    }

    /// The token, or the error that says to log in (no file) or what is wrong with the file
    /// (including what the cache's policy refuses: see `readChecked`).
    package func read(_ settings: IdentityCenterSettings) throws(IdentityCenterError) -> IdentityCenterToken {
        let path = path(for: settings)
        guard let file = try readChecked(name(for: settings), kind: .token, login: settings.loginCommand) else {
            throw Self.notLoggedIn(settings, path)
        }
        return try Self.parse(file.bytes, settings, path)
    }

    /// The token with the snapshot of its file, for a refresh: the refreshed token replaces
    /// the file only while it is still this version (a login meanwhile wins).
    package func readForRefresh(_ settings: IdentityCenterSettings) throws(IdentityCenterError)
        -> (token: IdentityCenterToken, file: AWSFileWriter.Snapshot)
    {
        let path = path(for: settings)
        // The policy first; then the writer's snapshot, which must be of the file it accepted.
        guard let checked = try readChecked(name(for: settings), kind: .token, login: settings.loginCommand) else {
            throw Self.notLoggedIn(settings, path)
        }
        let file: AWSFileWriter.Snapshot
        do {
            // Not `requiringEditable`: a token in a file stscache may not rewrite is still used.
            file = try AWSFileWriter.read(path, limit: IdentityCenterToken.sizeLimit, requiringEditable: false)
        } catch where error.kind == .missing {
            throw Self.notLoggedIn(settings, path)
        } catch {
            throw IdentityCenterError(.invalidTokenFile, "cannot read the Identity Center token file: \(error.message)")
        }
        guard checked.isSameFile(as: file) else {
            throw IdentityCenterError(.invalidTokenFile, "the Identity Center token file \(path) changed while stscache "
                + "read it; run the command again.")
        }
        return (try Self.parse(file.bytes, settings, path), file)
    }

    private func name(for settings: IdentityCenterSettings) -> String {
        IdentityCenterToken.fileName(forKey: settings.tokenCacheKeyInput)
    }

    private static func notLoggedIn(_ settings: IdentityCenterSettings, _ path: String) -> IdentityCenterError {
        IdentityCenterError(
            .notLoggedIn,
            "no IAM Identity Center login for \(IdentityCenterService.describe(settings)) (no token in \(path)); "
                + "run: \(settings.loginCommand)")
    }

    private static func parse(_ bytes: [UInt8], _ settings: IdentityCenterSettings, _ path: String)
        throws(IdentityCenterError) -> IdentityCenterToken
    {
        switch IdentityCenterToken.parse(bytes) {
        case .success(let token): return token
        case .failure(let invalid):
            throw IdentityCenterError(
                .invalidTokenFile,
                "the Identity Center token file \(path) cannot be used: \(invalid.reason) (the value is not shown); "
                    + "run: \(settings.loginCommand)")
        }
    }

    /// Replaces the token file read as `file` with `token`, keeping its mode; refused when the
    /// file changed since (another login or refresh wrote it: its token wins).
    package func write(_ token: IdentityCenterToken, replacing file: AWSFileWriter.Snapshot) throws(IdentityCenterError) {
        do {
            _ = try AWSFileWriter.replace(file, with: token.encoded())
        } catch where error.kind == .changedUnderneath {
            throw IdentityCenterError(
                .tokenWriteFailed,
                "the Identity Center token file \(file.path) changed while stscache refreshed the token, so the refreshed "
                    + "token was not written and the file's own is kept; run the command again to use it.")
        } catch {
            throw IdentityCenterError(.tokenWriteFailed, "cannot write the Identity Center token file: \(error.message)")
        }
    }

    /// `~/.aws/sso/cache`, 0700 like the CLI's, when it does not exist yet.
    package func createDirectory() throws(IdentityCenterError) {
        var path = ""
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw IdentityCenterError(.tokenWriteFailed, "cannot create \(path): \(String(cString: strerror(errno))).")
            }
        }
    }

    /// Writes a token or registration file with these members, whatever it held: a new file is
    /// 0600 like the CLI's, an existing one keeps its mode.
    package func write(members: [String: JSONObjectFields.Value], name: String) throws(IdentityCenterError) {
        do {
            try AWSFileWriter.write(IdentityCenterToken.encode(members), to: directory + "/" + name)
        } catch {
            throw IdentityCenterError(.tokenWriteFailed, "cannot write the Identity Center token file: \(error.message)")
        }
    }
}

extension CredentialBroker {
    /// Identity Center role credentials for an SSO profile's `RoleProfile`, created under its
    /// entry lock by `createSession` (so N processes missing the cache make one portal call):
    /// the token (refreshed first when due), then the portal's GetRoleCredentials.
    ///
    /// Never logs in, never prompts and never opens a browser: without a usable token this fails
    /// at once with the command to run.
    package func identityCenterCredentials(for settings: IdentityCenterSettings) throws -> AWSCredentials {
        let service = IdentityCenterService(transport: context.makeTransport(), environment: context.environment,
                                            settings: try self.settings.get(), clock: context.now, sleep: context.sleep)
        let token = try identityCenterToken(settings, service: service)
        return try service.roleCredentials(settings, accessToken: token.accessToken)
    }

    /// A token with time left: the file's, or a refreshed one. The refresh runs under a lock of
    /// its own in the cache directory (one per token file), so one process refreshes and the
    /// others wait for the file it writes: every role reached through one login shares it.
    package func identityCenterToken(_ settings: IdentityCenterSettings, service: IdentityCenterService) throws
        -> IdentityCenterToken
    {
        let files = IdentityCenterTokenFiles(homeDirectory: context.homeDirectory)
        let refreshable = settings.sessionName != nil
        /// The token when it can be used as it is; nil when it is due for a refresh.
        func usable(_ token: IdentityCenterToken) throws -> IdentityCenterToken? {
            switch token.plan(now: context.now(), refreshable: refreshable) {
            case .use: return token
            case .expired: throw Self.loginExpired(settings, token)
            case .refresh: return nil
            }
        }
        if let token = try usable(try files.read(settings)) { return token }
        let path = files.path(for: settings)
        // A lock file in the cache directory named like an entry's (a digest; no entry is ever
        // written under it): the roleArn field only names the lock in a timeout message.
        let lockKey = CacheKey(roleArn: "the Identity Center token of \(IdentityCenterService.describe(settings))",
                               sessionName: "identity-center-token-refresh", sourceIdentity: path)
        let whileWaiting = { () -> IdentityCenterToken? in
            guard let current = try? files.read(settings),
                  current.plan(now: context.now(), refreshable: refreshable) == .use else { return nil }
            return current
        }
        return try cache.withEntryLock(lockKey, timeout: self.settings.get().lockTimeout, whileWaiting: whileWaiting) {
            // Another process may have refreshed it while we waited for the lock.
            let (current, file) = try files.readForRefresh(settings)
            if let token = try usable(current) { return token }
            let refreshed: IdentityCenterService.RefreshedToken
            do {
                refreshed = try service.refresh(settings, token: current)
            } catch let error as IdentityCenterError where error.code != .loginExpired {
                // Still valid: use it, as botocore does when a refresh fails.
                if current.expiresAt.timeIntervalSince(context.now()) > 60 {
                    context.output.stderr("stscache: warning: could not refresh the Identity Center token of "
                        + "\(IdentityCenterService.describe(settings)) (\(error.message)); using it while it lasts.\n")
                    return current
                }
                throw error
            }
            let updated = current.refreshed(accessToken: refreshed.accessToken, expiresIn: refreshed.expiresIn,
                                            refreshToken: refreshed.refreshToken, now: context.now())
            do {
                try files.write(updated, replacing: file)
            } catch {
                // The token is good; the next run refreshes again.
                context.output.stderr("stscache: warning: \(describe(error))\n")
            }
            return updated
        }
    }

    private static func loginExpired(_ settings: IdentityCenterSettings, _ token: IdentityCenterToken) -> IdentityCenterError {
        IdentityCenterError(
            .loginExpired,
            "the IAM Identity Center login of \(IdentityCenterService.describe(settings)) expired at "
                + "\(Timestamps.formatRFC3339(token.expiresAt))"
                + (settings.sessionName == nil ? " (a legacy profile without sso_session cannot be refreshed)" : "")
                + "; run: \(settings.loginCommand)")
    }
}
