#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CProcessControl

/// The one place stscache starts another program: `exec` children, `credential_process`
/// sources and `mfa_process` all go through `Spawn.start`, so each gets its core limit back.
/// The environment is the caller's to choose (stscache's rule for it is `ChildEnvironment`).
package enum Spawn {
    /// posix_spawn's error (an errno value).
    package struct Failure: Error, Equatable {
        package var errno: Int32
    }

    /// Starts `path` with `arguments` (argv[0] first) and exactly `environment`. Signals in `defaultSignals` start at their default action (SIGPIPE always:
    /// stscache ignores it, and an ignored signal would stay ignored across exec); `signalMask`,
    /// when given, is the child's mask; `stdin`, `stdout` and `stderr`, when given, become the
    /// child's fds 0, 1 and 2; `newSession` starts it in a session of its own, without a
    /// controlling terminal (the agent's refreshes: nothing it starts can prompt).
    package static func start(path: String, arguments: [String], environment: [String: String],
                      stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil, newSession: Bool = false,
                      signalMask: sigset_t? = nil, defaultSignals: [Int32] = [])
        throws(Failure) -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in defaultSignals + [SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGDEF
        if newSession {
            let setsid = Int32(stscache_spawn_setsid_flag())
            guard setsid != 0 else { throw Failure(errno: ENOSYS) }
            flags |= setsid
        }
        if var signalMask {
            posix_spawnattr_setsigmask(&attributes, &signalMask)
            flags |= POSIX_SPAWN_SETSIGMASK
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = arguments.map { strdup($0) }
        let envp = environment.sorted { $0.key < $1.key }
            .map { strdup($0.key + "=" + $0.value) }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = CoreDumps.withStartingLimit {
            (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                (envp + [nil]).withUnsafeBufferPointer { envpBuffer in
                    posix_spawn(&pid, path, &actions, &attributes, argvBuffer.baseAddress!, envpBuffer.baseAddress!)
                }
            }
        }
        guard spawned == 0 else { throw Failure(errno: spawned) }
        return pid
    }
}

/// How a child ended: WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG, spelled out because
/// Swift does not import the macros.
package enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    package init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    package var succeeded: Bool { self == .exited(0) }

    /// The status a shell reports: the exit status, or 128+N when signal N ended it.
    package var shellStatus: Int32 {
        switch self {
        case .exited(let status): return status
        case .signaled(let signal): return 128 + signal
        }
    }

    /// "exit status 3", "signal 9".
    package var text: String {
        switch self {
        case .exited(let status): return "exit status \(status)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// This process's own executable, as the kernel knows it (`/proc/self/exe`): right however it
/// was started (a relative path, a PATH lookup, a link). After a package upgrade replaced the
/// file, the kernel names the old one with " (deleted)": the new one at the same path is the
/// one to run, so that suffix is dropped. Nil when /proc cannot say (not mounted).
package func ownExecutablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    var path = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
    return path
}

/// Where a program name leads, searched the way execvp and Python's subprocess search: a
/// name with a `/` is used as is; otherwise each PATH directory in order (an empty one is the
/// current directory), the first regular file that is executable wins.
package enum ExecutableSearch {
    package enum Outcome: Equatable {
        case found(String)
        /// Nothing by that name (exit 127 in a shell).
        case notFound
        /// Something by that name that cannot be run (exit 126 in a shell).
        case notExecutable(String)
    }

    /// - Parameter environment: the child's environment (its PATH, not necessarily stscache's).
    package static func locate(_ command: String, environment: [String: String]) -> Outcome {
        func isRegularFile(_ path: String) -> Bool {
            var info = stat()
            return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        }
        if command.contains("/") {
            guard access(command, F_OK) == 0 else { return .notFound }
            guard isRegularFile(command), access(command, X_OK) == 0 else { return .notExecutable(command) }
            return .found(command)
        }
        guard !command.isEmpty else { return .notFound }
        let searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var notExecutable: String?
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + command
            guard isRegularFile(candidate) else { continue }
            if access(candidate, X_OK) == 0 { return .found(candidate) }
            notExecutable = notExecutable ?? candidate
        }
        return notExecutable.map { .notExecutable($0) } ?? .notFound
    }
}

/// Runs a program with its stdout captured (bounded) and its stdin and stderr ours (so a
/// helper can prompt on the terminal and its diagnostics reach the user), with exactly the
/// environment given. It is killed when it overruns its time.
package enum CapturedProcess {
    package struct Outcome: Sendable {
        package var termination: Termination
        package var stdout: [UInt8]
    }

    package enum Failure: Error, Equatable {
        case couldNotStart(errno: Int32)
        case timedOut(seconds: Double)
        case outputTooLarge(limit: Int)
    }

    /// - Parameters:
    ///   - arguments: argv, argv[0] first.
    ///   - timeout: seconds until the program is stopped (SIGTERM, then SIGKILL a second later).
    ///   - outputLimit: stdout bytes accepted; more stops the program.
    package static func run(path: String, arguments: [String], environment: [String: String], timeout: Double, outputLimit: Int)
        throws(Failure) -> Outcome
    {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw .couldNotStart(errno: errno) }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        // Neither end may leak into the helper beyond its stdout (dup2 clears the flag on fd 1).
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        let pid: pid_t
        do {
            pid = try Spawn.start(path: path, arguments: arguments, environment: environment,
                                  stdout: writeEnd)
        } catch {
            close(writeEnd)
            close(readEnd)
            throw .couldNotStart(errno: error.errno)
        }
        close(writeEnd)
        defer { close(readEnd) }

        let deadline = monotonicSeconds() + max(0, timeout)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                stop(pid)
                throw .timedOut(seconds: timeout)
            }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready < 0 {
                if errno == EINTR { continue }
                break reading
            }
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break reading
            }
            if count == 0 { break reading }
            output.append(contentsOf: buffer[0..<count])
            if output.count > outputLimit {
                stop(pid)
                throw .outputTooLarge(limit: outputLimit)
            }
        }

        // stdout is closed; the helper may still be finishing (or have left a child holding it).
        var pause = 0.002
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return Outcome(termination: Termination(waitStatus: status), stdout: output) }
            if reaped < 0 && errno != EINTR {
                return Outcome(termination: .exited(-1), stdout: output)
            }
            if monotonicSeconds() >= deadline {
                stop(pid)
                throw .timedOut(seconds: timeout)
            }
            sleepSeconds(pause)
            pause = min(pause * 2, 0.05)
        }
    }

    /// SIGTERM, a second's grace, SIGKILL; always reaped.
    private static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        let graceEnds = monotonicSeconds() + 1
        var status: Int32 = 0
        while monotonicSeconds() < graceEnds {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            sleepSeconds(0.01)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

