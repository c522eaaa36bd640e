#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import AWSConfig
import CredentialCache
import Credentials
import StscacheSupport
import SignIn

/// `stscache login`: an IAM Identity Center sign-in, or `aws login`'s sign-in for a
/// `login_session` profile; either is shared with the AWS CLI.
struct LoginCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to IAM Identity Center, or with console credentials (aws login); the AWS CLI shares the login.",
        discussion: """
            Signs in as `aws sso login` does. For an sso-session: the authorization code flow \
            with PKCE, which opens the sign-in page in a browser on this machine and takes the \
            answer on a redirect to 127.0.0.1. With --device-code (and always for a legacy \
            profile with sso_start_url inline): prints a URL and a code to confirm on any device, \
            and waits until they are. The client registration and the token go to \
            ~/.aws/sso/cache (0600), where `aws` and stscache credential-process read them. \
            Logins of one session started together make one sign-in. credential-process and the \
            agent never sign in: they say to run this.

            With --profile P where P has login_session, or no credentials at all (or does not \
            exist): signs in with AWS console credentials as `aws login` does, by the \
            authorization code flow with PKCE at AWS Sign-In (a redirect to 127.0.0.1, or with \
            --remote a code shown on another device and pasted here). The session goes to \
            ~/.aws/login/cache (or AWS_LOGIN_CACHE_DIRECTORY, 0600), with a DPoP key made for this \
            login; login_session (and --region, when the profile has none) is set in the profile.
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

    @Flag(name: .long, help: "aws login profiles: sign in on another device and paste the code it shows here.")
    var remote = false

    @Option(name: .long, help: "aws login profiles: the region to sign in to (saved in the profile when it has none).")
    var region: String?

    func validate() throws {
        guard (ssoSession == nil) != (profile == nil) else {
            throw ValidationError("give exactly one of --sso-session or --profile")
        }
        if ssoSession != nil, remote || region != nil {
            throw ValidationError("--remote and --region are for aws login profiles (--profile); an sso-session signs in "
                + "with --device-code on another device")
        }
        if remote, deviceCode {
            throw ValidationError("give one of --remote (aws login profiles) or --device-code (IAM Identity Center)")
        }
    }

    func run(context: Context) throws {
        let files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        if let profile {
            switch LoginSessionTarget.kind(of: files.profile(named: profile)) {
            case .loginSession:
                return try signInWithConsoleCredentials(profile: profile, files: files, context: context)
            case .other(let kind):
                throw LoginFlowError(.profileUnusable, "profile \"\(profile)\" has \(kind) credentials: stscache login signs in to "
                    + "IAM Identity Center (sso_session) or with console credentials (login_session). For the latter, use a "
                    + "new profile name (stscache login --profile NEW), which gets login_session as aws login does.")
            case .identityCenter:
                if remote || region != nil {
                    throw LoginFlowError(.profileUnusable, "profile \"\(profile)\" is an IAM Identity Center profile: --remote "
                        + "and --region are for aws login profiles; use --device-code to sign in on another device.")
                }
            }
        }
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

    /// `aws login`'s flow for a `login_session` profile (or a profile that gets one).
    private func signInWithConsoleCredentials(profile: String, files: ConfigFiles, context: Context) throws {
        if deviceCode {
            throw LoginFlowError(.profileUnusable, "--device-code is for IAM Identity Center; to sign in to profile "
                + "\"\(profile)\" on another device, use --remote.")
        }
        let target = try LoginSessionTarget.resolve(files: files, environment: context.environment, profile: profile,
                                                    region: region)
        let device: LoginSessionSignIn.Device = remote ? .cross : .same
        let identity = try LoginSessionLogin(context: context).run(target, device: device, show: { url in
            switch device {
            case .cross:
                context.output.stderr("stscache: to sign in to profile \(profile) with your AWS console credentials, open this "
                    + "URL in a browser on any device, then paste the code it shows here: \(url)\n")
            case .same:
                context.output.stderr("stscache: to sign in to profile \(profile) with your AWS console credentials, open this "
                    + "URL in a browser on this machine (on another device, use --remote): \(url)\n")
                guard !noBrowser else { return }
                do {
                    try BrowserLaunch.open(url: url, context: context, fallback: "--no-browser")
                } catch {
                    context.output.stderr("stscache: note: \(describe(error)) The URL is above.\n")
                }
            }
        }, pastedCode: { () throws(LoginFlowError) -> String in
            try PastedLine.read(fd: 0, timeout: IdentityCenterLogin.redirectTimeout)
        })
        context.output.stderr("stscache: signed in as \(identity.arn); profile \(profile) uses this login_session\n")
    }
}

/// One line the user pastes on stdin (the `--remote` code): bounded, with a deadline; never echoed.
enum PastedLine {
    static let limit = 4096

    static func read(fd: Int32, timeout: Double) throws(LoginFlowError) -> String {
        var bytes: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        while true {
            let remaining = deadline - monotonicSeconds()
            guard remaining > 0 else {
                throw LoginFlowError(.notCompleted, "no authorization code was pasted within \(Int(timeout / 60)) minutes; run "
                    + "stscache login --remote again.")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            var byte: UInt8 = 0
            let count = Glibc.read(fd, &byte, 1)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if count <= 0 || byte == UInt8(ascii: "\n") { break }
            guard bytes.count < limit else {
                throw LoginFlowError(.notCompleted, "the pasted line is longer than any Sign-In code; run stscache login "
                    + "--remote again and paste only the code.")
            }
            bytes.append(byte)
        }
        guard let text = String(validating: bytes, as: UTF8.self), !text.trimmingWhitespace().isEmpty else {
            throw LoginFlowError(.noPerson, "no authorization code was pasted (stdin ended); run stscache login --remote from "
                + "a terminal, or pipe the code to it.")
        }
        return text
    }
}
