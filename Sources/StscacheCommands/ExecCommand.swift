#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CProcessControl
import AWSConfig
import CredentialCache
import Credentials
import StscacheSupport
import LocalEndpoint

/// `stscache exec --profile NAME -- COMMAND ...`: runs a command with the role's credentials
/// in its environment, for tools that only read environment variables.
struct ExecCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command with the role's credentials in its environment, and exit with its status.",
        usage: "stscache exec --profile <profile> [--policy-arn <arn> ...] [--policy-file <file>] [--server] [--refresh-window <window>] [--verbose] -- <command> [<argument> ...]",
        discussion: """
            The child gets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, \
            AWS_CREDENTIAL_EXPIRATION, AWS_ACCOUNT_ID, STSCACHE_PROFILE and the profile's endpoint settings \
            (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS, ...); AWS_PROFILE and \
            AWS_DEFAULT_PROFILE are removed (so its SDK does not go back through the config), \
            and so are STSCACHE_CACHE_KEY and STSCACHE_MFA_TOKEN (secrets of stscache's own); \
            AWS_REGION and AWS_DEFAULT_REGION are set from the profile's region when neither is \
            set. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to stscache are passed on. Exits with \
            the command's status, 128+N when signal N killed it, 127 when it is not found.

            With --server the child gets no keys: AWS_CONTAINER_CREDENTIALS_FULL_URI (a local \
            endpoint on 127.0.0.1 that lives as long as the child) and \
            AWS_CONTAINER_AUTHORIZATION_TOKEN instead, so its SDK fetches credentials, refreshed \
            from the cache, for as long as it runs: a job longer than one session keeps working.

            With --policy-arn and/or --policy-file the child's session is scoped by those session \
            policies (it can do what the role and the policies both allow), cached as a session of \
            its own and never handed to a caller without them. A profile that sets policy_arns or \
            policy itself is refused: its policies and the flags' could only be combined by widening.
            """)

    /// Set in the child to the profile it was started with (`prompt` shows it).
    static let profileMarker = ExportCommand.profileMarker

    @Option(name: .long, help: "The profile whose role to use (a role profile, or one delegating to stscache).",
            completion: .profileNames)
    var profile: String

    @Option(name: .long, help: "Refresh when less than this is left, e.g. 900, 15m, 1h (default 15m).")
    var refreshWindow: String?

    @Flag(name: .long, help: "Serve the credentials to the command from a local endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI and a token) instead of putting keys in its environment; its SDK fetches fresh ones for as long as it runs.")
    var server = false

    @OptionGroup var scopeOptions: ScopeOptions

    @OptionGroup var cacheOptions: CacheOptions

    @Argument(parsing: .captureForPassthrough, help: "The command to run and its arguments, after --.")
    var command: [String] = []

    /// The command line without the `--` that separates it from stscache's options.
    var commandLine: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func validate() throws {
        guard !commandLine.isEmpty else {
            throw ValidationError("give the command to run after --, e.g. stscache exec --profile prod -- aws s3 ls")
        }
    }

    func run(context: Context) throws {
        let arguments = commandLine
        // Before fetching anything: a typo should not cost an STS call.
        let scope = try scopeOptions.scope()
        let path = try Self.locate(arguments[0], environment: context.environment)
        let fetched = try RoleCredentials.fetch(context: context, profile: profile, refreshWindow: refreshWindow,
                                                verbose: cacheOptions.verbose || context.verbose,
                                                scope: scope.isEmpty ? nil : scope)
        if server && fetched.isLongTermKeys {
            throw CommandError(.longTermKeysNotServed, "profile \"\(oneLine(profile))\" is long-term keys from stscache's "
                + "store, not a role; exec --server serves sessions that expire. Run it without --server (the child gets "
                + "the keys), or use a role profile whose source_profile is \(oneLine(profile)).")
        }
        guard server else {
            fetched.recordHandOut(.exec)
            let status = try ChildProcess.run(path: path, arguments: arguments,
                                              environment: try Self.childEnvironment(context.environment, fetched))
            if status != 0 { throw ExitCode(status) }
            return
        }
        // Requests are answered one at a time on the server's thread: the origin of the last
        // fetch is the origin of what the hook is told of.
        let lastOrigin = LastOrigin()
        var endpoint = ContainerEndpoint(
            token: try ContainerEndpoint.newToken(),
            // The pipeline's own rule for the served session: fresh, or refused.
            minimumRemaining: fetched.window, now: context.now,
            credentials: {
                let (credentials, origin) = try fetched.handOutAgain()
                lastOrigin.value = origin
                return credentials
            })
        if let audit = fetched.audit {
            endpoint.handedOut = { credentials, request in
                let caller = request.peer.map { AuditLog.endpointClient(clientPort: $0.clientPort, serverPort: $0.serverPort) }
                audit.record(.endpoint, profile: fetched.profile, role: fetched.role, credentials: credentials,
                             origin: lastOrigin.value, caller: caller ?? .unknown("no peer address"))
            }
        }
        let server = try EndpointServer(endpoint: endpoint)
        let running = try server.startThread()
        defer { running.stop() }
        let environment = try Self.childEnvironment(context.environment, fetched,
                                                endpoint: (url: server.url, token: endpoint.token))
        let status = try ChildProcess.run(path: path, arguments: arguments, environment: environment)
        if status != 0 { throw ExitCode(status) }
    }

    /// The child's environment: the caller's (less what `ChildEnvironment` removes), with the
    /// role's credentials in and the profile selection out. With `endpoint` (`--server`) the
    /// credentials are the endpoint's URI and token instead of keys, and every other source the
    /// child's SDK would try before the container provider is removed.
    static func childEnvironment(_ base: [String: String], _ fetched: RoleCredentials,
                                 endpoint: (url: String, token: String)? = nil) throws -> [String: String] {
        var environment = ChildEnvironment.inherited(from: base)
        // With AWS_PROFILE still set, some SDKs would resolve the profile again (and a
        // delegating profile would call stscache once more). AWS_SECURITY_TOKEN is the legacy
        // name of the session token: a stale one must not sit next to the new keys.
        // An inherited AWS_ACCOUNT_ID (another profile's export) would pair another account with
        // these credentials: the role's own is set below, when known.
        for name in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCOUNT_ID"] {
            environment[name] = nil
        }
        if let endpoint {
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CREDENTIAL_EXPIRATION",
                         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                         "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"] {
                environment[name] = nil
            }
            environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = endpoint.url
            environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = endpoint.token
        } else {
            for (name, value) in ExportCommand.variables(fetched.credentials) {
                environment[name] = value
            }
        }
        // The profile's region and endpoints (the child no longer reads the profile) and its name.
        for (name, value) in try ExportCommand.profileVariables(fetched, environment: base) {
            environment[name] = value
        }
        return environment
    }

    /// The executable a shell would run for `command`, searched in the child's PATH (not
    /// stscache's own). Not found: exit 127; found but not executable: exit 126.
    static func locate(_ command: String, environment: [String: String]) throws -> String {
        switch ExecutableSearch.locate(command, environment: environment) {
        case .found(let path):
            return path
        case .notExecutable(let path):
            let reason = command.contains("/") ? "not an executable file" : "permission denied"
            throw CommandError(.commandNotExecutable, "cannot run \(path): \(reason)")
        case .notFound:
            if command.contains("/") {
                throw CommandError(.commandNotFound, "cannot run \(command): no such file")
            }
            throw CommandError(.commandNotFound, "command not found: \(command) (not in PATH)")
        }
    }
}

