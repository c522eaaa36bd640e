import ArgumentParser
import AWSConfig
import Credentials
import StscacheSupport

/// `stscache login`: an IAM Identity Center sign-in (device code), shared with the AWS CLI.
struct LoginCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to IAM Identity Center (device code); the AWS CLI shares the login.",
        discussion: """
            Registers a client with Identity Center OIDC (cached in ~/.aws/sso/cache as the AWS \
            CLI caches it), prints a URL and a code on stderr, opens a browser on it unless \
            --no-browser, and waits until the code is approved there. The token is written to \
            ~/.aws/sso/cache (0600), where `aws` and stscache credential-process read it. \
            credential-process and the agent never sign in: they say to run this.
            """)

    @Option(name: .long, help: "The [sso-session NAME] to sign in to.")
    var ssoSession: String?

    @Option(name: .long, help: "A profile whose sso_session (or legacy sso_start_url) to sign in to.")
    var profile: String?

    @Flag(name: .long, help: "Print the URL and code only; do not open a browser.")
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
        try IdentityCenterLogin(context: context).run(target) { url, userCode in
            context.output.stderr("stscache: to sign in to \(target.startURL), open \(url) and confirm the code \(userCode)\n")
            guard !noBrowser else { return }
            do {
                try BrowserLaunch.open(url: url, context: context)
            } catch {
                context.output.stderr("stscache: note: \(describe(error)) Open the URL yourself.\n")
            }
        }
        context.output.stderr("stscache: signed in to \(target.startURL)"
            + (target.sessionName.map { " (sso-session \($0))" } ?? "") + "\n")
    }
}
