import AWSConfig
import Foundation
@testable import Credentials
import StscacheSupport
import Testing
import TestSupport
import KeepWarm
import SignIn

extension TemporaryDirectory {
    /// Writes a program (by default one that exits 0) at `name` in the directory; returns its path.
    @discardableResult
    fileprivate func file(_ name: String, _ text: String = "#!/bin/sh\nexit 0\n", mode: Int = 0o755) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }
}

private let cacheKey = Data(repeating: 0xab, count: 32).base64EncodedString()

@Suite("what a child inherits")
struct ChildEnvironmentTests {
    @Test("the cache key, the MFA code and unknown STSCACHE_ settings are removed; the rest stays")
    func rule() {
        let ours = [
            "STSCACHE_CACHE_KEY": cacheKey, "STSCACHE_MFA_TOKEN": "123456", "STSCACHE_SOMETHING_NEW": "x",
            "STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_DIR": "/c", "STSCACHE_CHAIN": "prod",
            "STSCACHE_PROFILE": "prod", "STSCACHE_REFRESH_WINDOW": "5m",
            "PATH": "/bin", "HOME": "/h", "AWS_REGION": "eu-west-1", "NOT_STSCACHE_CACHE_KEY": "kept",
        ]
        #expect(ChildEnvironment.inherited(from: ours) == [
            "STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_DIR": "/c", "STSCACHE_CHAIN": "prod",
            "STSCACHE_PROFILE": "prod", "STSCACHE_REFRESH_WINDOW": "5m",
            "PATH": "/bin", "HOME": "/h", "AWS_REGION": "eu-west-1", "NOT_STSCACHE_CACHE_KEY": "kept",
        ])
    }

    @Test("the key alone chose the env key store: the child is told env, so a nested run fails instead of using another key")
    func implicitEnvKeyStore() {
        #expect(ChildEnvironment.inherited(from: ["STSCACHE_CACHE_KEY": cacheKey]) == ["STSCACHE_KEY_STORE": "env"])
        #expect(ChildEnvironment.inherited(from: ["STSCACHE_CACHE_KEY": cacheKey, "STSCACHE_KEY_STORE": "file"])
            == ["STSCACHE_KEY_STORE": "file"])
        #expect(ChildEnvironment.inherited(from: ["STSCACHE_CACHE_KEY": ""]) == [:])
        #expect(ChildEnvironment.inherited(from: [:]) == [:])
    }

    @Test("no secret is on the list of settings kept")
    func secretsNotKept() {
        #expect(ChildEnvironment.keptSettings.isDisjoint(with: ChildEnvironment.secrets))
        #expect(ChildEnvironment.secrets.isSuperset(of: ["STSCACHE_CACHE_KEY", "STSCACHE_MFA_TOKEN"]))
    }

    /// A setting added later must be placed on one side of the rule on purpose: kept settings
    /// reach nested stscache runs, anything else is dropped.
    @Test("every STSCACHE_ variable the sources read is either kept or a named secret")
    func everySettingClassified() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") } ?? []
        #expect(!files.isEmpty)
        let pattern = try NSRegularExpression(pattern: #""(STSCACHE_[A-Z_]+)""#)
        var names = Set<String>()
        for file in files {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert((text as NSString).substring(with: match.range(at: 1)))
            }
        }
        #expect(names.contains("STSCACHE_CACHE_KEY"))
        let unclassified = names.subtracting(ChildEnvironment.keptSettings).subtracting(ChildEnvironment.secrets)
        #expect(unclassified.isEmpty, "add these to ChildEnvironment.keptSettings or .secrets: \(unclassified.sorted())")
    }

    /// `Spawn` takes the environment it is given; the rule is applied by its callers. Each place
    /// that starts a program must build that environment with `ChildEnvironment.inherited`, so a
    /// new spawn site is caught here until it does. The one exception is the agent, whose
    /// children are stscache itself (they need the cache's key store as the agent has it) and
    /// whose rule is `CachingAgent.childEnvironment`.
    @Test("every place that starts a program builds its environment with ChildEnvironment.inherited")
    func everySpawnSiteAppliesTheRule() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") && !$0.hasPrefix("StscacheSupport/") } ?? []
        var sites: [String: Bool] = [:]
        for file in files {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            if text.contains("Spawn.start(") || text.contains("CapturedProcess.run(") {
                sites[file] = file == "KeepWarm/CachingAgent.swift"
                    ? text.contains("environment: Self.childEnvironment(")
                    : text.contains("ChildEnvironment.inherited(from:")
            }
        }
        #expect(Set(sites.keys) == ["Credentials/CredentialSources/HelperProcess.swift", "StscacheCommands/ExecCommand.swift",
                                    "KeepWarm/CachingAgent.swift", "SignIn/BrowserLaunch.swift", "KeepWarm/Attention.swift"],
                "a new spawn site: build its environment with ChildEnvironment.inherited, then list it here")
        #expect(sites.values.allSatisfy { $0 }, "\(sites)")
    }

    @Test("the agent's refreshes never get a one-time MFA code and may never ask for one")
    func agentChildEnvironment() {
        let child = CachingAgent.childEnvironment(["STSCACHE_MFA_TOKEN": "123456", "STSCACHE_CACHE_DIR": "/c",
                                                   "STSCACHE_NONINTERACTIVE": "0", "PATH": "/bin"])
        #expect(child["STSCACHE_MFA_TOKEN"] == nil)
        #expect(child["STSCACHE_NONINTERACTIVE"] == "1")
        #expect(child["STSCACHE_CACHE_DIR"] == "/c" && child["PATH"] == "/bin")
        #expect(ChildEnvironment.keptSettings.contains("STSCACHE_NONINTERACTIVE"),
                "a stscache the refresh starts as a credential_process source must not ask either")
    }

    @Test("a helper's environment goes through the rule (env prints no secret)")
    func helperEnvironment() throws {
        let command = try HelperCommand.parse("env", environment: ["PATH": "/usr/bin:/bin"])
        let outcome = try command.run(
            environment: ["PATH": "/usr/bin:/bin", "STSCACHE_CACHE_KEY": cacheKey, "STSCACHE_MFA_TOKEN": "654321",
                          "STSCACHE_KEY_STORE": "env", "STSCACHE_CHAIN": "prod"],
            timeout: 10, outputLimit: 65536)
        let printed = String(decoding: outcome.stdout, as: UTF8.self)
        #expect(outcome.termination.succeeded)
        #expect(!printed.contains(cacheKey) && !printed.contains("STSCACHE_CACHE_KEY"))
        #expect(!printed.contains("654321") && !printed.contains("STSCACHE_MFA_TOKEN"))
        #expect(printed.contains("STSCACHE_KEY_STORE=env\n") && printed.contains("STSCACHE_CHAIN=prod\n"))
    }
}

