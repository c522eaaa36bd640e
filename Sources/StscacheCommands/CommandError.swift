import Credentials
import StscacheSupport
/// Failures of the everyday commands (`list`, `purge`, `export`, `exec`; `prompt` never
/// fails). `code` is stable for tests; `exitStatus` is what the process exits with.
typealias CommandError = CodedError<CommandErrorCode>

/// The codes of `CommandError`: `command.<code>`.
enum CommandErrorCode: String, ErrorCode {
    static let domain = "command"

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
    /// `exec --server` on a profile that is long-term keys, not a role.
    case longTermKeysNotServed = "long-term-keys-not-served"
    /// `exec --policy-arn`/`--policy-file`: a bad ARN or policy file, or a profile the scope
    /// cannot apply to.
    case invalidScope = "invalid-scope"
    /// `keys remove` of the only copy without a confirmation.
    case confirmationNeeded = "confirmation-needed"
    /// `agent --install-unit` could not write the unit (or one that differs is there).
    case unitFileError = "unit-file-error"

    /// A shell's statuses for a command it cannot run, so `exec` can stand in for one.
    var exitStatus: Int32 {
        switch self {
        case .commandNotFound: return 127
        case .commandNotExecutable: return 126
        default: return 1
        }
    }
}
