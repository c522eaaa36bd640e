#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import AWSConfig
import Credentials
import CredentialCache
import STS
import StscacheSupport
import Transport
import Setup

/// `stscache doctor`: checks a set-up and says, one line per finding, what to fix.
struct DoctorCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check profiles, files and the key store; one line per finding, with its fix.",
        discussion: """
            Checks: delegation loops and targets, the program credential_process runs, profiles the \
            AWS CLI would resolve itself (bypassing stscache), sources that are missing or have no \
            keys, duration_seconds STS would refuse, long-term keys in plain text, the cache and \
            key directories' owner and mode, and the key store (its key is loaded if it exists, \
            never created). With --network, also the local clock against STS's Date header. \
            Exit status 1 when a finding is an error (with --strict, a warning too), 0 otherwise.
            """)

    @Option(name: .long, help: "Check only this profile (and the profile it delegates to).", completion: .profileNames)
    var profile: String?

    @Flag(name: .long, help: "Print a JSON array of {severity, profile, code, message, fix}.")
    var json = false

    @Flag(name: .long, help: "Also compare the local clock with STS's (one unauthenticated request).")
    var network = false

    @Flag(name: .long, help: "Exit 1 for warnings too (unsafe but working set-ups), not only for errors.")
    var strict = false

    func run(context: Context) throws {
        var findings: [DoctorFinding] = []
        do {
            let files = try ConfigFiles.load(configPath: context.configFilePath,
                                             credentialsPath: context.credentialsFilePath)
            // Only the store's profile names (its plaintext; no key, nothing decrypted).
            let stored = (try? AccessKeyStore(path: AccessKeyStore.defaultPath(
                environment: context.environment, home: context.homeDirectory)).profileNames()) ?? []
            findings += Doctor.configFindings(files: files, environment: context.environment,
                                              policy: context.resolutionPolicy, only: profile,
                                              storedProfiles: Set(stored))
        } catch {
            findings.append(DoctorFinding(.error, "config-unreadable", oneLine(error.message),
                                          fix: "fix the file and line the message names."))
        }
        findings += Doctor.directoryFindings(environment: context.environment, home: context.homeDirectory)
        findings += Doctor.keyStoreFindings(environment: context.environment, home: context.homeDirectory)
        findings.append(network ? clockFinding(context: context)
            : DoctorFinding(.info, "clock-not-checked", "the clock was not compared with STS's (that needs the network).",
                            fix: "stscache doctor --network"))
        context.output.stdout(json ? Doctor.json(findings) : Doctor.text(findings))
        if findings.contains(where: { $0.severity == .error || (strict && $0.severity == .warning) }) { throw ExitCode(1) }
    }

    /// The local clock against the `Date` header of an unauthenticated request to STS (any
    /// answer carries it). SigV4 refuses requests more than five minutes off.
    func clockFinding(context: Context) -> DoctorFinding {
        let url = context.environment["AWS_ENDPOINT_URL_STS"].flatMap { $0.isEmpty ? nil : $0 } ?? STSEndpoint.globalURL
        let settings: NetworkSettings
        do {
            settings = try NetworkSettings(environment: context.environment)
        } catch {
            return DoctorFinding(.error, "invalid-setting", error.message + "; the clock was not checked.",
                                 fix: "correct or unset it (docs/network.md lists the settings).")
        }
        let options = settings.httpOptions(for: url, caBundle: context.environment["AWS_CA_BUNDLE"])
        do {
            let sent = context.now()
            let response = try context.makeTransport().send(HTTPRequest(method: "GET", url: url), options: options)
            guard let header = response.header("Date"), let theirs = Timestamps.parseHTTPDate(header) else {
                return DoctorFinding(.warning, "clock-unknown", "STS (\(url)) answered without a Date header; the clock "
                    + "was not checked.", fix: "check the clock by other means (timedatectl).")
            }
            let offset = theirs.timeIntervalSince(sent)
            if abs(offset) > 300 {
                return DoctorFinding(.error, "clock-skew", "the local clock is \(Int(abs(offset))) s "
                    + (offset > 0 ? "behind" : "ahead of") + " STS's; AWS refuses signed requests more than 300 s off.",
                    fix: "set the clock right: timedatectl set-ntp true")
            }
            return DoctorFinding(.info, "clock", "the local clock is within \(Int(abs(offset).rounded(.up))) s of STS's.",
                                 fix: "nothing to do.")
        } catch {
            return DoctorFinding(.warning, "clock-unknown", "could not reach STS (\(url)) to compare clocks: \(describe(error))",
                                 fix: "check the network, or run doctor without --network.")
        }
    }
}
