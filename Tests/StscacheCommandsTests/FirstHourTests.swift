import Foundation
import Testing
import AWSConfig
@testable import StscacheCommands
import TestSupport

/// Issue 23: `credential-process` takes the profile a user selects, as `export` and `exec` do.
@Suite("credential-process: the delegating profile", .testHome())
struct DelegatingProfileTests {
    @Test("--profile prod answers from prod-role's session, by the fast path and by the parser")
    func delegatingProfile() throws {
        let home = TestHome.current
        try home.cacheSession(for: "prod-role", expiresIn: 3000)
        let byRole = home.run(["credential-process", "--profile", "prod-role"])
        #expect(byRole.status == 0 && byRole.stderr == "", "\(byRole.stderr)")
        for arguments in [["credential-process", "--profile", "prod"], ["credential-process", "--profile=prod"]] {
            let bySelected = home.run(arguments)
            #expect(bySelected.status == 0 && bySelected.stderr == "", "\(bySelected.stderr)")
            #expect(bySelected.stdout == byRole.stdout)
        }
    }

    @Test("a profile that delegates to itself fails at once, saying so")
    func itself() throws {
        let home = TestHome.current
        try home.write(standardConfig + "[profile loop]\ncredential_process = stscache credential-process --profile loop\n",
                       to: ".aws/config")
        expectCleanFailure(home.run(["credential-process", "--profile", "loop"]),
                           mentioning: ["runs stscache for profile \"loop\" itself", "loop-role"])
    }

    @Test("a typo'd profile: did you mean, the same from every command that takes --profile")
    func typo() throws {
        let home = TestHome.current
        for arguments in [["credential-process", "--profile", "prdo"], ["export", "--profile", "prdo"],
                          ["exec", "--profile", "prdo", "--", "/bin/true"], ["purge", "--profile", "prdo"],
                          ["console", "--profile", "prdo", "--print"]] {
            let result = home.run(arguments)
            expectCleanFailure(result, mentioning: ["did you mean \"prod\"?"])
            #expect(!result.stderr.contains("[profile prdo]") && !result.stderr.contains("use one of"), "\(arguments)")
        }
    }
}

@Suite("Completion of profile names")
struct NameCompletionTests {
    @Test("names from both files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), never a value")
    func namesOnly() throws {
        let home = try TestHome(
            config: standardConfig + "[sso-session corp]\nsso_region = eu-west-1\n",
            credentials: standardCredentials + "[keys-only]\naws_access_key_id = AKIAEXAMPLEKEYS00001\n"
                + "aws_secret_access_key = SECRETMARK\naws_session_token = SECRETMARK2\n")
        let output = CapturedOutput()
        let context = home.context(output: output)
        let profiles = NameCompletion.candidates(.profiles, context: context)
        #expect(profiles == ["default", "prod", "prod-role", "dev-role", "env-role", "base", "keys-only"])
        #expect(NameCompletion.candidates(.ssoSessions, context: context) == ["corp"])
        #expect(!(profiles.joined()).contains("SECRET") && !(profiles.joined()).contains("AKIA"))
        #expect(output.stdout == "" && output.stderr == "")
        // Elsewhere, through the variables; nothing is created (no cache, no key store).
        let elsewhere = try TempAWSDirectory()
        try elsewhere.write(config: "[profile other]\n", credentials: "[other-keys]\n")
        let moved = home.context(extra: ["AWS_CONFIG_FILE": elsewhere.configPath,
                                         "AWS_SHARED_CREDENTIALS_FILE": elsewhere.credentialsPath], output: output)
        #expect(NameCompletion.candidates(.profiles, context: moved) == ["other", "other-keys"])
        #expect(!home.exists(home.cacheDirectory) && !home.exists(home.path(".config")))
    }

    @Test("a name a shell would expand or split is not offered", arguments: [
        "d$(touch pwned)", "d`touch pwned`", "d${HOME}", "d{a,b}", "~d", "d e", "d\te", "d;e", "d|e", "d&e", "d>e",
        "d'e", "d\"e", "d\\e", "d*", "d?", "d[a]", "-d", "d\u{1b}[31m", "dé", "d=e", "d:e", "",
    ])
    func hostile(name: String) {
        #expect(!NameCompletion.isOffered(name))
    }

    @Test("ordinary names are offered", arguments: ["dev", "prod-role", "team.prod", "a_b", "me@corp", "x+y", "org/prod", "1,2"])
    func ordinary(name: String) {
        #expect(NameCompletion.isOffered(name))
    }

    @Test("a hostile name in the credentials file is left out, the others are offered")
    func hostileInFile() throws {
        let home = try TestHome(config: "[profile dev]\n[profile \"d$(touch pwned)\"]\n",
                                credentials: "[d`touch pwned2`]\n[d e]\n[dx]\n")
        let names = NameCompletion.candidates(.profiles, context: home.context(output: CapturedOutput()))
        #expect(names == ["dev", "dx"])
    }
}