@Suite("helper command lines, split as botocore splits them", .temporaryDirectory(prefix: "stscache-children"))
struct HelperCommandTests {
    let scratch = TemporaryDirectory.current

    @Test("shell syntax is literal: the words of shlex.split, argv[0] as written")
    func literalWords() throws {
        let command = try HelperCommand.parse(
            #"printf 'a;b' $(touch x) "c d" e\ f | `id` $HOME 'it''s' "say \"hi\"""#, environment: ["PATH": "/usr/bin:/bin"])
        #expect(["/usr/bin/printf", "/bin/printf"].contains(command.path))
        #expect(command.arguments == ["printf", "a;b", "$(touch", "x)", "c d", "e f", "|", "`id`", "$HOME", "its",
                                      #"say "hi""#])
    }

    @Test("the helper receives those words, and nothing runs them as shell")
    func noShellAtRunTime() throws {
        let marker = scratch.path + "/touched"
        let line = "printf '%s\\n' 'a;b' $(touch \(marker)) '$HOME' ';' 'rm' '-rf'"
        let command = try HelperCommand.parse(line, environment: ["PATH": "/usr/bin:/bin"])
        let outcome = try command.run(environment: ["PATH": "/usr/bin:/bin", "HOME": "/nowhere"],
                                              timeout: 10, outputLimit: 4096)
        #expect(String(decoding: outcome.stdout, as: UTF8.self)
            == "a;b\n$(touch\n\(marker))\n$HOME\n;\nrm\n-rf\n")
        #expect(!FileManager.default.fileExists(atPath: marker))
        // Control: the same line through a shell does run touch, so the check above can fail.
        let shell = try HelperCommand.parse(sh(line), environment: ["PATH": "/usr/bin:/bin"])
        _ = try shell.run(environment: ["PATH": "/usr/bin:/bin"], timeout: 10, outputLimit: 4096)
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test("an unterminated quote, a trailing backslash and an empty line are refused", arguments: [
        ("helper 'open", HelperCommand.Problem.unsplittable), ("helper \"open", .unsplittable),
        ("helper end\\", .unsplittable), ("", .empty), ("   \t ", .empty), ("'' --flag", .empty),
    ])
    func unusable(_ line: String, problem: HelperCommand.Problem) {
        #expect(throws: problem) { try HelperCommand.parse(line, environment: ["PATH": "/usr/bin:/bin"]) }
    }

    @Test("a quoted path with spaces is one program")
    func pathWithSpaces() throws {
        let helper = try scratch.file("my helpers/get creds")
        let command = try HelperCommand.parse("'\(helper)' --flag", environment: [:])
        #expect(command == HelperCommand(path: helper, arguments: [helper, "--flag"]))
    }

    @Test("PATH is searched in order; a non-executable file or a directory by that name is skipped")
    func pathLookup() throws {
        try scratch.file("one/tool", mode: 0o644)
        let runnable = try scratch.file("two/tool")
        try scratch.file("three/tool")
        let path = "\(scratch.path)/one:\(scratch.path)/two:\(scratch.path)/three"
        #expect(try HelperCommand.parse("tool", environment: ["PATH": path]).path == runnable)
        #expect(ExecutableSearch.locate("tool", environment: ["PATH": "\(scratch.path)/one"])
            == .notExecutable("\(scratch.path)/one/tool"))
        #expect(ExecutableSearch.locate("tool", environment: ["PATH": ":/nonexistent"]) == .notFound)
        #expect(ExecutableSearch.locate("sh", environment: ["PATH": "/nonexistent::/bin"]) == .found("/bin/sh"))
        // A directory by the program's name is not a program.
        try FileManager.default.createDirectory(atPath: scratch.path + "/four/tool", withIntermediateDirectories: true)
        #expect(ExecutableSearch.locate("tool", environment: ["PATH": "\(scratch.path)/four"]) == .notFound)
    }

