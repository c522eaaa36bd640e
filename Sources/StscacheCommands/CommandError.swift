import Credentials
import StscacheSupport
/// Failures of the everyday commands (`list`, `purge`, `export`, `exec`; `prompt` never
/// fails). `code` is stable for tests; `exitStatus` is what the process exits with.
struct CommandError: UserFacingError, Equatable {
    enum Code: String, Sendable {
        /// `export` with stdout on a terminal and no `--force`.
        case terminalRefused = "terminal-refused"
        /// `exec`: the command is not in PATH (exit 127, as a shell would).
        case commandNotFound = "command-not-found"
        /// `exec`: the command exists but cannot be run (exit 126, as a shell would).
        case commandNotExecutable = "command-not-executable"
        /// `exec`: posix_spawn failed for another reason.
        case spawnFailed = "spawn-failed"
        /// `purge` failed part-way.
        case purgeFailed = "purge-failed"
    }

    let code: Code
    let message: String
    var errorCode: String { "command." + code.rawValue }
    var exitStatus: Int32 = 1

    init(_ code: Code, _ message: String, exitStatus: Int32 = 1) {
        self.code = code
        self.message = message
        self.exitStatus = exitStatus
    }
}
