#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import STS
import StscacheSupport

/// Where a prompt is shown and answered. `/dev/tty` in real use: it works under
/// `credential_process`, whose stdout is a pipe and whose stderr the SDK may swallow.
package protocol PromptTerminal: AnyObject {
    func write(_ text: String)
    /// One line without its line ending; nil at end of input; throws when `timeout` passes.
    func readLine(timeout: Double) throws(SourceError) -> String?
}

/// The controlling terminal, opened read-write. No controlling terminal (cron, CI, a daemon,
/// `setsid`) is an immediate error, never a wait.
package final class ControllingTerminal: PromptTerminal {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Nil when this process has no controlling terminal.
    package static func openIfPresent() -> ControllingTerminal? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        return fd < 0 ? nil : ControllingTerminal(fd: fd)
    }

    package func write(_ text: String) { writeAll(fd, text) }

    package func readLine(timeout: Double) throws(SourceError) -> String? {
        var bytes: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        while true {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                throw SourceError(.mfaPromptTimedOut, "no MFA code was entered within \(Int(timeout)) seconds.")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready < 0 && errno != EINTR { return nil }
            if ready <= 0 { continue }
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return nil
            }
            if count == 0 { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            if bytes.count < 256 { bytes.append(byte) }
        }
    }
}

/// The MFA codes this process has sent: STS refuses a code used before, so none is sent twice.
package final class MFACodeLedger {
    private var used: Set<String> = []

    package func markUsed(_ code: String, serial: String) -> Bool {
        used.insert(serial + "\u{0}" + code).inserted
    }
}

/// Finds the current MFA code for a device, in order: the profile's `mfa_process`,
/// `STSCACHE_MFA_TOKEN`, a prompt on the controlling terminal. The caller holds the cache
/// entry's lock, so however many processes need the code, one asks and the rest reuse the
/// session it gets.
package struct MFACodeSource {
    package static let promptTimeout: Double = 100
    /// A hardware token may wait for a touch.
    package static let processTimeout: Double = 120

    package var environment: [String: String]
    package var openTerminal: () -> (any PromptTerminal)? = { ControllingTerminal.openIfPresent() }
    package var ledger = MFACodeLedger()

    package init(environment: [String: String],
                 openTerminal: @escaping () -> (any PromptTerminal)? = { ControllingTerminal.openIfPresent() },
                 ledger: MFACodeLedger = MFACodeLedger()) {
        self.environment = environment
        self.openTerminal = openTerminal
        self.ledger = ledger
    }

    /// - Parameters:
    ///   - serial: the device (`mfa_serial`).
    ///   - mfaProcess: the profile's `mfa_process`, if any.
    ///   - purpose: what the code unlocks, for the prompt and messages ("profile \"prod\"").
    package func code(serial: String, mfaProcess: String?, purpose: String) throws(SourceError) -> String {
        let code: String
        let origin: String
        let token = environment["STSCACHE_MFA_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if token == nil, Context.isNonInteractive(environment) {
            // An mfa_process may wait for a touch, and a prompt for a person: neither may happen
            // in a background refresh. The next caller at a terminal gets the code.
            throw SourceError(
                .mfaNotAsked,
                "\(purpose) needs a new MFA code for \(serial), and STSCACHE_NONINTERACTIVE=1 forbids asking for "
                    + "one; run the command once from a terminal.")
        }
        if let mfaProcess {
            origin = "mfa_process"
            code = try run(mfaProcess, serial: serial, purpose: purpose)
        } else if let token {
            origin = "STSCACHE_MFA_TOKEN"
            code = try Self.validated(token, origin: origin)
        } else {
            origin = "the prompt"
            code = try prompt(serial: serial, purpose: purpose)
        }
        guard ledger.markUsed(code, serial: serial) else {
            throw SourceError(
                .mfaCodeReused,
                "the MFA code from \(origin) for \(serial) was already sent once by this run, and STS accepts a code "
                    + "only once; wait for the next code and run the command again.")
        }
        return code
    }

    /// Exactly six ASCII digits after trimming white space. The rejected text is not echoed.
    package static func validated(_ text: String, origin: String) throws(SourceError) -> String {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.utf8.count == 6, trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw SourceError(
                .mfaInvalidCode,
                "the MFA code from \(origin) is not 6 digits (got \(trimmed.count) characters); enter the current "
                    + "code your authenticator shows.")
        }
        return trimmed
    }

    private func run(_ command: String, serial: String, purpose: String) throws(SourceError) -> String {
        let what = "mfa_process for \(purpose)"
        let helper: HelperCommand
        do {
            helper = try HelperCommand.parse(command, environment: environment)
        } catch {
            throw SourceError(.mfaProcessFailed, error.message(for: "the \(what)"))
        }
        let outcome: CapturedProcess.Outcome
        do {
            outcome = try helper.run(environment: environment, timeout: Self.processTimeout, outputLimit: 4096)
        } catch {
            switch error {
            case .couldNotStart(let code):
                throw SourceError(.mfaProcessFailed, "could not start the \(what) (\(helper.path)): \(String(cString: strerror(code))).")
            case .timedOut(let seconds):
                throw SourceError(.mfaProcessFailed, "the \(what) did not print a code within \(Int(seconds)) seconds and was stopped.")
            case .outputTooLarge:
                throw SourceError(.mfaProcessFailed, "the \(what) printed more than a code; it must print only the 6-digit code.")
            }
        }
        guard outcome.termination.succeeded else {
            throw SourceError(
                .mfaProcessFailed,
                "the \(what) failed with \(outcome.termination.text); its error output, if any, is above. Run it by "
                    + "hand to check that it prints the code for \(serial).")
        }
        return try Self.validated(String(decoding: outcome.stdout, as: UTF8.self), origin: "mfa_process")
    }

    private func prompt(serial: String, purpose: String) throws(SourceError) -> String {
        guard let terminal = openTerminal() else {
            throw SourceError(
                .mfaNoTerminal,
                "\(purpose) needs an MFA code for \(serial), but there is no terminal to ask on and neither "
                    + "mfa_process nor STSCACHE_MFA_TOKEN is set; add mfa_process = <command that prints the code> "
                    + "to the profile, export STSCACHE_MFA_TOKEN=<current code> for one run, or run the command once "
                    + "from a terminal.")
        }
        terminal.write("stscache: MFA code for \(serial) (\(purpose)): ")
        guard let line = try terminal.readLine(timeout: Self.promptTimeout) else {
            terminal.write("\n")
            throw SourceError(.mfaInvalidCode, "no MFA code was entered for \(serial).")
        }
        return try Self.validated(line, origin: "the prompt")
    }

    /// STS's answer to a code it refused (wrong, stale or already used): a clear retry hint.
    package static func rejection(_ error: STSError, serial: String) -> SourceError? {
        let text = error.message.lowercased()
        guard error.serviceCode == "AccessDenied",
              text.contains("multifactor") || text.contains("mfa") || text.contains("one time pass") else { return nil }
        return SourceError(
            .mfaCodeRejected,
            "\(error.message). The MFA code for \(serial) was refused: a code works only once and only for about "
                + "30 seconds. Wait for the next code and run the command again (unset STSCACHE_MFA_TOKEN if it holds "
                + "an old code), and check that mfa_serial is your device's ARN.")
    }
}

