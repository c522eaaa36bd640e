import ArgumentParser
import AWSConfig
import CredentialCache
import SigV4

/// `stscache export`: the role's credentials as lines a shell evaluates, for tools that read
/// only environment variables.
struct ExportCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print shell lines that set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION.",
        discussion: """
              bash, zsh:  eval "$(stscache export --profile prod)"
              fish:       stscache export --profile prod --format fish | source
              PowerShell: stscache export --profile prod --format powershell | iex

            Refuses to write to a terminal unless --force: the secrets would stay in its \
            scrollback.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case env, fish, powershell, json
    }

    @Option(name: .long, help: "The profile whose role to use (a role profile, or one delegating to stscache).")
    var profile: String

    @Option(name: .long, help: "env (sh, bash, zsh), fish, powershell, or json (the credential_process document).")
    var format: Format = .env

    @Flag(name: .long, help: "Print even when stdout is a terminal.")
    var force = false

    @Option(name: .long, help: "Refresh when less than this is left, e.g. 900, 15m, 1h (default 15m).")
    var refreshWindow: String?

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        if context.output.stdoutIsTerminal && !force {
            throw CommandError(
                .terminalRefused,
                "not printing credentials to a terminal: the secrets would stay in its scrollback; "
                    + "evaluate them instead (eval \"$(stscache export --profile \(profile))\") or pass --force")
        }
        let fetched = try RoleCredentials.fetch(context: context, profile: profile, refreshWindow: refreshWindow,
                                                verbose: cacheOptions.verbose || context.verbose)
        context.output.stdout(Self.render(fetched.credentials, format: format))
    }

    /// The four variables, in the order the AWS SDKs document them.
    static func variables(_ credentials: AWSCredentials) -> [(name: String, value: String)] {
        var variables = [("AWS_ACCESS_KEY_ID", credentials.accessKeyId),
                         ("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey)]
        if let token = credentials.sessionToken { variables.append(("AWS_SESSION_TOKEN", token)) }
        if let expiration = credentials.expiration {
            // starship's aws module (and aws-vault users' prompts) read this one.
            variables.append(("AWS_CREDENTIAL_EXPIRATION", RFC3339.format(expiration)))
        }
        return variables
    }

    static func render(_ credentials: AWSCredentials, format: Format) -> String {
        if format == .json { return CredentialOutput.json(credentials) }
        return variables(credentials).map { name, value in
            switch format {
            case .env: return "export \(name)=\(ShellQuote.posix(value))\n"
            case .fish: return "set -gx \(name) \(ShellQuote.fish(value))\n"
            case .powershell: return "$Env:\(name) = \(ShellQuote.powershell(value))\n"
            case .json: return ""
            }
        }.joined()
    }
}

/// Single-quoting, per shell: inside single quotes nothing is special except the quote
/// itself (and, in fish, the backslash).
enum ShellQuote {
    /// sh, bash, zsh: close the quote, an escaped quote, reopen: `'\''`.
    static func posix(_ value: String) -> String {
        "'" + value.replacingAll("'", with: "'\\''") + "'"
    }

    /// fish: `\'` and `\\` are the only escapes inside single quotes.
    static func fish(_ value: String) -> String {
        "'" + value.replacingAll("\\", with: "\\\\").replacingAll("'", with: "\\'") + "'"
    }

    /// PowerShell: a quote is doubled. PowerShell also takes the typographic single quotes
    /// (U+2018 to U+201B) as quotes, so those are doubled too.
    static func powershell(_ value: String) -> String {
        var out = "'"
        for character in value {
            if ["'", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}"].contains(character) { out.append(character) }
            out.append(character)
        }
        return out + "'"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}

/// A role's credentials through the broker, for `export` and `exec`: the selected profile is
/// followed to its role profile (the delegating pattern) as `prompt` does.
struct RoleCredentials {
    let files: ConfigFiles
    /// The profile the user named.
    let profile: String
    let role: RoleProfile
    let credentials: AWSCredentials

    static func fetch(context: Context, profile: String, refreshWindow: String?, verbose: Bool) throws -> RoleCredentials {
        let window = try RefreshWindow.parse(refreshWindow ?? context.environment["STSCACHE_REFRESH_WINDOW"])
        let session = try Session.open(context: context, verbose: verbose)
        let target = RoleLookup(files: session.files, context: context, keysOnly: false).roleProfileName(for: profile)
        let role = try session.resolve(profile: target ?? profile)
        let credentials = try session.broker(policy: RefreshPolicy(window: window)).credentials(for: role)
        return RoleCredentials(files: session.files, profile: profile, role: role, credentials: credentials)
    }
}
