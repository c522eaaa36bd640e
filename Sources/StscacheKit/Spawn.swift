#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place stscache starts another program: `exec` children, `credential_process`
/// sources and `mfa_process` all go through `Spawn.start`, so each gets the same environment
/// rule and its core limit back.
enum Spawn {
    /// posix_spawn's error (an errno value).
    struct Failure: Error, Equatable {
        var errno: Int32
    }

    /// Starts `path` with `arguments` (argv[0] first) and `ChildEnvironment.inherited(from:
    /// environment)`. Signals in `defaultSignals` start at their default action (SIGPIPE always:
    /// stscache ignores it, and an ignored signal would stay ignored across exec); `signalMask`,
    /// when given, is the child's mask; `stdout`, when given, becomes the child's fd 1.
    static func start(path: String, arguments: [String], environment: [String: String],
                      stdout: Int32? = nil, signalMask: sigset_t? = nil, defaultSignals: [Int32] = [])
        throws(Failure) -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in defaultSignals + [SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGDEF
        if var signalMask {
            posix_spawnattr_setsigmask(&attributes, &signalMask)
            flags |= POSIX_SPAWN_SETSIGMASK
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = arguments.map { strdup($0) }
        let envp = ChildEnvironment.inherited(from: environment).sorted { $0.key < $1.key }
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
enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    var succeeded: Bool { self == .exited(0) }

    /// The status a shell reports: the exit status, or 128+N when signal N ended it.
    var shellStatus: Int32 {
        switch self {
        case .exited(let status): return status
        case .signaled(let signal): return 128 + signal
        }
    }

    /// "exit status 3", "signal 9".
    var text: String {
        switch self {
        case .exited(let status): return "exit status \(status)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// What every child of stscache inherits from stscache's environment.
///
/// The rule: everything, except `STSCACHE_*` variables not listed in `keptSettings`. Removed,
/// in particular: `STSCACHE_CACHE_KEY` (the `env` key store's key, which decrypts every cache
/// entry) and `STSCACHE_MFA_TOKEN` (a one-time code: a helper has no use for it, and a nested
/// stscache handed it would send a code already used). An `STSCACHE_*` name that is not known
/// is removed too, so a secret setting added later is not leaked by default. The rule is the
/// same for all three kinds of child (`exec` commands, `credential_process` sources,
/// `mfa_process`): each may run stscache again (a shell, a wrapper script), and that stscache
/// should find the same cache and behave as the user configured it. What the kinds add on top
/// is set by their callers: sources get `STSCACHE_CHAIN` extended (loop detection), `exec`
/// children `STSCACHE_EXEC_PROFILE` (for `prompt`).
///
/// A nested stscache under the `env` key store therefore fails with a clear message (no key)
/// instead of working. `STSCACHE_KEY_STORE` stays (and is set to `env` when the key alone chose
/// that store) so that it does fail, rather than fall back to another key store and overwrite
/// the cache with entries under another key.
enum ChildEnvironment {
    /// Settings that are not secrets and that a nested stscache needs to behave the same.
    static let keptSettings: Set<String> = [
        // Where the cache is and which key store: the same cache, or a clear error.
        "STSCACHE_CACHE_DIR", "STSCACHE_KEY_STORE",
        // Markers stscache sets for its own children: loop detection, the exec'd profile.
        "STSCACHE_CHAIN", "STSCACHE_EXEC_PROFILE",
        // Tuning the user chose for every run.
        "STSCACHE_REFRESH_WINDOW", "STSCACHE_LOCK_TIMEOUT", "STSCACHE_STS_TIMEOUT", "STSCACHE_ATTEMPT_TIMEOUT",
        "STSCACHE_CONNECT_TIMEOUT", "STSCACHE_MAX_ATTEMPTS", "STSCACHE_PROCESS_TIMEOUT",
        "STSCACHE_MFA_SESSION_DURATION", "STSCACHE_VERBOSE",
        // The user's opt-in to plain http off this machine: a nested run must reach the same STS.
        "STSCACHE_ALLOW_INSECURE_HTTP",
    ]

    /// Settings that must never reach a child (removed by the rule anyway; named for the tests
    /// and for whoever reads this).
    static let secrets: Set<String> = ["STSCACHE_CACHE_KEY", "STSCACHE_MFA_TOKEN"]

    static func inherited(from environment: [String: String]) -> [String: String] {
        var child = environment.filter { name, _ in !name.hasPrefix("STSCACHE_") || keptSettings.contains(name) }
        // STSCACHE_CACHE_KEY alone selects the env key store. Without it a nested stscache
        // would pick the keyring instead: say env explicitly, so it fails for want of the key.
        if !(environment["STSCACHE_CACHE_KEY"] ?? "").isEmpty, (environment["STSCACHE_KEY_STORE"] ?? "").isEmpty {
            child["STSCACHE_KEY_STORE"] = "env"
        }
        return child
    }
}

/// Where a program name leads, searched the way execvp and Python's subprocess search: a
/// name with a `/` is used as is; otherwise each PATH directory in order (an empty one is the
/// current directory), the first regular file that is executable wins.
enum ExecutableSearch {
    enum Outcome: Equatable {
        case found(String)
        /// Nothing by that name (exit 127 in a shell).
        case notFound
        /// Something by that name that cannot be run (exit 126 in a shell).
        case notExecutable(String)
    }

    /// - Parameter environment: the child's environment (its PATH, not necessarily stscache's).
    static func locate(_ command: String, environment: [String: String]) -> Outcome {
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
