import Credentials
import ArgumentParser
import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport

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
                    + "evaluate them instead (eval \"$(stscache export --profile \(Self.profileWord(profile)))\") or pass --force")
        }
        let fetched = try RoleCredentials.fetch(context: context, profile: profile, refreshWindow: refreshWindow,
                                                verbose: cacheOptions.verbose || context.verbose)
        context.output.stdout(Self.render(fetched.credentials, format: format))
    }

    /// The profile as the refusal's `eval` hint shows it: a word the user can paste. Bare when
    /// nothing in it is special, single-quoted otherwise; a placeholder when it holds a control
    /// character (a line break would split the one-line message, and pasting it back is no help).
    static func profileWord(_ profile: String) -> String {
        if ShellQuote.isPlainPOSIXWord(profile) { return profile }
        if profile.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "PROFILE" }
        return ShellQuote.posix(profile)
    }

    /// The four variables, in the order the AWS SDKs document them.
    static func variables(_ credentials: AWSCredentials) -> [(name: String, value: String)] {
        var variables = [("AWS_ACCESS_KEY_ID", credentials.accessKeyId),
                         ("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey)]
        if let token = credentials.sessionToken { variables.append(("AWS_SESSION_TOKEN", token)) }
        if let expiration = credentials.expiration {
            // starship's aws module (and aws-vault users' prompts) read this one.
            variables.append(("AWS_CREDENTIAL_EXPIRATION", Timestamps.formatRFC3339(expiration)))
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
///
/// Everything here works on Unicode scalars, never on `Character`s. A `Character` is a
/// grapheme cluster: `'` followed by a combining mark (U+0301), or preceded by a prepend
/// character (U+0600), is one cluster that is not equal to `"'"`, so a comparison by
/// `Character` leaves that quote unescaped and the rest of the value runs as shell code.
/// Shells read bytes (or code points), not clusters.
enum ShellQuote {
    /// sh, bash, zsh: close the quote, an escaped quote, reopen: `'\''`.
    static func posix(_ value: String) -> String {
        "'" + value.replacingScalars { $0 == "'" ? "'\\''" : nil } + "'"
    }

    /// fish: `\'` and `\\` are the only escapes inside single quotes.
    ///
    /// fish keeps bytes it cannot decode as code points U+F600 to U+F6FF and turns them back
    /// into bytes on the way out; it reads a real U+F6xx in its input the same way (as the
    /// three bytes of its UTF-8), so those survive `source` byte for byte too and need no escape.
    static func fish(_ value: String) -> String {
        "'" + value.replacingScalars { scalar in
            switch scalar {
            case "\\": return "\\\\"
            case "'": return "\\'"
            default: return nil
            }
        } + "'"
    }

    /// PowerShell's single-quote characters: the ASCII one and the typographic U+2018 to U+201B.
    static let powershellQuotes: Set<Unicode.Scalar> = ["'", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}"]

    /// PowerShell: a quote is doubled. PowerShell also takes the typographic single quotes
    /// (U+2018 to U+201B) as quotes, so those are doubled too.
    static func powershell(_ value: String) -> String {
        "'" + value.replacingScalars { powershellQuotes.contains($0) ? String($0) + String($0) : nil } + "'"
    }

    /// Characters a POSIX shell reads as themselves outside quotes (ASCII only).
    static func isPlainPOSIXWord(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                // Not `=` or `%`: zsh expands a word starting with `=`, and `%` names a job.
                return "_-.,:/@+".utf8.contains(byte)
            }
        }
    }
}

extension String {
    /// Each Unicode scalar for which `replacement` answers a string is replaced by it; the
    /// others are kept as they are. By scalar, not by `Character`: see `ShellQuote`.
    func replacingScalars(_ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if let text = replacement(scalar) { out.append(contentsOf: text.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}
