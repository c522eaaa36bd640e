import ArgumentParser
import Credentials
import StscacheSupport
import SignIn

/// `stscache console`: a console sign-in URL from the profile's cached role session.
struct ConsoleCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the AWS console signed in as a profile's role (or print the sign-in URL).",
        discussion: """
            Gets the role's session as credential-process does (from the cache, or STS), asks the \
            AWS federation endpoint for a sign-in token, and opens the sign-in URL in a browser \
            ($BROWSER, else xdg-open).

            The sign-in URL is a secret: for 15 minutes, anyone who opens it is signed in as the \
            role. --print writes it to stdout; do not paste it into chats or tickets. Without \
            --print the URL is never put on a command line (other users can read command lines): \
            the browser is given a private redirect page (0600, in XDG_RUNTIME_DIR or TMPDIR), \
            which is removed a few seconds later.
            """)

    @Option(name: .long, help: "The profile (a role profile, or one delegating to stscache).",
            completion: .profileNames)
    var profile: String

    @Flag(name: .long, help: "Print the sign-in URL (a secret) instead of opening a browser.")
    var print = false

    @Option(name: .long, help: "The console's region (default: the profile's region).")
    var region: String?

    @Option(name: .long, help: "The console page to open after signing in (an https:// URL).")
    var destination: String?

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let fetched = try RoleCredentials.fetch(context: context, profile: profile, refreshWindow: nil,
                                                verbose: cacheOptions.verbose || context.verbose)
        let url = try ConsoleSignIn.signInURL(role: fetched.role, credentials: fetched.credentials, region: region,
                                              destination: destination, settings: try fetched.settings.get(), context: context)
        fetched.recordHandOut(.console)
        if print {
            context.output.stdout(url + "\n")
        } else {
            try BrowserLaunch.open(url: url, context: context)
        }
    }
}
