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
import AWSConfig
import Credentials
import StscacheSupport

/// A kept session the agent cannot refresh on its own: what a person must do, and when they
/// are told (docs/audit.md, "Notifications").
package struct PersonNeeded: Equatable, Sendable {
    package enum Kind: String, Sendable {
        /// A new MFA code (the MFA session ran out).
        case mfa
        /// An IAM Identity Center sign-in (the portal login ran out).
        case identityCenter = "identity-center"
        /// An `aws login` sign-in (the `login_session` ran out).
        case awsLogin = "aws-login"
    }

    package var kind: Kind
    /// What to run, for the person (one line, from the config or our own message).
    package var command: String

    /// Whether a failed refresh of `profile` (its child's termination and last stderr line)
    /// means a person must act, and what they run. The one place that knows: a new source that
    /// needs people (an `aws login` session) adds its case here.
    package static func classify(termination: Termination, message: String?, profile: String) -> PersonNeeded? {
        if termination == .exited(StscacheExitStatus.mfaNotAsked) {
            return PersonNeeded(kind: .mfa, command: "stscache exec --profile \(ShellQuote.word(profile)) -- true")
        }
        guard let message else { return nil }
        if message.contains("Identity Center"), let command = lastCommand(in: message, after: "run: ") {
            return PersonNeeded(kind: .identityCenter, command: command)
        }
        if message.contains("aws login session"), let command = lastCommand(in: message, after: "sign in again: ") {
            return PersonNeeded(kind: .awsLogin, command: command)
        }
        return nil
    }

    /// The text after the last `marker` in one of stscache's own messages: the command it names.
    static func lastCommand(in message: String, after marker: String) -> String? {
        var after: String.Index?
        var from = message.startIndex
        while let found = message[from...].firstRange(of: marker) {
            after = found.upperBound
            from = found.upperBound
        }
        guard let after else { return nil }
        let command = message[after...].trimmingWhitespace()
        return command.isEmpty || command.utf8.count > 300 ? nil : command
    }

    /// What the person is told: a title and one sentence, no secrets (profile names and the
    /// command come from the config).
    package func notification(profile: String, remaining: Double) -> (summary: String, body: String) {
        let minutes = max(0, Int((remaining / 60).rounded(.up)))
        let what: String
        switch kind {
        case .mfa: what = "needs a new MFA code"
        case .identityCenter: what = "needs an IAM Identity Center sign-in"
        case .awsLogin: what = "needs a new aws login sign-in"
        }
        return ("stscache: \(profile) expires in \(minutes) min",
                "The session of \(profile) \(what) before it expires. Run: \(command)")
    }

    /// `STSCACHE_NOTIFY_LEAD`: how long before a session that needs a person expires they are
    /// told (default 10 minutes; `0` turns the notification off).
    package static func lead(environment: [String: String]) throws(UsageError) -> Double {
        guard let text = environment["STSCACHE_NOTIFY_LEAD"]?.trimmingWhitespace(), !text.isEmpty else { return defaultLead }
        guard let seconds = parseDuration(text) else {
            throw UsageError(.invalidSetting, "STSCACHE_NOTIFY_LEAD='\(TerminalText.escaped(oneLine(text)))' is not a duration; "
                                + "use seconds (600) or 10m / 1h, or 0 for no notifications")
        }
        return seconds
    }

    package static let defaultLead: Double = 600
}

/// Tells the person at this machine: `notify-send` when it is on `PATH`, else the freedesktop
/// notification service over D-Bus through `gdbus`, else nothing (the agent's log line is then
/// all there is). The program is started directly (no shell), its output discarded, and not
/// waited for (the agent reaps it with its refreshes); every argument is made one line, stripped
/// of controls, and, as the service may read it as markup, of `<`, `>` and `&`.
package struct DesktopNotifier: Sendable {
    package enum Channel: Equatable, Sendable {
        case notifySend(String)
        case gdbus(String)
        case none
    }

    package let channel: Channel
    let environment: [String: String]

    package init(environment: [String: String]) {
        self.environment = environment
        if case .found(let path) = ExecutableSearch.locate("notify-send", environment: environment) {
            channel = .notifySend(path)
        } else if environment["DBUS_SESSION_BUS_ADDRESS"] != nil,
                  case .found(let path) = ExecutableSearch.locate("gdbus", environment: environment) {
            channel = .gdbus(path)
        } else {
            channel = .none
        }
    }

    package var name: String {
        switch channel {
        case .notifySend: return "notify-send"
        case .gdbus: return "gdbus"
        case .none: return "the log only"
        }
    }

    /// The argument vector for `summary` and `body` (without starting anything); nil for `.none`.
    package func arguments(summary: String, body: String) -> (path: String, arguments: [String])? {
        let summary = Self.clean(summary), body = Self.clean(body)
        switch channel {
        case .notifySend(let path):
            return (path, ["notify-send", "--app-name=stscache", "--urgency=critical", "--", summary, body])
        case .gdbus(let path):
            return (path, ["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
                           "--object-path", "/org/freedesktop/Notifications",
                           "--method", "org.freedesktop.Notifications.Notify",
                           "stscache", "0", "''", Self.gvariantString(summary), Self.gvariantString(body), "[]", "{}", "-1"])
        case .none:
            return nil
        }
    }

    /// Starts the notifier; false when there is none or it could not start.
    package func send(summary: String, body: String) -> Bool {
        guard let (path, arguments) = arguments(summary: summary, body: body) else { return false }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        let child = ChildEnvironment.inherited(from: environment)
        return (try? Spawn.start(path: path, arguments: arguments, environment: child, stdin: null, stdout: null, stderr: null,
                                 newSession: true, signalMask: unblocked)) != nil
    }

    /// One line, controls and bidi overrides escaped, markup characters dropped, bounded.
    static func clean(_ text: String) -> String {
        let line = oneLine(text).filter { $0 != "<" && $0 != ">" && $0 != "&" }
        return line.utf8.count > 400 ? String(decoding: Array(line.utf8.prefix(400)), as: UTF8.self) + "…" : line
    }

    /// A GVariant text-format string literal (`gdbus call` parses each argument as one).
    static func gvariantString(_ text: String) -> String {
        var out = "'"
        for character in text {
            if character == "\\" || character == "'" { out.append("\\") }
            out.append(character)
        }
        return out + "'"
    }
}
