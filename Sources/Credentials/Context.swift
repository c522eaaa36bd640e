#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import STS
import Transport
import StscacheSupport

/// Where a command's text goes. stdout belongs to the command's result; everything else is stderr.
public struct OutputSinks: Sendable {
    public var stdout: @Sendable (String) -> Void
    public var stderr: @Sendable (String) -> Void
    /// True when stdout is a terminal (export refuses to print secrets there).
    public var stdoutIsTerminal: Bool

    public init(stdout: @escaping @Sendable (String) -> Void, stderr: @escaping @Sendable (String) -> Void,
                stdoutIsTerminal: Bool = false) {
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutIsTerminal = stdoutIsTerminal
    }
}

/// Everything a command may learn about the world. Nothing else in stscache reads the process
/// environment, the clock or the home directory, so tests run on temporary homes and fixed clocks.
public struct Context: Sendable {
    public var environment: [String: String]
    public var now: @Sendable () -> Date
    public var homeDirectory: String
    /// The user's login name, for the default role session name. Looked up when first read
    /// (`live()` memoises a passwd lookup that most runs never need).
    public var userName: String {
        get { userNameSource() }
        set { userNameSource = { newValue } }
    }
    private var userNameSource: @Sendable () -> String
    /// Built on first use only: the cache-hit path never loads libcurl.
    public var makeTransport: @Sendable () -> any HTTPTransport
    public var output: OutputSinks
    /// Sleeps between retries; injected so tests don't wait.
    public var sleep: @Sendable (Double) -> Void

    public init(environment: [String: String], now: @escaping @Sendable () -> Date, homeDirectory: String,
                userName: String, makeTransport: @escaping @Sendable () -> any HTTPTransport,
                output: OutputSinks, sleep: @escaping @Sendable (Double) -> Void = sleepSeconds) {
        self.environment = environment
        self.now = now
        self.homeDirectory = homeDirectory
        self.userNameSource = { userName }
        self.makeTransport = makeTransport
        self.output = output
        self.sleep = sleep
    }

    package var verbose: Bool { environment["STSCACHE_VERBOSE"].map { $0 == "1" || $0 == "true" } ?? false }

    /// `STSCACHE_NONINTERACTIVE=1` (the agent sets it for its refreshes): nothing may wait for a
    /// person, neither an MFA code nor a sign-in.
    package var nonInteractive: Bool { Self.isNonInteractive(environment) }

    /// The one reader of `STSCACHE_NONINTERACTIVE`, for code that holds only the environment.
    package static func isNonInteractive(_ environment: [String: String]) -> Bool {
        environment["STSCACHE_NONINTERACTIVE"] == "1"
    }

    /// `AWS_CONFIG_FILE`, else `~/.aws/config` (botocore expands a leading `~`).
    package var configFilePath: String {
        expandTilde(environment["AWS_CONFIG_FILE"]) ?? homeDirectory + "/.aws/config"
    }

    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
    package var credentialsFilePath: String {
        expandTilde(environment["AWS_SHARED_CREDENTIALS_FILE"]) ?? homeDirectory + "/.aws/credentials"
    }

    private func expandTilde(_ path: String?) -> String? {
        guard let path, !path.isEmpty else { return nil }
        if path == "~" { return homeDirectory }
        if path.hasPrefix("~/") { return homeDirectory + path.dropFirst(1) }
        return path
    }
}

extension Context {
    /// The real world: process environment, wall clock, the user's home, libcurl, fd 1 and 2.
    public static func live() -> Context {
        var environment: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            // Split at the first "=" byte and decode each side once: searching the decoded
            // String by Character walks grapheme clusters, 5K instructions per variable on
            // every run (a shell's 50 variables were a tenth of a cache hit).
            if let equals = strchr(entry, Int32(UInt8(ascii: "="))) {
                let nameBytes = UnsafeRawBufferPointer(start: entry, count: equals - entry)
                environment[String(decoding: nameBytes, as: UTF8.self)] = String(cString: equals + 1)
            }
            cursor += 1
        }
        // The passwd entry only when HOME is unset or the user name is asked for: the lookup is
        // ten system calls (nscd, nsswitch.conf, /etc/passwd), ~57 us of every run.
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? PasswdEntry.current.home ?? "/"
        let userFromEnvironment = environment["USER"]
        var context = Context(
            environment: environment,
            now: { Date() },
            homeDirectory: home,
            userName: "",
            makeTransport: { CurlTransport() },
            output: OutputSinks(stdout: { writeAll(1, $0) }, stderr: { writeAll(2, $0) },
                                stdoutIsTerminal: isatty(1) == 1))
        context.userNameSource = { PasswdEntry.current.name ?? userFromEnvironment ?? "user" }
        return context
    }
}

/// The current user's passwd entry, looked up once, on first use.
package enum PasswdEntry {
    package static let current: (name: String?, home: String?) = {
        guard let entry = getpwuid(getuid()) else { return (nil, nil) }
        return (String(cString: entry.pointee.pw_name), String(cString: entry.pointee.pw_dir))
    }()
}

/// write(2) until done; a closed pipe is not worth crashing over (SIGPIPE is ignored at start).
func writeAll(_ fd: Int32, _ text: String) {
    var text = text
    _ = text.withUTF8 { FileSystem.writeAll(fd, UnsafeRawBufferPointer($0)) }
}
