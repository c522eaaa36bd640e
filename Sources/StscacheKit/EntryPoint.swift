import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command that runs against an injected `Context` rather than the process's globals.
protocol ContextualCommand: ParsableCommand {
    func run(context: Context) throws
}

/// An error stscache explains to the user in one line: the cause and the fix. (Each domain's
/// error type also carries a stable `code` for tests.)
public protocol UserFacingError: Error {
    var message: String { get }
}

public enum StscacheMain {
    /// The process entry point: parse, run, and map every failure to one `stscache: ` line.
    public static func run() -> Never {
        signal(SIGPIPE, SIG_IGN)
        exit(run(arguments: Array(processArguments().dropFirst()), context: .live()))
    }

    /// `CommandLine.arguments`, or `/proc/self/cmdline` when that is empty: the Swift runtime
    /// finds argv on Linux by walking back from `environ`, which fails once a preloaded library
    /// has moved `environ` to the heap (libfaketime does, and the tests run us under it).
    static func processArguments() -> [String] {
        let arguments = CommandLine.arguments
        if !arguments.isEmpty { return arguments }
        let fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return arguments }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        if bytes.last == 0 { bytes.removeLast() }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Testable core of `run()`: returns the exit status.
    public static func run(arguments: [String], context: Context) -> Int32 {
        // Every prompt render runs this: skip the parser when the arguments are simple.
        if arguments.first == "prompt",
           let status = PromptCommand.runWithoutParser(Array(arguments.dropFirst()), context: context) {
            return status
        }
        let command: any ParsableCommand
        do {
            command = try StscacheCommand.parseAsRoot(arguments)
        } catch {
            return reportParseError(error, context: context)
        }
        do {
            if let contextual = command as? any ContextualCommand {
                try contextual.run(context: context)
            } else {
                // Only the parser's own commands get here (`help`, a bare `stscache`); what they
                // throw is help text or a usage error, reported as parse errors are.
                var mutable = command
                do {
                    try mutable.run()
                } catch {
                    return reportParseError(error, context: context)
                }
            }
            return 0
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            return report(error, context: context)
        }
    }

    static func report(_ error: any Error, context: Context) -> Int32 {
        context.output.stderr("stscache: " + describe(error) + "\n")
        return (error as? CommandError)?.exitStatus ?? 1
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? any UserFacingError { return oneLine(error.message) }
        return oneLine("unexpected error: \(error)")
    }

    /// Help and version go to stdout as usual; a usage mistake becomes one line on stderr.
    private static func reportParseError(_ error: any Error, context: Context) -> Int32 {
        let code = StscacheCommand.exitCode(for: error)
        if code == .success {
            context.output.stdout(StscacheCommand.fullMessage(for: error) + "\n")
            return 0
        }
        let message = StscacheCommand.message(for: error)
        context.output.stderr("stscache: \(oneLine(message)) (see 'stscache --help')\n")
        return code.rawValue == 0 ? 2 : code.rawValue
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmed() }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}

struct StscacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stscache",
        abstract: "Caches AWS STS role sessions, encrypted, for every tool that reads credential_process.",
        discussion: """
            Point the profile you use at a role profile that only stscache reads:

              [profile prod]
              credential_process = stscache credential-process --profile prod-role
              [profile prod-role]
              role_arn = arn:aws:iam::123456789012:role/Admin
              source_profile = base

            Every aws, SDK and Terraform run then shares one encrypted session per role.
            """,
        version: "0.1.0",
        subcommands: [CredentialProcessCommand.self, PromptCommand.self, ListCommand.self, PurgeCommand.self,
                      ExportCommand.self, ExecCommand.self])
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
