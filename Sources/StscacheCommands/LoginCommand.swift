import ArgumentParser
import AWSConfig
import CredentialCache
import Credentials
import StscacheSupport
import SignIn

/// `stscache login`: an IAM Identity Center sign-in, shared with the AWS CLI.
struct LoginCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to IAM Identity Center; the AWS CLI shares the login.",
        discussion: """
            Signs in as `aws sso login` does. For an sso-session: the authorization code flow \
            with PKCE, which opens the sign-in page in a browser on this machine and takes the \
            answer on a redirect to 127.0.0.1. With --device-code (and always for a legacy \
            profile with sso_start_url inline): prints a URL and a code to confirm on any device, \
            and waits until they are. The client registration and the token go to \
            ~/.aws/sso/cache (0600), where `aws` and stscache credential-process read them. \
            Logins of one session started together make one sign-in. credential-process and the \
            agent never sign in: they say to run this.
            """)

    @Option(name: .long, help: "The [sso-session NAME] to sign in to.", completion: .ssoSessionNames)
    var ssoSession: String?

    @Option(name: .long, help: "A profile whose sso_session (or legacy sso_start_url) to sign in to.",
            completion: .profileNames)
    var profile: String?

    @Flag(name: [.customLong("device-code"), .customLong("use-device-code")],
          help: "Confirm a code on any device instead of a browser redirect to this machine.")
    var deviceCode = false

    @Flag(name: .long, help: "Print the URL only; do not open a browser.")
    var noBrowser = false

    func validate() throws {
        guard (ssoSession == nil) != (profile == nil) else {
            throw ValidationError("give exactly one of --sso-session or --profile")
        }
    }

    func run(context: Context) throws {
        let files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        let target = try IdentityCenterLogin.target(files: files, environment: context.environment,
                                                    sessionName: ssoSession, profile: profile)
        // The CLI's rule: the redirect flow needs an sso-session; a legacy profile uses the device code.
        let flow: IdentityCenterLogin.Flow = deviceCode || target.sessionName == nil ? .deviceCode : .authorizationCode
        let cache = try CredentialCache.open(environment: context.environment, home: context.homeDirectory)
        let outcome = try IdentityCenterLogin(context: context).signIn(target, flow: flow, cache: cache, waiting: {
            context.output.stderr("stscache: another stscache login of \(target.startURL) is in progress; waiting for it\n")
        }) { url, userCode in
            if let userCode {
                context.output.stderr("stscache: to sign in to \(target.startURL), open \(url) and confirm the code \(userCode)\n")
            } else {
                context.output.stderr("stscache: to sign in to \(target.startURL), open this URL in a browser on this "
                    + "machine (on another device, use --device-code): \(url)\n")
            }
            guard !noBrowser else { return }
            do {
                try BrowserLaunch.open(url: url, context: context, fallback: "--no-browser")
            } catch {
                context.output.stderr("stscache: note: \(describe(error)) The URL is above.\n")
            }
        }
        let session = target.sessionName.map { " (sso-session \($0))" } ?? ""
        switch outcome {
        case .signedIn:
            context.output.stderr("stscache: signed in to \(target.startURL)\(session)\n")
        case .joinedAnotherLogin:
            context.output.stderr("stscache: signed in to \(target.startURL)\(session) by the other login\n")
        }
    }
}
