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
/// `SSOTokenLoader` reads it, written back (after a refresh) as its `SSOTokenProvider` does,
/// through the one atomic writer (a 0600 temp file renamed over the old one).
package struct IdentityCenterTokenFiles {
    package var directory: String

    package init(homeDirectory: String) {
        directory = homeDirectory + "/.aws/sso/cache"
    }

    package func path(for settings: IdentityCenterSettings) -> String {
        directory + "/" + IdentityCenterToken.fileName(forKey: settings.tokenCacheKeyInput)
    }

    /// The token, or the error that says to log in (no file) or what is wrong with the file.
    package func read(_ settings: IdentityCenterSettings) throws(IdentityCenterError) -> IdentityCenterToken {
        let path = path(for: settings)
        let bytes: [UInt8]
        switch BoundedRead.regularFile(atPath: path, limit: IdentityCenterToken.sizeLimit) {
        case .success(let read): bytes = read
        case .failure(.missing):
            throw IdentityCenterError(
                .notLoggedIn,
                "no IAM Identity Center login for \(IdentityCenterService.describe(settings)) (no token in \(path)); "
                    + "run: \(settings.loginCommand)")
        case .failure(let failure):
            throw IdentityCenterError(.invalidTokenFile, "cannot read the Identity Center token file \(path): \(failure.reason).")
        }
        switch IdentityCenterToken.parse(bytes) {
        case .success(let token): return token
        case .failure(let invalid):
            throw IdentityCenterError(
                .invalidTokenFile,
                "the Identity Center token file \(path) cannot be used: \(invalid.reason) (the value is not shown); "
                    + "run: \(settings.loginCommand)")
        }
    }

    /// Replaces the token file atomically; mode 0600 like the CLI's.
    package func write(_ token: IdentityCenterToken, for settings: IdentityCenterSettings) throws(IdentityCenterError) {
        try write(bytes: token.encoded(), name: IdentityCenterToken.fileName(forKey: settings.tokenCacheKeyInput))
    }

    /// Replaces `name` in the token directory atomically (0600 temp file, fsync, rename).
    package func write(bytes: [UInt8], name: String) throws(IdentityCenterError) {
        let fd: Int32
        switch FileSystem.open(at: AT_FDCWD, directory, O_RDONLY | O_DIRECTORY) {
        case .success(let opened): fd = opened
        case .failure(let error):
            throw IdentityCenterError(.tokenWriteFailed, "cannot open \(directory): \(String(cString: strerror(error.code))).")
        }
        defer { close(fd) }
        do {
            try FileSystem.writeAtomically(
                directory: fd, directoryPath: directory, finalName: name, temporaryStem: "stscache-" + name,
                bytes: bytes
            ) { temporaryName in
                renameat(fd, temporaryName, fd, name) == 0 ? .success(()) : .failure(Errno(errno))
            }
        } catch {
            throw IdentityCenterError(
                .tokenWriteFailed,
                "cannot write the Identity Center token file \(error.path) (\(error.operation): "
                    + "\(String(cString: strerror(error.errno)))).")
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
                                            settings: try self.settings.get(), sleep: context.sleep)
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
            let current = try files.read(settings)
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
                try files.write(updated, for: settings)
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
