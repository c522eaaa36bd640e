#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import STS

/// Runs a helper command (`credential_process`, `mfa_process`) the way the Go SDK and the AWS
/// CLI v2 do: `/bin/sh -c COMMAND`. Its stdout is captured (bounded), its stdin and stderr are
/// ours (so a helper can prompt on the terminal and its diagnostics reach the user), and it
/// runs with exactly the environment given. It is killed when it overruns its time.
struct HelperProcess {
    enum Termination: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        var succeeded: Bool { self == .exited(0) }

        /// "exit status 3", "signal 9".
        var text: String {
            switch self {
            case .exited(let status): return "exit status \(status)"
            case .signaled(let signal): return "signal \(signal)"
            }
        }
    }

    struct Outcome: Sendable {
        var termination: Termination
        var stdout: [UInt8]
    }

    enum Failure: Error, Equatable {
        case couldNotStart(errno: Int32)
        case timedOut(seconds: Double)
        case outputTooLarge(limit: Int)
    }

    var shell = "/bin/sh"

    /// - Parameters:
    ///   - timeout: seconds until the helper is stopped (SIGTERM, then SIGKILL a second later).
    ///   - outputLimit: stdout bytes accepted; more stops the helper.
    func run(_ command: String, environment: [String: String], timeout: Double, outputLimit: Int)
        throws(Failure) -> Outcome
    {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw .couldNotStart(errno: errno) }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        // Neither end may leak into the helper beyond its stdout (dup2 clears the flag on fd 1).
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // We ignore SIGPIPE; an ignored signal stays ignored across exec, and helpers expect the default.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        var owned: [UnsafeMutablePointer<CChar>?] = []
        defer { owned.forEach { free($0) } }
        func cString(_ s: String) -> UnsafeMutablePointer<CChar>? {
            let copy = strdup(s)
            owned.append(copy)
            return copy
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [cString("sh"), cString("-c"), cString(command), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }
            .map { cString("\($0.key)=\($0.value)") } + [nil]

        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, shell, &actions, &attributes, argv, envp)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            throw .couldNotStart(errno: spawned)
        }
        defer { close(readEnd) }

        let deadline = monotonicNow() + max(0, timeout)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            let remaining = deadline - monotonicNow()
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
            if reaped == pid { return Outcome(termination: Self.termination(status), stdout: output) }
            if reaped < 0 && errno != EINTR {
                return Outcome(termination: .exited(-1), stdout: output)
            }
            if monotonicNow() >= deadline {
                stop(pid)
                throw .timedOut(seconds: timeout)
            }
            STSClient.systemSleep(pause)
            pause = min(pause * 2, 0.05)
        }
    }

    /// SIGTERM, a second's grace, SIGKILL; always reaped.
    private func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        let graceEnds = monotonicNow() + 1
        var status: Int32 = 0
        while monotonicNow() < graceEnds {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            STSClient.systemSleep(0.01)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func termination(_ status: Int32) -> Termination {
        // WIFEXITED / WEXITSTATUS / WTERMSIG spelled out: the macros are not imported.
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
