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
import CProcessControl
import AWSConfig
import CredentialCache
import StscacheSupport
import Credentials

/// `stscache agent`: keeps the sessions callers used lately warm, so no caller waits for STS.
///
/// One thread, one `poll` over a signalfd (SIGTERM, SIGINT, SIGHUP, SIGCHLD), an inotify
/// descriptor (the cache directory and the config files' directories) and a wall-clock timerfd
/// armed for the next refresh; idle, it sleeps in `poll` and costs nothing. It never decrypts
/// anything itself: each refresh is a `stscache credential-process --profile P` child with the
/// callers' window plus `lead`, so it goes through the same pipeline, entry and lock as every
/// caller (one STS call per session, whoever gets the lock first). The child starts in its own
/// session with stdin and stdout on /dev/null and `STSCACHE_NONINTERACTIVE=1`: it cannot prompt;
/// `--refresh-only` makes it print no credentials and fail when the refresh did not happen
/// (rather than serve the cached session, as a caller would), with its reason on stderr.
///
/// A session counts as used when a process reads its entry with `read(2)`, which is what
/// handing credentials out does (inotify `IN_ACCESS`); header readers (`prompt`, `list`, this
/// agent) map the file instead and do not count. Reads by the agent's own children are not
/// counted (the inotify queue is drained before a child is reaped).
package final class CachingAgent {
    package struct Settings: Sendable {
        package var plan: KeepWarmPlan
        /// The binary to run for refreshes (this one).
        package var executable: String
        /// Refreshes running at once.
        package var concurrentRefreshes = 4
        /// A refresh child still running after this long is killed.
        package var refreshTimeout: Double = 150
        /// How long before a session that needs a person expires they are told
        /// (`STSCACHE_NOTIFY_LEAD`; 0: never).
        package var notifyLead: Double = PersonNeeded.defaultLead
        /// How they are told; nil: the log only.
        package var notifier: DesktopNotifier?

        package init(plan: KeepWarmPlan, executable: String) {
            self.plan = plan
            self.executable = executable
        }
    }

    /// Why the agent could not start (`agent.<code>`).
    package typealias Failure = CodedError<AgentErrorCode>

    /// One session the agent knows of: a cache entry the config reaches.
    struct Tracked {
        var session: KeepWarmPlan.Session
        /// The entry's key, from the config: its header is read through it.
        var key: CacheKey
        var profile: String
        var profiles: [String]
        /// The config's role (never an entry header's: headers are read without the key).
        var roleArn: String { key.roleArn }
        var condition: AgentState.Condition = .warm
        var failures = 0
        var lastError: String?
        var needsMFA = false
        /// Set when a refresh failed in a way only a person can fix (`PersonNeeded.classify`).
        var personNeeded: PersonNeeded?
        /// The expiry of the session the person was told about (once per session).
        var notifiedFor: Date?
    }

    /// A refresh child.
    struct Refresh {
        var stem: String
        var stderr: Int32
        var output: [UInt8] = []
        var deadline: Double
        var previousIssuedAt: Date
    }

    private let context: Context
    private let settings: Settings
    private let cache: CredentialCache
    private let lockFD: Int32
    private let signals: Int32
    private let inotify: Int32
    private let timer: any WakeTimer
    private var cacheWatch: Int32 = -1
    private var configWatches: [Int32: Set<String>] = [:]
    private let startedAt: Date

    private var tracked: [String: Tracked] = [:]
    /// The entries the config reaches, by stem, with the profile to refresh each through: from
    /// the last config read. An entry event for a stem outside it costs a dictionary look-up,
    /// whatever another process writes into the cache directory.
    private var reachable: [String: (reach: RoleLookup.Reach, profile: String)] = [:]
    /// When to re-read the config: a change is acted on once, a moment after it (an editor's
    /// save is several events), never once per event.
    private var pendingReload: (due: Double, reason: String)?
    /// Last use by stem, also for entries the config does not reach (yet).
    private var lastUsed: [String: Date] = [:]
    private var running: [pid_t: Refresh] = [:]
    private var persistedUse: [String: Date] = [:]
    private var stateChanged = true

    /// `timer`: the real one (`RealtimeTimer`) unless a test brings its own.
    package init(context: Context, settings: Settings, timer: (any WakeTimer)? = nil) throws {
        self.context = context
        self.settings = settings
        cache = try CredentialCache.open(environment: context.environment, home: context.homeDirectory)
        switch try cache.lockAgent() {
        case .acquired(let fd): lockFD = fd
        case .heldElsewhere:
            let pid = AgentState.load(from: cache).state.map { " (pid \($0.pid))" } ?? ""
            throw Failure(.alreadyRunning,
                          "an agent already runs on the cache \(cache.directory.path)\(pid); stop it first, "
                            + "or check it with `stscache agent status`.")
        }
        func setupFailure(_ what: String) -> Failure {
            Failure(.setup, "could not \(what) for the agent: \(String(cString: strerror(errno)))")
        }
        let handled = [SIGTERM, SIGINT, SIGHUP, SIGCHLD]
        signals = handled.withUnsafeBufferPointer { stscache_signal_fd($0.baseAddress, Int32($0.count)) }
        guard signals >= 0 else { throw setupFailure("watch signals") }
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard inotify >= 0 else { throw setupFailure("start inotify") }
        guard let timer = timer ?? RealtimeTimer() else { throw setupFailure("create a timer") }
        self.timer = timer
        startedAt = context.now()
    }

    deinit {
        for refresh in running.values { close(refresh.stderr) }
        close(inotify)
        close(signals)
        close(lockFD)
    }

    // MARK: The loop

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    package func run() -> Int32 {
        begin()
        while true {
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: timer.descriptor, events: Int16(POLLIN), revents: 0)]
            fds += running.values.map { pollfd(fd: $0.stderr, events: Int16(POLLIN), revents: 0) }
            let timeout = pendingReload.map { Int32(max(0, ($0.due - monotonicSeconds()) * 1000).rounded(.up)) } ?? -1
            if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR {
                log("poll failed: \(String(cString: strerror(errno))); stopping")
                return 1
            }
            if let status = turn(timerReadable: fds[2].revents != 0) { return status }
        }
    }

    /// What the agent knows before its first sleep: the files watched, the last agent's record of
    /// use, the config; then the first plan.
    func begin() {
        watchFiles()
        if let previous = AgentState.load(from: cache).state {
            for record in previous.sessions { lastUsed[record.stem] = Date(timeIntervalSince1970: record.lastUsed) }
            persistedUse = lastUsed
        }
        reloadConfig(reason: nil)
        log("watching \(cache.directory.path): sessions used in the last \(Self.duration(settings.plan.keepFor)) are "
            + "refreshed \(Self.duration(settings.plan.lead)) before the callers' "
            + "\(Self.duration(settings.plan.callers.window)) window")
        plan()
    }

    /// One turn of the loop once `poll` returned: takes in whatever woke it, then plans again
    /// from `context.now()`. Returns the exit status when the agent is to stop.
    func turn(timerReadable: Bool) -> Int32? {
        // Always inotify first: an access queued by a child must be seen before it is reaped.
        drainInotify()
        for refresh in running.values { readOutput(of: refresh.stderr) }
        if let pending = pendingReload, monotonicSeconds() >= pending.due { reloadConfig(reason: pending.reason) }
        if timerReadable {
            // A set clock makes every planned moment suspect, and the read that reports it
            // swallows an expiry that came with it: the plan below is made from the new time.
            if timer.read() == .clockChanged { log("the clock changed: re-planning") }
            killOverdueRefreshes()
        }
        while true {
            let signal = stscache_signal_fd_read(signals)
            if signal <= 0 { break }
            switch signal {
            case SIGTERM, SIGINT:
                log("stopping (\(signal == SIGTERM ? "SIGTERM" : "SIGINT"))")
                stateChanged = true
                persistIfChanged()
                return 0
            case SIGHUP:
                reloadConfig(reason: "SIGHUP")
            case SIGCHLD:
                reapChildren()
            default:
                break
            }
        }
        plan()
        return nil
    }

    /// Starts the refreshes that are due, arms the timer for the next moment anything is, and
    /// saves the state if it changed: all from `context.now()`.
    private func plan() {
        startDueRefreshes()
        notifyDue()
        armTimer()
        persistIfChanged()
    }

    // MARK: Files

    private func watchFiles() {
        let cacheMask = UInt32(IN_ACCESS | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM)
        cacheWatch = inotify_add_watch(inotify, cache.directory.path, cacheMask)
        if cacheWatch < 0 { log("warning: cannot watch \(cache.directory.path): \(String(cString: strerror(errno)))") }
        var byDirectory: [String: Set<String>] = [:]
        for path in [context.configFilePath, context.credentialsFilePath] {
            let (directory, name) = splitPath(path)
            byDirectory[directory, default: []].insert(name)
        }
        let configMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM)
        for (directory, names) in byDirectory {
            let watch = inotify_add_watch(inotify, directory, configMask)
            if watch >= 0 {
                configWatches[watch, default: []].formUnion(names)
            } else {
                log("warning: cannot watch \(directory) (\(String(cString: strerror(errno)))); send SIGHUP after "
                    + "changing the config")
            }
        }
    }

    /// Reads what inotify has queued, at most `maximumReads` buffers (a process that keeps
    /// creating and removing files in the cache directory must not keep the loop from signals):
    /// the rest waits for the next turn of the loop.
    private func drainInotify() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var configChanged = false
        var changedStems: Set<String> = []
        var overflow = false
        for _ in 0..<Self.maximumReads {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= count {
                let (watch, mask, nameLength) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + headerSize)..<min(count, offset + headerSize + nameLength)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += headerSize + nameLength
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    overflow = true
                    continue
                }
                if watch == cacheWatch {
                    guard name.hasSuffix(".entry") else { continue }
                    let stem = String(name.dropLast(".entry".count))
                    guard isStem(stem) else { continue }
                    if mask & UInt32(IN_ACCESS) != 0 {
                        noteUse(stem)
                    } else {
                        changedStems.insert(stem)
                    }
                } else if let names = configWatches[watch], names.contains(name) {
                    configChanged = true
                }
            }
        }
        if overflow || configChanged {
            if pendingReload == nil {
                pendingReload = (monotonicSeconds() + Self.reloadDelay, overflow ? "missed file events" : "the config changed")
            }
        }
        for stem in changedStems { entryChanged(stem) }
    }

    private static let maximumReads = 16
    private static let reloadDelay = 0.2

    private func noteUse(_ stem: String) {
        // Reads by our own refresh are not use.
        guard !running.values.contains(where: { $0.stem == stem }) else { return }
        let now = context.now()
        lastUsed[stem] = now
        guard var session = tracked[stem] else { return }
        let wasKept = settings.plan.isKept(session.session, now: now)
        session.session.lastUsed = now
        if !wasKept || session.condition == .idle { session.condition = session.needsMFA ? .needsMFA : .warm }
        tracked[stem] = session
        // Persisting every use would write a file per cache hit: minutes are precise enough.
        if now.timeIntervalSince(persistedUse[stem] ?? .distantPast) >= 60 || !wasKept { stateChanged = true }
    }

    /// An entry was written or removed: by a caller, our child, `purge`, or anyone who can write
    /// to the directory. Only entries the config reaches are looked at.
    private func entryChanged(_ stem: String) {
        guard var session = tracked[stem] else {
            // A new entry the config reaches (first use of a profile): that one entry's header.
            if let reached = reachable[stem] { track(stem, reached.reach, profile: reached.profile, now: context.now()) }
            return
        }
        guard let header = header(stem), header.roleArn == session.key.roleArn else {
            tracked[stem] = nil
            stateChanged = true
            return
        }
        if header.issuedAt != session.session.issuedAt || header.expiration != session.session.expiration {
            session.session.issuedAt = header.issuedAt
            session.session.expiration = header.expiration
            // Someone refreshed it: whatever held it up (MFA, STS) is over.
            session.session.retryAt = nil
            session.failures = 0
            session.needsMFA = false
            session.lastError = nil
            clearPersonNeeded(&session)
            if session.condition != .refreshing { session.condition = .warm }
            tracked[stem] = session
            stateChanged = true
        }
    }

    private func header(_ stem: String) -> EntryHeader? {
        tracked[stem].flatMap { cache.readHeader($0.key) }
    }

    /// Re-reads the config: which entries it reaches, by which profile; then the header of each
    /// of those entries (never a listing of the directory, which anyone able to write to it
    /// could fill).
    private func reloadConfig(reason: String?) {
        pendingReload = nil
        let lookup: RoleLookup
        do {
            let files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
            lookup = RoleLookup(files: files, context: context, keysOnly: true)
        } catch {
            // Keep what we had: a half-edited config must not stop the sessions being kept warm.
            log("warning: \(oneLine(error.message)); keeping the previous profiles until the config reads")
            return
        }
        reachable = [:]
        for (stem, reach) in lookup.reachableEntries() {
            guard let profile = reach.profiles.lazy.compactMap({ lookup.roleProfileName(for: $0) }).first else { continue }
            reachable[stem] = (reach, profile)
        }
        let previous = tracked
        tracked = [:]
        let now = context.now()
        for (stem, reached) in reachable {
            if let session = previous[stem] { tracked[stem] = session }
            track(stem, reached.reach, profile: reached.profile, now: now)
        }
        stateChanged = true
        if let reason {
            log("\(reason): \(tracked.count) cached session\(tracked.count == 1 ? "" : "s") reachable from the config")
        }
    }

    /// Starts (or updates) tracking the entry at `stem` from its header. The header is not
    /// authenticated (it is read without the key): an entry whose header names another role than
    /// the config's key is not this session (a copy, or a forgery) and is not tracked; the role
    /// the agent shows and logs is always the config's.
    private func track(_ stem: String, _ reach: RoleLookup.Reach, profile: String, now: Date) {
        guard let header = cache.readHeader(reach.key), header.roleArn == reach.key.roleArn else {
            tracked[stem] = nil
            return
        }
        // An entry nobody was seen using (the agent was not running) counts as used when issued.
        let used = lastUsed[stem] ?? header.issuedAt
        var session = tracked[stem] ?? Tracked(
            session: KeepWarmPlan.Session(stem: stem, issuedAt: header.issuedAt, expiration: header.expiration, lastUsed: used),
            key: reach.key, profile: profile, profiles: reach.profiles)
        session.key = reach.key
        session.profile = profile
        session.profiles = reach.profiles
        session.session.issuedAt = header.issuedAt
        session.session.expiration = header.expiration
        session.session.lastUsed = max(session.session.lastUsed, used)
        if session.condition != .refreshing {
            session.condition = session.needsMFA ? .needsMFA
                : settings.plan.isKept(session.session, now: now) ? (session.failures > 0 ? .failing : .warm) : .idle
        }
        tracked[stem] = session
        stateChanged = true
    }

    // MARK: Refreshes

    private func startDueRefreshes() {
        let now = context.now()
        let busy = Set(running.values.map(\.stem))
        let candidates = tracked.values.filter { !busy.contains($0.session.stem) && !$0.needsMFA }
        for session in settings.plan.due(candidates.map(\.session), now: now)
            .sorted(by: { $0.expiration < $1.expiration })
        {
            guard running.count < settings.concurrentRefreshes else { break }
            start(session.stem, now: now)
        }
        for (stem, session) in tracked where session.condition != .refreshing && !session.needsMFA {
            let kept = settings.plan.isKept(session.session, now: now)
            let condition: AgentState.Condition = kept ? (session.failures > 0 ? .failing : .warm) : .idle
            if condition != session.condition {
                tracked[stem]?.condition = condition
                stateChanged = true
            }
        }
    }

    private func start(_ stem: String, now: Date) {
        guard var session = tracked[stem] else { return }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            log("cannot refresh \(session.profile): pipe: \(String(cString: strerror(errno)))")
            return
        }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(pipeFDs[0], F_SETFL, O_NONBLOCK)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer {
            if null >= 0 { close(null) }
            close(pipeFDs[1])
        }
        // The plan's policy, rounded up: the plan starts the refresh a moment after the agent's
        // window opens, so the child finds it due; the pipeline's lock and re-check keep it to
        // one STS call.
        let policy = settings.plan.agentPolicy
        let arguments = [settings.executable, "credential-process", "--profile", session.profile,
                         "--refresh-window", String(Int(policy.window.rounded(.up))),
                         "--lead", String(Int(policy.lead.rounded(.up))), "--refresh-only"]
        // The agent blocks the signals its signalfd reads; the child must start with none blocked
        // (a refresh that ignored SIGTERM could not be stopped).
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        do {
            let pid = try Spawn.start(path: settings.executable, arguments: arguments,
                                      environment: Self.childEnvironment(context.environment),
                                      stdin: null, stdout: null, stderr: pipeFDs[1], newSession: true,
                                      signalMask: unblocked)
            running[pid] = Refresh(stem: stem, stderr: pipeFDs[0],
                                   deadline: monotonicSeconds() + settings.refreshTimeout,
                                   previousIssuedAt: session.session.issuedAt)
            session.condition = .refreshing
            tracked[stem] = session
            stateChanged = true
            log("refreshing \(session.profile) (\(session.roleArn)): expires \(Timestamps.formatRFC3339(session.session.expiration))")
        } catch {
            close(pipeFDs[0])
            log("cannot start a refresh of \(session.profile): \(String(cString: strerror(error.errno)))")
            recordFailure(stem, reason: "could not start stscache", now: now)
        }
    }

    /// The agent's own environment for its refreshes (stscache itself, so the cache's settings
    /// stay, `STSCACHE_CACHE_KEY` included), without a one-time MFA code, and never interactive.
    package static func childEnvironment(_ environment: [String: String]) -> [String: String] {
        var child = environment
        child["STSCACHE_MFA_TOKEN"] = nil
        child["STSCACHE_NONINTERACTIVE"] = "1"
        return child
    }

    private func readOutput(of fd: Int32) {
        guard let pid = running.first(where: { $0.value.stderr == fd })?.key else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            // The last 4 KiB are plenty for stscache's one-line messages.
            running[pid]?.output.append(contentsOf: buffer[0..<count])
            if let output = running[pid]?.output, output.count > 4096 {
                running[pid]?.output = Array(output.suffix(4096))
            }
        }
    }

    private func reapChildren() {
        // Everything a child read was queued before it exited: see it while it still counts as ours.
        drainInotify()
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            guard let refresh = running.removeValue(forKey: pid) else { continue }
            readOutput(of: refresh.stderr)
            close(refresh.stderr)
            finish(refresh, termination: Termination(waitStatus: status),
                   output: String(decoding: refresh.output, as: UTF8.self))
        }
    }

    private func finish(_ refresh: Refresh, termination: Termination, output: String) {
        let now = context.now()
        guard var session = tracked[refresh.stem] else { return }
        let lastLine = output.split(whereSeparator: { $0 == "\n" }).last.map { Self.sanitized(String($0)) }
        if let header = header(refresh.stem) {
            session.session.issuedAt = header.issuedAt
            session.session.expiration = header.expiration
        }
        tracked[refresh.stem] = session
        let refreshed = session.session.issuedAt > refresh.previousIssuedAt
        let personNeeded = PersonNeeded.classify(termination: termination, message: lastLine, profile: session.profile)
        if termination == .exited(StscacheExitStatus.mfaNotAsked) {
            session.needsMFA = true
            session.condition = .needsMFA
            session.lastError = lastLine
            markPersonNeeded(&session, personNeeded)
            tracked[refresh.stem] = session
            stateChanged = true
            log("\(session.profile) needs a new MFA code: left for the next caller at a terminal")
        } else if termination.succeeded && refreshed {
            session.failures = 0
            session.session.retryAt = nil
            session.lastError = nil
            session.condition = .warm
            clearPersonNeeded(&session)
            tracked[refresh.stem] = session
            stateChanged = true
            log("refreshed \(session.profile): the new session expires \(Timestamps.formatRFC3339(session.session.expiration)), "
                + "next refresh \(Timestamps.formatRFC3339(settings.plan.refreshAt(session.session)))")
        } else {
            let reason = lastLine ?? (termination.succeeded ? "the session was not refreshed" : termination.text)
            recordFailure(refresh.stem, reason: reason, now: now)
            if let personNeeded, var failed = tracked[refresh.stem] {
                markPersonNeeded(&failed, personNeeded)
                tracked[refresh.stem] = failed
            }
        }
    }

    // MARK: Telling a person

    private func markPersonNeeded(_ session: inout Tracked, _ need: PersonNeeded?) {
        guard let need else { return }
        session.personNeeded = need
        cache.markAttention(stem: session.session.stem, expiration: session.session.expiration)
    }

    private func clearPersonNeeded(_ session: inout Tracked) {
        guard session.personNeeded != nil else { return }
        session.personNeeded = nil
        session.notifiedFor = nil
        cache.clearAttention(stem: session.session.stem)
    }

    /// When the person should be told about `session`; nil when not (nothing needed, told
    /// already, notifications off, or expired).
    private func notifyAt(_ session: Tracked) -> Date? {
        guard session.personNeeded != nil, settings.notifyLead > 0, session.notifiedFor != session.session.expiration
        else { return nil }
        return session.session.expiration.addingTimeInterval(-settings.notifyLead)
    }

    /// Tells the person about each kept session that needs them and expires within the lead:
    /// once per session, by the notifier and in the log.
    private func notifyDue() {
        let now = context.now()
        for (stem, session) in tracked {
            guard let at = notifyAt(session), at <= now, session.session.expiration > now,
                  settings.plan.isKept(session.session, now: now), let need = session.personNeeded else { continue }
            tracked[stem]?.notifiedFor = session.session.expiration
            let remaining = session.session.expiration.timeIntervalSince(now)
            let text = need.notification(profile: session.profile, remaining: remaining)
            let sent = settings.notifier?.send(summary: text.summary, body: text.body) ?? false
            log("\(text.summary): \(text.body) (\(sent ? "told via \(settings.notifier?.name ?? "")" : "no desktop notifier"))")
        }
    }

    private func recordFailure(_ stem: String, reason: String, now: Date) {
        guard var session = tracked[stem] else { return }
        session.failures += 1
        let delay = KeepWarmPlan.retryDelay(failures: session.failures, random: Double.random(in: 0...1))
        // Not sooner than 5 s: a failure that is instant must not spin.
        session.session.retryAt = now.addingTimeInterval(max(5, delay))
        session.lastError = reason
        session.condition = .failing
        tracked[stem] = session
        stateChanged = true
        let valid = session.session.expiration > now
            ? "the cached session stays valid until \(Timestamps.formatRFC3339(session.session.expiration))"
            : "the cached session has expired"
        log("refresh of \(session.profile) failed (\(reason)); \(valid); next try \(Timestamps.formatRFC3339(settings.plan.nextAttempt(session.session)))")
    }

    private func killOverdueRefreshes() {
        let now = monotonicSeconds()
        for (pid, refresh) in running where refresh.deadline <= now {
            // Its own process group (it started a session): helpers it started go too.
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            log("a refresh of \(tracked[refresh.stem]?.profile ?? refresh.stem) ran over \(Int(settings.refreshTimeout)) s and was stopped")
        }
    }

    private func armTimer() {
        let now = context.now()
        let busy = Set(running.values.map(\.stem))
        // With every refresh slot taken, a session already due would fire the timer at once, again
        // and again: the next child's exit (SIGCHLD) is the wake-up then.
        let slotFree = running.count < settings.concurrentRefreshes
        var wake = slotFree ? settings.plan.nextWake(
            tracked.values.filter { !busy.contains($0.session.stem) && !$0.needsMFA }.map(\.session), now: now) : nil
        // The moment a kept session turns idle, so `agent status` says so when it happens.
        if let idle = tracked.values.filter({ settings.plan.isKept($0.session, now: now) })
            .map({ $0.session.lastUsed.addingTimeInterval(settings.plan.keepFor + 1) }).min() {
            wake = min(wake ?? idle, idle)
        }
        // The moment a person is to be told about a session that needs them.
        if let tell = tracked.values.compactMap({ notifyAt($0) }).filter({ $0 > now }).min() {
            wake = min(wake ?? tell, tell)
        }
        if let overdue = running.values.map(\.deadline).min() {
            let at = now.addingTimeInterval(max(0, overdue - monotonicSeconds()) + 0.1)
            wake = min(wake ?? at, at)
        }
        // Idle sessions are not planned (nil disarms): one becomes kept again only through a
        // use, which wakes us.
        timer.arm(at: wake)
    }

    // MARK: State and log

    private func persistIfChanged() {
        guard stateChanged else { return }
        stateChanged = false
        let now = context.now()
        let busy = Set(running.values.map(\.stem))
        let records = tracked.values.sorted { $0.profile < $1.profile }.map { session in
            AgentState.Record(
                stem: session.session.stem, profile: session.profile, profiles: session.profiles,
                roleArn: session.roleArn, issuedAt: session.session.issuedAt.timeIntervalSince1970,
                expiration: session.session.expiration.timeIntervalSince1970,
                lastUsed: session.session.lastUsed.timeIntervalSince1970,
                nextRefresh: session.needsMFA || busy.contains(session.session.stem) || !settings.plan.isKept(session.session, now: now)
                    ? nil : settings.plan.nextAttempt(session.session).timeIntervalSince1970,
                condition: session.condition, failures: session.failures, lastError: session.lastError)
        }
        let state = AgentState(pid: getpid(), started: startedAt.timeIntervalSince1970,
                               updated: now.timeIntervalSince1970, window: settings.plan.callers.window,
                               lead: settings.plan.lead, keepFor: settings.plan.keepFor, sessions: records)
        do {
            try cache.writeAgentState(state.encoded())
            for session in tracked.values { persistedUse[session.session.stem] = session.session.lastUsed }
        } catch {
            log("warning: could not save the agent's state: \(describe(error))")
        }
    }

    /// One line per event, whatever the message holds: profile names come from the config and
    /// reasons from children, so the whole message is made one line, terminal controls escaped,
    /// and bounded (`loggable`).
    private func log(_ message: String) {
        context.output.stderr("\(Timestamps.formatRFC3339(context.now())) stscache agent: \(Self.loggable(message))\n")
    }

    /// `message` as the log writes it: one line, no terminal controls, at most 2,000 bytes.
    package static func loggable(_ message: String) -> String {
        let text = TerminalText.escaped(oneLine(message))
        return text.utf8.count > 2000 ? String(decoding: Array(text.utf8.prefix(2000)), as: UTF8.self) + "…" : text
    }

    /// A child's stderr line as the agent repeats it: one line, no terminal controls, bounded.
    package static func sanitized(_ line: String) -> String {
        var text = TerminalText.escaped(oneLine(line))
        if text.hasPrefix("stscache: ") { text.removeFirst("stscache: ".count) }
        return text.utf8.count > 300 ? String(decoding: Array(text.utf8.prefix(300)), as: UTF8.self) + "…" : text
    }

    /// `12h`, `5m`, `90s`.
    package static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole >= 3600 && whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole >= 60 && whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}

/// The codes of `CachingAgent.Failure`: `agent.<code>`.
package enum AgentErrorCode: String, ErrorCode {
    package static let domain = "agent"

    /// Another agent holds the cache's agent lock.
    case alreadyRunning = "already-running"
    /// A descriptor the agent waits on (signalfd, inotify, timerfd) could not be made.
    case setup
}
