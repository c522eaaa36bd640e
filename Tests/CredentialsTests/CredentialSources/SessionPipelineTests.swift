import AWSConfig
import CredentialCache
import Foundation
@testable import Credentials
import Testing
import Transport
import TestSupport

/// Each outcome of the session pipeline (`CredentialBroker.session`), with a fixed clock and a
/// transport that fails closed: a request the route does not answer fails the test.
@Suite("The session pipeline", .serialized)
struct SessionPipelineTests {
    /// STS as usual, or refusing everything while `down` is set.
    final class Switch: @unchecked Sendable {
        private let lock = NSLock()
        private var isDown = false
        var down: Bool {
            get { lock.withLock { isDown } }
            set { lock.withLock { isDown = newValue } }
        }
    }

    static func sts(_ outage: Switch) -> RoutedTransport.Route {
        let answer = STSAnswers.sts(now: SourcesFixture.now)
        return { request in
            outage.down ? STSAnswers.error(503, code: "ServiceUnavailable", message: "down") : answer(request)
        }
    }

    let outage = Switch()
    let fixture: SourcesFixture
    let role = makeRole()

    init() throws {
        fixture = try SourcesFixture(route: Self.sts(outage))
    }

    /// A broker whose clock reads `minutes` after the fixture's start.
    func broker(at minutes: Double = 0, force: Bool = false) throws -> CredentialBroker {
        fixture.now = SourcesFixture.now.addingTimeInterval(minutes * 60)
        var broker = try fixture.broker()
        broker.forceRefresh = force
        return broker
    }

    @Test("hit: a fresh entry is served without STS")
    func hit() throws {
        let first = try broker().credentials(for: role)
        #expect(try broker(at: 10).credentials(for: role) == first)
        #expect(fixture.transport.actions == ["AssumeRole"])
    }

    @Test("refresh due: inside the window (15 minutes of a one-hour session) STS is called again")
    func refreshDue() throws {
        let first = try broker().credentials(for: role)
        #expect(try broker(at: 44).credentials(for: role) == first, "16 minutes left: still fresh")
        let refreshed = try broker(at: 46).credentials(for: role)
        #expect(refreshed != first)
        #expect(fixture.transport.actions == ["AssumeRole", "AssumeRole"])
        #expect(try broker(at: 47).credentials(for: role) == refreshed, "the refreshed entry is served")
    }

    @Test("stale-if-error: STS failing inside the window serves the still-valid entry, with a warning")
    func staleIfError() throws {
        let first = try broker().credentials(for: role)
        outage.down = true
        let served = try broker(at: 50).credentials(for: role)
        #expect(served == first)
        #expect(fixture.output.stderr.contains("warning: could not refresh arn:aws:iam::1:role/Admin"))
        #expect(fixture.output.stderr.contains("valid for 10 more minutes"))
        #expect(fixture.transport.actions.count > 1, "the refresh was attempted")
    }

    @Test("expired: never served, whether STS fails or the entry is within the safety margin of expiry")
    func expiredNeverServed() throws {
        _ = try broker().credentials(for: role)
        outage.down = true
        #expect(throws: (any Error).self) { try broker(at: 59.5).credentials(for: role) }
        #expect(throws: (any Error).self) { try broker(at: 90).credentials(for: role) }
        #expect(!fixture.output.stderr.contains("using cached credentials"))
    }

    @Test("force-refresh: STS is called with a fresh entry in the cache, and its answer replaces it")
    func forceRefresh() throws {
        let first = try broker().credentials(for: role)
        let forced = try broker(at: 1, force: true).credentials(for: role)
        #expect(forced != first)
        #expect(try broker(at: 2).credentials(for: role) == forced)
        #expect(fixture.transport.actions == ["AssumeRole", "AssumeRole"])
    }

    @Test("force-refresh with STS down serves the still-valid entry, with a warning")
    func forceRefreshWithSTSDown() throws {
        let first = try broker().credentials(for: role)
        outage.down = true
        #expect(try broker(at: 1, force: true).credentials(for: role) == first)
        #expect(fixture.output.stderr.contains("warning: could not refresh"))
    }

