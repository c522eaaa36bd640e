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
package struct HelperCommand: Equatable {
    /// The executable to run.
    package var path: String
    /// argv, argv[0] (the word as written) first.
    package var arguments: [String]

    package enum Problem: Error, Equatable {
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
    package static func parse(_ line: String, environment: [String: String]) throws(Problem) -> HelperCommand {
        guard let words = shellWords(line) else { throw .unsplittable }
        guard let program = words.first, !program.isEmpty else { throw .empty }
        switch ExecutableSearch.locate(program, environment: environment) {
        case .found(let path): return HelperCommand(path: path, arguments: words)
        case .notFound: throw .notFound(program: program)
        case .notExecutable(let path): throw .notExecutable(path: path)
        }
    }

    /// Runs it with stdout captured, in the environment stscache gives every child.
    package func run(environment: [String: String], timeout: Double, outputLimit: Int)
        throws(CapturedProcess.Failure) -> CapturedProcess.Outcome
    {
        try CapturedProcess.run(path: path, arguments: arguments, environment: ChildEnvironment.inherited(from: environment),
                                timeout: timeout, outputLimit: outputLimit)
    }
}

extension HelperCommand.Problem {
    /// One sentence for `what` ("the credential_process of profile \"sso\""), naming the
    /// program but never quoting the rest of the line (it may hold a token).
    package func message(for what: String) -> String {
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
