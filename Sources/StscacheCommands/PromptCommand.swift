#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import AWSConfig
import CredentialCache
import StscacheSupport
import Credentials
import KeepWarm

/// `stscache prompt`: the selected profile's session time for a shell prompt.
///
/// It runs on every prompt render, so it does as little as possible: one read of the config
/// files and one read of one entry's plaintext header. No decryption, no lock, no key store,
/// no network. It never fails the prompt: whatever goes wrong, it prints nothing and exits 0
/// (with `--verbose`, the reason goes to stderr).
struct PromptCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompt",
        abstract: "Print the selected profile's session time left, for a shell prompt (e.g. 'prod 42m').",
        discussion: """
            Prints nothing (and exits 0) when there is no cached session or the profile is not \
            an stscache role. It never decrypts, locks or touches the network.

            Placeholders for --format: {profile} {role_arn} {session} {remaining} (1h05m, 42m, \
            59s, expired) {seconds} {expires} (RFC 3339) {state} (valid, refresh-due, expired) \
            {attention} ("!" when the agent found the session needs a person, an MFA code or a \
            sign-in, and it expires within STSCACHE_NOTIFY_LEAD, default 10m).
            """)

    @Option(name: .long, help: "Profile to show (default: the one 'stscache export' or 'exec' set keys for, else $AWS_PROFILE, else default).",
            completion: .profileNames)
    var profile: String?

    @Option(name: .long, help: "Template, e.g. '{profile} {remaining}' (the default): {profile} {role_arn} {session} {remaining} {seconds} {expires} {state}, as the description explains.")
    var format: String?

    @Flag(name: .long, help: "Say on stderr why nothing was printed.")
    var verbose = false

    func run(context: Context) {
        Self.run(profile: profile, format: format, verbose: verbose, context: context)
    }

    /// The command itself, shared by the parser and `runWithoutParser`.
    static func run(profile: String?, format: String?, verbose: Bool, context: Context) {
        switch evaluate(context: context, profile: profile, format: format) {
        case .success(let text):
            if !text.isEmpty { context.output.stdout(text + "\n") }
        case .failure(let reason):
            if verbose || context.verbose { context.output.stderr("stscache: prompt: \(reason.text)\n") }
        }
    }

    static let defaultFormat = "{profile} {remaining}{attention}"

    /// `stscache prompt ...` without the argument parser, whose reflection-driven set-up costs
    /// about as much as the rest of the command: only `--profile`, `--format` (each as one or
    /// two words) and `--verbose` are understood; anything else (`--help`, a typo) returns nil
    /// and the caller goes through the parser, which explains it.
    static func runWithoutParser(_ arguments: [String], context: Context) -> Int32? {
        guard let words = FastPath.Words(
            arguments[...], options: ["--profile", "--format"], flags: ["--verbose"],
            syntax: .init(equalsForm: true, emptyValues: true, repeatedFlags: true))
        else { return nil }
        // Not through a PromptCommand value: initialising its property wrappers alone cost 280K
        // instructions (argument-parser name sets and their generic metadata).
        run(profile: words.options["--profile"], format: words.options["--format"],
            verbose: words.flags.contains("--verbose"), context: context)
        return 0
    }

    /// The prompt text, or nil when nothing should be shown. Cheap enough to call on every
    /// prompt render, and safe to call from a fast entry path without the argument parser.
    static func render(context: Context, profile: String?, format: String?) -> String? {
        try? evaluate(context: context, profile: profile, format: format).get()
    }

    /// Why the prompt shows nothing (for `--verbose`).
    struct Silence: Error, Equatable {
        let text: String
    }

    static func evaluate(context: Context, profile: String?, format: String?) -> Result<String, Silence> {
        let name = selectedProfile(explicit: profile, environment: context.environment)
        let files: ConfigFiles
        do {
            files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        } catch {
            return .failure(Silence(text: oneLine(error.message)))
        }
        guard files.config != nil || files.credentials != nil else {
            return .failure(Silence(text: "no config file at \(context.configFilePath)"))
        }
        let lookup = RoleLookup(files: files, context: context, keysOnly: true)
        guard files.profile(named: name) != nil else {
            return .failure(Silence(text: "profile \"\(name)\" is not in \(context.configFilePath)"
                + (files.profileSuggestion(for: name).map { "; did you mean \"\($0)\"?" } ?? "")))
        }
        // An `aws login` profile (or one delegating to it) shows its session file's time.
        guard lookup.roleProfileName(for: name) != nil || files.profile(named: name)?["login_session"] != nil else {
            return .failure(Silence(text: "profile \"\(name)\" has no role_arn or login_session and does not "
                + "delegate to stscache"))
        }
        let role: RoleProfile
        do {
            role = try lookup.role(for: name)
        } catch {
            return .failure(Silence(text: oneLine(error.message)))
        }
        if case .loginSession(let settings) = role.source {
            return loginText(settings, role: role, profile: name, format: format, context: context)
        }
        let cache: CredentialCache
        do {
            guard let existing = try CacheInventory(context: context, verbose: false).existingCache() else {
                return .failure(Silence(text: "no cache directory yet (nothing cached)"))
            }
            cache = existing
        } catch {
            return .failure(Silence(text: oneLine(error.message)))
        }
        let key = CredentialBroker.cacheKey(for: role)
        guard let header = cache.readHeader(key) else {
            return .failure(Silence(text: "no readable cached session for \(role.roleArn) (session \(role.roleSessionName))"))
        }
        // STSCACHE_REFRESH_WINDOW (a --refresh-window on a credential_process line is not visible here).
        let policy = (try? RefreshWindow.policy(option: nil, environment: context.environment)) ?? RefreshPolicy()
        // The agent's mark, looked for only inside the lead (one fstatat).
        let remaining = header.expiration.timeIntervalSince(context.now())
        let lead = (try? PersonNeeded.lead(environment: context.environment)) ?? PersonNeeded.defaultLead
        let attention = remaining > 0 && remaining <= lead && cache.needsAttention(stem: key.stem, expiration: header.expiration)
        return .success(text(for: header, profile: name, template: format ?? defaultFormat, now: context.now(),
                             policy: policy, attention: attention))
    }

    /// An `aws login` profile: its session file is its cache, so the time is the file's
    /// `accessToken.expiresAt`, read under the session file's owner and mode policy without
    /// parsing anything else in it (no credential, token or key is decoded); `{state}` as the
    /// broker judges the login's credentials.
    static func loginText(_ settings: LoginSessionSettings, role: RoleProfile, profile: String, format: String?,
                          context: Context) -> Result<String, Silence> {
        let files = LoginSessionFiles(environment: context.environment, homeDirectory: context.homeDirectory)
        let expiration: Date
        do {
            guard let expiresAt = try files.expiresAt(settings) else {
                return .failure(Silence(text: "no aws login session file for profile \"\(settings.profile)\" "
                    + "(\(files.path(forSession: settings.session)))"))
            }
            expiration = expiresAt
        } catch {
            return .failure(Silence(text: oneLine(error.message)))
        }
        let policy = (try? RefreshWindow.policy(option: nil, environment: context.environment)) ?? RefreshPolicy()
        // The file has no issue time: the credentials' lifetime, as the broker takes it.
        return .success(text(
            roleArn: role.roleArn, sessionName: role.roleSessionName,
            issuedAt: expiration.addingTimeInterval(-CredentialBroker.loginCredentialsLifetime), expiration: expiration,
            profile: profile, template: format ?? defaultFormat, now: context.now(), policy: policy))
    }

    /// The prompt text for one entry header. The header is unauthenticated file content (the
    /// prompt never holds the key): its times were range-checked when it was parsed, and its
    /// text, like the profile name, is escaped so it cannot reach the terminal as control codes.
    static func text(for header: EntryHeader, profile: String, template: String, now: Date, policy: RefreshPolicy,
                     attention: Bool = false) -> String
    {
        text(roleArn: header.roleArn, sessionName: header.sessionName, issuedAt: header.issuedAt,
             expiration: header.expiration, profile: profile, template: template, now: now, policy: policy,
             attention: attention)
    }

    static func text(roleArn: String, sessionName: String, issuedAt: Date, expiration: Date, profile: String,
                     template: String, now: Date, policy: RefreshPolicy, attention: Bool = false) -> String {
        let seconds = SessionDisplay.remainingSeconds(until: expiration, now: now)
        let values: [String: String] = [
            "profile": TerminalText.escaped(profile),
            "role_arn": TerminalText.escaped(roleArn),
            "session": TerminalText.escaped(sessionName),
            "remaining": SessionDisplay.remaining(seconds),
            "seconds": String(seconds),
            "state": SessionDisplay.state(issuedAt: issuedAt, expiration: expiration, now: now, policy: policy),
            // Integer arithmetic, no time zone file: cheaper than looking for "{expires}" in the
            // template (String.contains builds a search table: 250K instructions).
            "expires": Timestamps.formatRFC3339(expiration),
            "attention": attention ? "!" : "",
        ]
        return fill(template, values)
    }

    /// The profile whose credentials the AWS tools in this environment use: `--profile`; else
    /// the profile `export` or `exec` marked (`STSCACHE_PROFILE`) when its keys are in the
    /// environment (`AWS_ACCESS_KEY_ID`: the SDKs take them before `AWS_PROFILE`); else
    /// `AWS_PROFILE`; else the marked profile (`exec --server`, which removes `AWS_PROFILE`);
    /// else `default`.
    static func selectedProfile(explicit: String?, environment: [String: String]) -> String {
        let marked = environment[ExportCommand.profileMarker]
        let keysInEnvironment = !(environment["AWS_ACCESS_KEY_ID"] ?? "").isEmpty
        for candidate in [explicit, keysInEnvironment ? marked : nil, environment["AWS_PROFILE"], marked] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        return "default"
    }

    /// Replaces each `{name}` with its value; anything else, unknown names included, is kept
    /// as written.
    static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "}") else {
                out += rest[open...]
                return out
            }
            let name = String(rest[afterOpen..<close])
            if let value = values[name] {
                out += value
                rest = rest[rest.index(after: close)...]
            } else {
                out += "{"
                rest = rest[afterOpen...]
            }
        }
        return out + rest
    }
}