/// Runs a child process the way a shell runs a foreground job, and reports how it ended.
enum ChildProcess {
    static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Spawns `path` with `arguments` (argv[0] first) and exactly `environment`, passes on SIGINT/SIGTERM/SIGHUP/SIGQUIT while it runs, and
    /// returns its exit status, or 128+N when signal N ended it.
    ///
    /// Only signals sent by a process (`kill`, `timeout`, a supervisor) are passed on. One the
    /// terminal generates (Ctrl-C, Ctrl-\) already reaches the child, which is in the same
    /// foreground process group; sending it a second one would make tools such as terraform
    /// abort without cleaning up.
    ///
    /// No signal is lost, whichever thread of stscache takes it (`exec --server` has the
    /// endpoint's thread too) and whenever it comes: the handler (C, `stscache_forward_handler`)
    /// records each one in an atomic set before it looks for the child's pid, and setting the pid
    /// sends whatever was recorded before it.
    static func run(path: String, arguments: [String], environment: [String: String]) throws -> Int32 {
        stscache_forward_to(0)

        // A signal the caller ignores (nohup, a background job) stays ignored, for the child too.
        var previous: [(Int32, sigaction)] = []
        var defaultInChild: [Int32] = []  // SIGPIPE too: Spawn resets it for every child
        for signal in forwardedSignals {
            var old = sigaction()
            sigaction(signal, nil, &old)
            if isIgnored(old) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = stscache_forward_handler
            action.sa_flags = SA_SIGINFO | SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
            previous.append((signal, old))
            defaultInChild.append(signal)
        }
        defer {
            stscache_forward_to(0)
            for (signal, old) in previous {
                var old = old
                sigaction(signal, &old, nil)
            }
        }

        // The child inherits the caller's signal mask, except that the signals passed on (and
        // SIGPIPE) must reach it: a thread that blocks them (a worker thread) would otherwise
        // start a child that cannot be stopped.
        var childMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &childMask)
        for signal in forwardedSignals + [SIGPIPE] { sigdelset(&childMask, signal) }
        let pid: pid_t
        do {
            pid = try Spawn.start(path: path, arguments: arguments, environment: environment,
                                  signalMask: childMask, defaultSignals: defaultInChild)
        } catch {
            let reason = String(cString: strerror(error.errno))
            switch error.errno {
            case ENOENT: throw CommandError(.commandNotFound, "cannot run \(path): \(reason)")
            case EACCES, ENOEXEC, EISDIR:
                throw CommandError(.commandNotExecutable, "cannot run \(path): \(reason)")
            default: throw CommandError(.spawnFailed, "cannot start \(path): \(reason)")
            }
        }
        stscache_forward_to(pid)  // and whatever arrived since the handlers went in

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return 1 }
        }
        return Termination(waitStatus: status).shellStatus
    }

    private static func isIgnored(_ action: sigaction) -> Bool {
        #if canImport(Glibc)
        let handler = unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        #else
        let handler = unsafeBitCast(action.__sigaction_u.__sa_handler, to: Int.self)
        #endif
        return handler == 1  // SIG_IGN
    }
}

/// The origin of the endpoint's last fetch (read and written on the server's one thread).
private final class LastOrigin: @unchecked Sendable {
    var value = CredentialBroker.Origin.cache
}
