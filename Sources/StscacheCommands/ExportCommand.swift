import Credentials
import ArgumentParser
import AWSConfig
import CredentialCache
import SigV4
import STS
import StscacheSupport

/// `stscache export`: the role's credentials as lines a shell evaluates, for tools that read
/// only environment variables.
struct ExportCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print shell lines that set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION and AWS_ACCOUNT_ID.",
        discussion: """
              bash, zsh:  eval "$(stscache export --profile prod)"
              fish:       stscache export --profile prod --format fish | source
              PowerShell: stscache export --profile prod --format powershell | iex

            Also sets STSCACHE_PROFILE (the profile's name, which prompt shows), AWS_REGION and \
            AWS_DEFAULT_REGION from the profile's region when neither is set already (as exec \
            does), and the profile's endpoint settings as the AWS CLI reads them from the environment \
            (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS, ...). Refuses to write to a terminal \
            unless --force: the secrets would stay in its scrollback.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case env, fish, powershell, json
    }

    @Option(name: .long, help: "The profile whose role to use (a role profile, or one delegating to stscache).",
            completion: .profileNames)
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
        let settings = format == .json ? [] : try Self.profileVariables(fetched, environment: context.environment)
        context.output.stdout(Self.render(fetched.credentials, format: format, settings: settings))
        fetched.recordHandOut(.export)
    }

    /// Set with the credentials (`export`'s lines, `exec`'s child): the region
    /// (`regionVariables`), the endpoint variables the profile's settings amount to once the
    /// profile is no longer read (`ConfiguredEndpoints.childVariables`: `AWS_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_STS`, ...), and `STSCACHE_PROFILE`, the profile's name (only its name:
    /// `prompt` shows it).
    static func profileVariables(_ fetched: RoleCredentials, environment: [String: String]) throws
        -> [(name: String, value: String)]
    {
        let endpoints = try ConfiguredEndpoints.childVariables(
            profile: fetched.files.profile(named: fetched.profile), files: fetched.files, environment: environment)
        return regionVariables(fetched, environment: environment) + endpoints + [(profileMarker, fetched.profile)]
    }

    /// Without the profile the tools would lose its region: `AWS_REGION` and
    /// `AWS_DEFAULT_REGION` (the AWS CLI reads the second, the SDKs the first) set to the
    /// profile's `region` (else the role profile's), unless the environment already names a
    /// region. A value that is not a region name is left out (it would only reach a host name).
    static func regionVariables(_ fetched: RoleCredentials, environment: [String: String])
        -> [(name: String, value: String)]
    {
        let unset = { (name: String) in (environment[name] ?? "").isEmpty }
        guard unset("AWS_REGION") && unset("AWS_DEFAULT_REGION"),
              let region = fetched.files.profile(named: fetched.profile)?.string("region")
                ?? fetched.files.profile(named: fetched.role.name)?.string("region"),
              STSEndpoint.isValidRegionName(region) else { return [] }
        return [("AWS_REGION", region), ("AWS_DEFAULT_REGION", region)]
    }

    /// Marks the profile whose credentials the environment holds (aws-vault's `AWS_VAULT`).
    static let profileMarker = "STSCACHE_PROFILE"

    /// The profile as the refusal's `eval` hint shows it: a word the user can paste. Bare when
    /// nothing in it is special, single-quoted otherwise; a placeholder when it holds a control
    /// character (a line break would split the one-line message, and pasting it back is no help).
    static func profileWord(_ profile: String) -> String {
        if profile.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "PROFILE" }
        return ShellQuote.word(profile)
    }

    /// The four variables, in the order the AWS SDKs document them, then `AWS_ACCOUNT_ID` when
    /// the account is known (botocore's and the other SDKs' environment provider read it for
    /// account-based endpoints, as aws-vault exports it; the AWS CLI's `export-credentials` does
    /// not print it).
    static func variables(_ credentials: AWSCredentials) -> [(name: String, value: String)] {
        var variables = [("AWS_ACCESS_KEY_ID", credentials.accessKeyId),
                         ("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey)]
        if let token = credentials.sessionToken { variables.append(("AWS_SESSION_TOKEN", token)) }
        if let expiration = credentials.expiration {
            // starship's aws module (and aws-vault users' prompts) read this one.
            variables.append(("AWS_CREDENTIAL_EXPIRATION", Timestamps.formatRFC3339(expiration)))
        }
        if let accountId = credentials.accountId, AccountID.isValid(accountId) {
            variables.append(("AWS_ACCOUNT_ID", accountId))
        }
        return variables
    }

    static func render(_ credentials: AWSCredentials, format: Format,
                       settings: [(name: String, value: String)] = []) -> String {
        if format == .json { return CredentialOutput.json(credentials) }
        return (variables(credentials) + settings).map { name, value in
            switch format {
            case .env: return "export \(name)=\(ShellQuote.posix(value))\n"
            case .fish: return "set -gx \(name) \(ShellQuote.fish(value))\n"
            case .powershell: return "$Env:\(name) = \(ShellQuote.powershell(value))\n"
            case .json: return ""
            }
        }.joined()
    }
}
