import Credentials
import ArgumentParser
import StscacheSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command that runs against an injected `Context` rather than the process's globals.
protocol ContextualCommand: ParsableCommand {
    func run(context: Context) throws
}


public enum StscacheMain {
    /// The process entry point: parse, run, and map every failure to one `stscache: ` line.
    public static func run() -> Never {
        // Before anything reads a secret (the cache key, a source's keys, an MFA code).
        CoreDumps.disableForThisProcess()
        signal(SIGPIPE, SIG_IGN)
        exit(run(arguments: processArguments(), context: .live()))
    }

    /// The command-line arguments without the program name. Swift's runtime captures argv from
    /// an ELF initialiser; under some LD_PRELOAD libraries (libfaketime, which the tests use to
    /// move the clock) it sees none, so fall back to the kernel's copy.
    static func processArguments() -> [String] {
        if CommandLine.argc > 0 { return Array(CommandLine.arguments.dropFirst()) }
        let fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        // The kernel's copy ends with a NUL, which leaves one empty trailing part.
        return Array(parts.dropFirst().dropLast(parts.last == "" ? 1 : 0))
    }

    /// Testable core of `run()`: returns the exit status.
    public static func run(arguments: [String], context: Context) -> Int32 {
        if let invocation = FastPath.match(arguments) {
            return run(invocation, context: context)
        }
        // Every prompt render runs this: skip the parser when the arguments are simple.
        if arguments.first == "prompt",
           let status = PromptCommand.runWithoutParser(Array(arguments.dropFirst()), context: context) {
            return status
        }
        return runParsed(arguments: arguments, context: context)
    }

    /// A command line `FastPath` recognised: the same command, without the parser.
    static func run(_ invocation: FastPath.Invocation, context: Context) -> Int32 {
        do {
            switch invocation {
            case .credentialProcess(let options): try CredentialProcessCommand.run(options, context: context)
            }
            return 0
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            return report(error, context: context)
        }
    }

    /// Every command line through swift-argument-parser (help, usage errors, rare shapes).
    static func runParsed(arguments: [String], context: Context) -> Int32 {
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
                var mutable = command
                try mutable.run()
            }
            return 0
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch let error as any UserFacingError {
            return report(error, context: context)
        } catch {
            // Help, version and validation errors thrown from run() (the parser's own types).
            return reportParseError(error, context: context)
        }
    }

    static func report(_ error: any Error, context: Context) -> Int32 {
        context.output.stderr("stscache: " + describe(error) + "\n")
        return (error as? any UserFacingError)?.exitStatus ?? 1
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
        version: stscacheVersion,
        subcommands: [CredentialProcessCommand.self, PromptCommand.self, ListCommand.self, PurgeCommand.self,
                      ExportCommand.self, ExecCommand.self,
                      AgentCommand.self,
                      SetupCommand.self,
                      ConsoleCommand.self,
                      DoctorCommand.self,
                      KeysCommand.self,
                      LoginCommand.self,
                      LogCommand.self,
                     ])
}