    @Test("a missing program is named; a non-executable file is named")
    func missingProgram() throws {
        #expect(throws: HelperCommand.Problem.notFound(program: "no-such-helper")) {
            try HelperCommand.parse("no-such-helper --profile x", environment: ["PATH": scratch.path])
        }
        let plain = try scratch.file("plain", mode: 0o644)
        #expect(throws: HelperCommand.Problem.notExecutable(path: plain)) {
            try HelperCommand.parse("'\(plain)'", environment: [:])
        }
        #expect(throws: HelperCommand.Problem.notFound(program: scratch.path + "/absent")) {
            try HelperCommand.parse(scratch.path + "/absent", environment: [:])
        }
    }

    @Test("credential_process problems name the profile and the key, never the rest of the line")
    func credentialProcessMessages() {
        let unsplittable = expectSourceError(.processCouldNotStart) {
            _ = try ProcessCredentialSource().credentials(
                command: "helper --token hidden-secret 'oops", profile: "sso", roleProfile: "prod",
                environment: ["PATH": "/usr/bin:/bin"], now: SourcesFixture.now)
        }
        #expect(unsplittable?.message.contains("credential_process of profile \"sso\"") == true)
        #expect(unsplittable?.message.contains("unterminated quote") == true)
        #expect(unsplittable?.message.contains("hidden-secret") == false)
        let missing = expectSourceError(.processCouldNotStart) {
            _ = try ProcessCredentialSource().credentials(
                command: "no-such-sso-helper --token hidden-secret", profile: "sso", roleProfile: "prod",
                environment: ["PATH": "/usr/bin:/bin"], now: SourcesFixture.now)
        }
        #expect(missing?.message.contains("no-such-sso-helper") == true)
        #expect(missing?.message.contains("no program of that name is in PATH") == true)
        #expect(missing?.message.contains("hidden-secret") == false)
    }

    @Test("mfa_process is not run by a shell either: '; exit 3' is two more words for echo")
    func mfaProcessWithoutShell() {
        let source = MFACodeSource(environment: ["PATH": "/usr/bin:/bin"], openTerminal: { nil })
        // Through a shell this would be exit status 3 (mfaProcessFailed); here echo prints it all.
        expectSourceError(.mfaInvalidCode) {
            _ = try source.code(serial: "arn:aws:iam::1:mfa/a", mfaProcess: "echo 123456; exit 3", purpose: "p")
        }
        let unsplittable = expectSourceError(.mfaProcessFailed) {
            _ = try source.code(serial: "arn:aws:iam::1:mfa/a", mfaProcess: "ykman 'oath", purpose: "profile \"prod\"")
        }
        #expect(unsplittable?.message.contains("mfa_process for profile \"prod\"") == true)
    }
}
