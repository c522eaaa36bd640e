import Foundation
import Testing
import AWSConfig
import CredentialCache
@testable import Credentials
import TestSupport
@testable import KeepWarm


/// The agent's timer, as the test drives it: records every arming, and reports what the test
/// says woke it.
private final class ScriptedTimer: WakeTimer {
    var descriptor: Int32 { -1 }
    var armed: [Date?] = []
    var nextEvent = WakeTimerEvent.nothing
    func arm(at date: Date?) { armed.append(date) }
    func read() -> WakeTimerEvent { nextEvent }
}

/// `stscache agent` sleeps on a CLOCK_REALTIME timerfd with TFD_TIMER_CANCEL_ON_SET: when the wall
/// clock is set, the read reports ECANCELED (and swallows an expiry that came with it) and the
/// agent plans again. The machine's clock is not set here: the agent runs on an injected clock and
/// a scripted timer, and a test turn of its loop is what `poll` waking on the timer would run.
@Suite("the agent after the wall clock was set")
struct ClockChangeTests {
    static let issued = testNow

    @Test("a clock set past a refresh time starts that refresh, and every next wake is planned from the new time")
    func replansFromTheNewTime() throws {
        let home = try TemporaryDirectory(prefix: "stscache-agent-clock")
        let config = home.sub("config")
        let credentials = home.sub("credentials")
        try Data("[profile base]\nregion = us-east-1\n[profile prod-role]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = base\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        try Data(baseKeysCredentials.utf8).write(to: URL(fileURLWithPath: credentials))
        let clock = Locked(Self.issued.addingTimeInterval(60))  // the wall clock, set as `date -s` would
        let output = CapturedOutput()
        let context = Context(
            environment: ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials,
                          "STSCACHE_CACHE_DIR": home.sub("cache")],
            now: { clock.value }, homeDirectory: home.path, userName: "alice",
            makeTransport: { NetworkForbidden() }, output: output.sinks(), sleep: { _ in })

        // One hour's session, issued at `issued`, refreshed by the plan at issued + 2405 s.
        let files = try ConfigFiles.load(configPath: config, credentialsPath: credentials)
        let key = try #require(RoleLookup(files: files, context: context, keysOnly: true).reachableEntries().values.first?.key)
        let cache = try CredentialCache.open(environment: context.environment, home: home.path)
        try cache.write(CachedCredentials(accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token",
                                          expiration: Self.issued.addingTimeInterval(3600)),
                        for: key, issuedAt: Self.issued, encryptionKey: [UInt8](repeating: 7, count: 32))
        let plan = KeepWarmPlan(callers: RefreshPolicy())
        let refreshAt = Self.issued.addingTimeInterval(2405)

        let timer = ScriptedTimer()
        try withSignalMaskRestored {
            // A refresh cannot start (no such program): it fails at once, with no child to reap,
            // and its retry is the next wake, counted from the time it failed.
            let agent = try CachingAgent(
                context: context, settings: .init(plan: plan, executable: home.sub("no-such-stscache")), timer: timer)
            agent.begin()
            #expect(timer.armed.last == refreshAt, "control: before the step, the wake is the refresh time")

            // The clock is set 2500 s on: past the refresh time. The expiry came with the step, so
            // the timer reports only that the clock was set.
            clock.value = Self.issued.addingTimeInterval(2500)
            timer.nextEvent = .clockChanged
            #expect(agent.turn(timerReadable: true) == nil)
            #expect(output.stderr.contains("stscache agent: the clock changed: re-planning"))
            #expect(output.stderr.contains("cannot start a refresh of prod-role"), "the refresh due at the new time was started")
            let retry = try #require(timer.armed.last ?? nil, "the timer is armed again")
            // The first retry waits 5 to 30 s after the failure, at the new time.
            #expect(retry >= clock.value.addingTimeInterval(5) && retry <= clock.value.addingTimeInterval(30), "\(retry)")

            // Set on again, past the 12 hours a session is kept after its last use: nothing is left to
            // plan, so the timer is disarmed rather than left at a moment planned from the old time.
            let armings = timer.armed.count
            clock.value = Self.issued.addingTimeInterval(13 * 3600)
            #expect(agent.turn(timerReadable: true) == nil)
            #expect(timer.armed.count == armings + 1 && timer.armed.last == .some(nil))
            #expect(AgentState.load(from: cache).state?.sessions.map(\.condition) == [.idle])
        }
    }
}

/// Runs `body`, then puts back this thread's signal mask: the agent blocks the signals its
/// signalfd reads, and children spawned later from this test thread must not inherit that.
private func withSignalMaskRestored(_ body: () throws -> Void) throws {
    var saved = sigset_t()
    pthread_sigmask(SIG_SETMASK, nil, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    try body()
}