    @Test("a waiter is answered from the entry that lands while another process still holds the lock")
    func waiterWokenByLandingEntry() throws {
        let landed = CachedCredentials(accessKeyId: "ASIALANDEDWHILEWAITING", secretAccessKey: "secret-landed",
                                       sessionToken: "token-landed", expiration: SourcesFixture.now + 3600)
        let holder = try LockHolder(fixture, key: CredentialBroker.cacheKey(for: role), writes: landed,
                                    principal: CredentialBroker.principalBinding(for: role, encryptionKey: FixedKeyStore().key))
        defer { holder.release() }
        let served = try broker().credentials(for: role)
        #expect(served.accessKeyId == "ASIALANDEDWHILEWAITING")
        #expect(fixture.transport.requests.isEmpty, "no STS call while another process refreshes")
    }

    @Test("a failed cache write is a warning: the fresh session is still served")
    func writeFailure() throws {
        let key = CredentialBroker.cacheKey(for: role)
        // A directory where the entry should be: the rename onto it fails.
        _ = try CredentialCache(directory: CacheDirectory.open(path: fixture.path + "/cache"))
        try FileManager.default.createDirectory(atPath: fixture.path + "/cache/" + key.entryFileName,
                                                withIntermediateDirectories: false)
        let served = try broker().credentials(for: role)
        #expect(served.accessKeyId.hasPrefix("ASIAROLE"))
        #expect(fixture.output.stderr.contains("warning: could not cache the session"))
        _ = try broker().credentials(for: role)
        #expect(fixture.transport.actions == ["AssumeRole", "AssumeRole"], "nothing cached, so the next call fetches")
    }

    @Test("the MFA session goes through the same pipeline: a waiter uses the MFA session that lands, without a code")
    func mfaSessionWaiter() throws {
        let settings = MFASessionSettings(serialNumber: "arn:aws:iam::1:mfa/alice", serialProfile: "base")
        let mfaRole = makeRole(mfaSession: settings)
        let landed = CachedCredentials(accessKeyId: "ASIAMFASESSIONLANDED", secretAccessKey: "secret-mfa",
                                       sessionToken: "token-mfa", expiration: SourcesFixture.now + 12 * 3600)
        // Another process is at its MFA prompt for this device: it holds the MFA entry's lock.
        let holder = try LockHolder(
            fixture, key: CredentialBroker.mfaSessionKey(for: mfaRole, settings: settings), writes: landed,
            principal: PrincipalBinding.make(accessKeyId: "AKIDBASE", secretAccessKey: "base-secret",
                                             encryptionKey: FixedKeyStore().key))
        defer { holder.release() }
        var waiting = try broker()
        waiting.settings = LazyNetworkSettings(NetworkSettings(lockTimeout: 3))  // shorter than the holder's hold: only an early answer gets through
        _ = try waiting.credentials(for: mfaRole)
        // No code asked for (no terminal, no STSCACHE_MFA_TOKEN), no GetSessionToken: the role was
        // assumed with the MFA session the other process made.
        #expect(fixture.transport.actions == ["AssumeRole"])
        #expect(fixture.transport.requests.map(signingKeyId) == ["ASIAMFASESSIONLANDED"])
    }

    @Test("an expired MFA session is never used, even when STS is down")
    func mfaSessionExpired() throws {
        let settings = MFASessionSettings(serialNumber: "arn:aws:iam::1:mfa/alice", serialProfile: "base")
        let mfaRole = makeRole(mfaSession: settings)
        fixture.environment = ["STSCACHE_MFA_TOKEN": "123456"]
        _ = try broker().credentials(for: mfaRole)
        #expect(fixture.transport.actions == ["GetSessionToken", "AssumeRole"])
        outage.down = true
        #expect(throws: (any Error).self) { try broker(at: 12 * 60 + 1).credentials(for: mfaRole) }
    }
}

/// Another process in the middle of a refresh: holds the entry's lock, writes `landed` into the
/// entry a moment later, and keeps the lock until released (or 60 seconds: a safety net).
final class LockHolder {
    private let done = DispatchSemaphore(value: 0)

    init(_ fixture: SourcesFixture, key: CacheKey, writes landed: CachedCredentials, principal: [UInt8]) throws {
        let cache = try CredentialCache(directory: CacheDirectory.open(path: fixture.path + "/cache"))
        let done = self.done
        holdEntryLock(key, in: cache) {
            Thread.sleep(forTimeInterval: 0.2)
            try? cache.write(landed, for: key, issuedAt: SourcesFixture.now, encryptionKey: FixedKeyStore().key,
                             principal: principal)
            _ = done.wait(timeout: .now() + 60)
        }
    }

    func release() { done.signal() }
}
