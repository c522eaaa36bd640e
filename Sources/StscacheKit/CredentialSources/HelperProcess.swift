#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import STS
import StscacheSupport

/// A helper's command line (`credential_process`, `mfa_process`) made ready to run the way
/// botocore runs `credential_process`: split into words by Python's `shlex.split` rules
/// (`shellWords`), the first word looked up in PATH, and executed directly, without a shell.
/// botocore may read the same profile, so a line must mean the same to both: `;`, `|`, `$(...)`
/// and `$VAR` are plain characters of a word. Shell syntax needs an explicit `sh -c '...'`.
struct HelperCommand: Equatable {
    /// The executable to run.
    var path: String
    /// argv, argv[0] (the word as written) first.
    var arguments: [String]

    enum Problem: Error, Equatable {
        /// An unterminated quote or a trailing backslash (where shlex raises).
        case unsplittable
        /// No words at all, or an empty first word (`''`).
        case empty
        /// The first word names nothing (PATH searched when it has no `/`).
        case notFound(program: String)
        /// The first word names something that cannot be run.
        case notExecutable(path: String)
    }

    /// - Parameter environment: the helper's environment, whose PATH is searched.
    static func parse(_ line: String, environment: [String: String]) throws(Problem) -> HelperCommand {
        guard let words = shellWords(line) else { throw .unsplittable }
        guard let program = words.first, !program.isEmpty else { throw .empty }
        switch ExecutableSearch.locate(program, environment: environment) {
        case .found(let path): return HelperCommand(path: path, arguments: words)
        case .notFound: throw .notFound(program: program)
        case .notExecutable(let path): throw .notExecutable(path: path)
        }
    }
}

extension HelperCommand.Problem {
    /// One sentence for `what` ("the credential_process of profile \"sso\""), naming the
    /// program but never quoting the rest of the line (it may hold a token).
    func message(for what: String) -> String {
        switch self {
        case .unsplittable:
            return "\(what) has an unterminated quote or ends in a backslash. It is split into words as botocore "
                + "splits it (shell quoting rules) and run without a shell: close the quote, or write "
                + "sh -c '...' to use shell syntax."
        case .empty:
            return "\(what) names no program to run; set it to the command that prints what stscache needs, or remove it."
        case .notFound(let program) where program.contains("/"):
            return "\(what) runs \(program), which does not exist; correct the path."
        case .notFound(let program):
            return "\(what) runs \(program), but no program of that name is in PATH; install it, or give its full path."
        case .notExecutable(let path):
            return "\(what) runs \(path), which is not an executable file; check its permissions or the path."
        }
    }
}

/// Runs a helper command. Its stdout is captured (bounded), its stdin and stderr are ours (so
/// a helper can prompt on the terminal and its diagnostics reach the user), and it runs with
/// the environment given, less what `ChildEnvironment` removes. It is killed when it overruns
/// its time.
struct HelperProcess {
    struct Outcome: Sendable {
        var termination: Termination
        var stdout: [UInt8]
    }

    enum Failure: Error, Equatable {
        case couldNotStart(errno: Int32)
        case timedOut(seconds: Double)
        case outputTooLarge(limit: Int)
    }

    /// - Parameters:
    ///   - timeout: seconds until the helper is stopped (SIGTERM, then SIGKILL a second later).
    ///   - outputLimit: stdout bytes accepted; more stops the helper.
    func run(_ command: HelperCommand, environment: [String: String], timeout: Double, outputLimit: Int)
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
            pid = try Spawn.start(path: command.path, arguments: command.arguments, environment: environment,
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
    private func stop(_ pid: pid_t) {
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

