import Foundation
import Testing

import AWSConfig
import StscacheSupport
@testable import Credentials
import TestSupport
@testable import Setup

private let program = "/usr/bin/stscache"

/// Plans setup for `profiles` on `config` (and `credentials`), returning the new file's text.
private func setUp(_ config: String, credentials: String? = nil, _ profiles: [String] = ["prod"],
                   programPath: String = program) throws -> String {
    try setUp(bytes: Array(config.utf8), credentials: credentials, profiles, programPath: programPath)
}

private func setUp(bytes: [UInt8], credentials: String? = nil, _ profiles: [String] = ["prod"],
                   programPath: String = program) throws -> String {
    let directory = try TempAWSDirectory()
    try directory.writeConfig(bytes: bytes)
    try directory.write(credentials: credentials)
    let files = try directory.load()
    let plan = try DelegationSetup.plan(configBytes: bytes, files: files, profiles: profiles, programPath: programPath)
    return String(decoding: plan.bytes, as: UTF8.self)
}

private func expectSetupError(_ code: SetupError.Code, sourceLocation: Testing.SourceLocation = #_sourceLocation,
                              _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected SetupError \(code.rawValue)", sourceLocation: sourceLocation)
    } catch let error as SetupError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.contains("\n"), sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SetupError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

/// The lines of `before` that are not in `removed` appear in `after`, in order and unchanged.
private func keepsLines(_ before: String, _ after: String, except removed: Set<String>) -> Bool {
    let kept = before.split(separator: "\n", omittingEmptySubsequences: false).filter { !removed.contains(String($0)) }
    var rest = after.split(separator: "\n", omittingEmptySubsequences: false)[...]
    for line in kept {
        guard let found = rest.firstIndex(of: line) else { return false }
        rest = rest[rest.index(after: found)...]
    }
    return true
}

@Suite("Setup: planning the delegating pair")
struct DelegationSetupTests {
    @Test("moves the role keys to prod-role, copies region, keeps comments, order and other sections")
    func basicPair() throws {
        let config = """
            # my AWS config
            [default]
            region = us-east-1

            [profile prod]
            # production admin
            region = eu-west-1
            role_arn = arn:aws:iam::123456789012:role/Admin
            output = json
            source_profile = base
            mfa_serial = arn:aws:iam::111111111111:mfa/alice

            ; the end
            [profile base]
            region = us-east-1

            """
        let after = try setUp(config)
        #expect(after == """
            # my AWS config
            [default]
            region = us-east-1

            [profile prod]
            # production admin
            region = eu-west-1
            credential_process = /usr/bin/stscache credential-process --profile prod-role
            output = json

            [profile prod-role]
            region = eu-west-1
            role_arn = arn:aws:iam::123456789012:role/Admin
            source_profile = base
            mfa_serial = arn:aws:iam::111111111111:mfa/alice

            ; the end
            [profile base]
            region = us-east-1

            """)
    }

    @Test("a CRLF file gets CRLF lines and keeps every other byte")
    func crlf() throws {
        let config = "[profile prod]\r\nrole_arn = arn:aws:iam::1:role/A\r\nsource_profile = base\r\n\r\n[profile base]\r\nregion = x\r\n"
        let after = try setUp(config)
        #expect(after == "[profile prod]\r\ncredential_process = /usr/bin/stscache credential-process --profile prod-role\r\n"
            + "\r\n[profile prod-role]\r\nrole_arn = arn:aws:iam::1:role/A\r\nsource_profile = base\r\n"
            + "\r\n[profile base]\r\nregion = x\r\n")
    }

    @Test("tabs, odd spacing and a header written with extra spaces are kept; indented keys move unindented")
    func oddSpacing() throws {
        let config = "[profile  prod ]\n\t  role_arn\t=  arn:aws:iam::1:role/A  \n\t  source_profile: base\n\t  cli_pager =\n[profile base]\n"
        let after = try setUp(config)
        #expect(after == "[profile  prod ]\n\t  credential_process = /usr/bin/stscache credential-process --profile prod-role\n"
            + "\t  cli_pager =\n\n[profile prod-role]\nrole_arn\t=  arn:aws:iam::1:role/A  \nsource_profile: base\n[profile base]\n")
    }

    @Test("a header with a space inside the brackets is not a profile (as in botocore), so it is not found")
    func spacedHeaderIsNoProfile() {
        expectSetupError(.unknownProfile) { _ = try setUp("[ profile  prod ]\nrole_arn = a\nsource_profile = b\n") }
    }

    @Test("a file without a trailing newline, the profile last")
    func noTrailingNewline() throws {
        let after = try setUp("[profile base]\n[profile prod]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/A")
        #expect(after == "[profile base]\n[profile prod]\ncredential_process = /usr/bin/stscache credential-process --profile prod-role\n"
            + "\n[profile prod-role]\nsource_profile = base\nrole_arn = arn:aws:iam::1:role/A\n")
    }

    @Test("a continuation block and comments inside the section stay with the profile")
    func continuationAndComments() throws {
        let config = """
            [profile prod]
            s3 =
              addressing_style = path
            # keep me
            role_arn = arn:aws:iam::1:role/A
            ;  and me
            credential_source = Environment
            [profile other]
            region = q
            """
        let after = try setUp(config)
        #expect(after == """
            [profile prod]
            s3 =
              addressing_style = path
            # keep me
            credential_process = /usr/bin/stscache credential-process --profile prod-role
            ;  and me

            [profile prod-role]
            role_arn = arn:aws:iam::1:role/A
            credential_source = Environment
            [profile other]
            region = q
            """)
    }

    @Test("a repeated section: role keys leave every copy, the winning values move")
    func duplicateSections() throws {
        let config = """
            [profile prod]
            role_arn = arn:aws:iam::1:role/Old
            region = a
            [profile base]
            [profile prod]
            role_arn = arn:aws:iam::1:role/New
            source_profile = base

            """
        let after = try setUp(config)
        #expect(after == """
            [profile prod]
            credential_process = /usr/bin/stscache credential-process --profile prod-role
            region = a
            [profile base]
            [profile prod]

            [profile prod-role]
            region = a
            role_arn = arn:aws:iam::1:role/New
            source_profile = base

            """)
    }

    @Test("several profiles at once")
    func severalProfiles() throws {
        let config = "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = base\n\n"
            + "[profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n\n[profile base]\n"
        let after = try setUp(config, ["a", "b", "a"])
        #expect(after.contains("[profile a]\ncredential_process = /usr/bin/stscache credential-process --profile a-role\n\n[profile a-role]\n"))
        #expect(after.contains("[profile b]\ncredential_process = /usr/bin/stscache credential-process --profile b-role\n\n[profile b-role]\n"))
        #expect(keepsLines(config, after, except: ["role_arn = arn:aws:iam::1:role/A", "role_arn = arn:aws:iam::1:role/B",
                                                    "source_profile = base", "source_profile = a"]))
        // The pair resolves: b-role is sourced from a, which now delegates to stscache for a-role.
        let files = try loadFiles(config: after)
        let role = try ProfileResolver.resolve(profile: "b-role", files: files, environment: [:], userName: "u")
        #expect(role.roleArn == "arn:aws:iam::1:role/B")
        #expect(role.source == .credentialProcess(profile: "a", command: "/usr/bin/stscache credential-process --profile a-role"))
    }

    @Test("an IAM Identity Center profile: the sso_* keys move, the sso-session stays, the pair resolves")
    func identityCenterPair() throws {
        let config = """
            [sso-session corp]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1

            [profile dev]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Developer
            region = eu-west-1
            output = json

            [profile old]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1
            sso_account_id = 111122223333
            sso_role_name = Developer

            """
        let after = try setUp(config, ["dev", "old"])
        #expect(after == """
            [sso-session corp]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1

            [profile dev]
            credential_process = /usr/bin/stscache credential-process --profile dev-role
            region = eu-west-1
            output = json

            [profile dev-role]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Developer
            region = eu-west-1

            [profile old]
            credential_process = /usr/bin/stscache credential-process --profile old-role

            [profile old-role]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1
            sso_account_id = 111122223333
            sso_role_name = Developer

            """)
        let files = try loadFiles(config: after)
        #expect(files.delegatedProfile(forProfile: "dev") == "dev-role")
        let resolved = try ProfileResolver(files: files, environment: [:], policy: .stscache(userName: { "alice" }))
            .resolve(profile: "dev-role")
        guard case .identityCenter(let settings) = resolved.source else {
            Issue.record("dev-role is not an Identity Center profile: \(resolved.source)")
            return
        }
        #expect(settings.sessionName == "corp" && settings.accountId == "111122223333" && settings.roleName == "Developer")
        // Not enough to be one: no role name; and credential_process beside sso_* (the CLI would use sso_*).
        expectSetupError(.notARole) { _ = try setUp("[profile dev]\nsso_session = corp\nsso_account_id = 1\n", ["dev"]) }
        expectSetupError(.unsupportedLayout) {
            _ = try setUp(config.replacingOccurrences(of: "output = json", with: "credential_process = other-tool"), ["dev"])
        }
    }

    @Test("a program path with a space is quoted for botocore's shlex split")
    func quotedProgramPath() throws {
        let after = try setUp("[profile prod]\nrole_arn = r\nsource_profile = b\n[profile b]\n", programPath: "/opt/my tools/stscache")
        #expect(after.contains("credential_process = '/opt/my tools/stscache' credential-process --profile prod-role\n"))
        let files = try loadFiles(config: after)
        #expect(files.delegatedProfile(forProfile: "prod") == "prod-role")
    }

    @Test("a missing profile: the near name, else the profiles setup can take; never list (it shows sessions)")
    func unknownProfileMessage() throws {
        let config = """
            [profile prod]
            role_arn = arn:aws:iam::1:role/A
            source_profile = base
            [profile dev]
            credential_process = stscache credential-process --profile dev-role
            [profile dev-role]
            role_arn = arn:aws:iam::1:role/D
            source_profile = hop
            [profile hop]
            role_arn = arn:aws:iam::1:role/H
            source_profile = base
            [profile base]

            """
        func message(_ name: String) -> String {
            do {
                _ = try setUp(config, [name])
                return ""
            } catch {
                return (error as? SetupError)?.message ?? "\(error)"
            }
        }
        #expect(message("prdo").hasSuffix("; did you mean \"prod\"?"))
        // dev-role is dev's target and hop a source: setting either up would be wrong.
        #expect(message("staging").hasSuffix("; the profiles setup can take: prod."), "\(message("staging"))")
        #expect(!message("prdo").contains("stscache list") && !message("staging").contains("stscache list"))
    }

    @Test("refuses a missing profile, one without a role, one already delegating, a taken name")
    func refusals() {
        let base = "[profile base]\naws_access_key_id = A\n"
        expectSetupError(.unknownProfile) { _ = try setUp(base, ["nope"]) }
        expectSetupError(.notARole) { _ = try setUp(base + "[profile prod]\nregion = x\n") }
        expectSetupError(.alreadyDelegating) {
            _ = try setUp(base + "[profile prod]\ncredential_process = stscache credential-process --profile prod-role\n")
        }
        expectSetupError(.nameTaken) {
            _ = try setUp(base + "[profile prod]\nrole_arn = r\nsource_profile = base\n[profile prod-role]\n")
        }
        expectSetupError(.nameTaken) {
            _ = try setUp(base + "[profile prod]\nrole_arn = r\nsource_profile = base\n", credentials: "[prod-role]\nx = y\n")
        }
        expectSetupError(.noSource) { _ = try setUp("[profile prod]\nrole_arn = r\n") }
        expectSetupError(.selfSourced) {
            _ = try setUp("[profile prod]\nrole_arn = r\nsource_profile = prod\naws_access_key_id = A\naws_secret_access_key = B\n")
        }
    }

    @Test("refuses layouts it cannot keep: keys in the credentials file, differently written headers")
    func unsupportedLayouts() {
        let config = "[profile prod]\nrole_arn = r\nsource_profile = base\n[profile base]\n"
        expectSetupError(.unsupportedLayout) {
            _ = try setUp(config, credentials: "[prod]\naws_access_key_id = A\naws_secret_access_key = B\n")
        }
        expectSetupError(.unsupportedLayout) { _ = try setUp(config + "[profile  prod]\nregion = x\n") }
        expectSetupError(.unsupportedLayout) {
            _ = try setUp("[profile prod]\nrole_arn = r\ncredential_process = /bin/helper\nsource_profile = b\n[profile b]\n")
        }
    }

    @Test("a region for the profile in the credentials file stays there; the role half gets the config file's")
    func regionInCredentialsFile() throws {
        let after = try setUp("[profile prod]\nrole_arn = r\nsource_profile = base\nregion = a\n[profile base]\n",
                              credentials: "[prod]\nregion = b\n")
        #expect(after.contains("[profile prod-role]\nrole_arn = r\nsource_profile = base\nregion = a\n"))
    }

    @Test("the check catches an edit that changes another profile")
    func verificationCatchesDamage() throws {
        let config = "[profile prod]\nrole_arn = r\nsource_profile = base\n[profile base]\nregion = x\n"
        let directory = try TempAWSDirectory()
        try directory.write(config: config)
        let files = try directory.load()
        let damaged = Array((config.replacingOccurrences(of: "region = x", with: "region = y")
            .replacingOccurrences(of: "role_arn = r\nsource_profile = base\n",
                                  with: "credential_process = /usr/bin/stscache credential-process --profile prod-role\n")
            + "[profile prod-role]\nrole_arn = r\nsource_profile = base\n").utf8)
        #expect(throws: SetupError.self) {
            try DelegationSetup.verify(original: files, editedBytes: damaged, pairs: [("prod", "prod-role")], programPath: program)
        }
        // The same edit without the damage passes: the check itself is not what fails.
        let good = Array((config.replacingOccurrences(of: "role_arn = r\nsource_profile = base\n",
                                                      with: "credential_process = /usr/bin/stscache credential-process --profile prod-role\n")
            + "[profile prod-role]\nrole_arn = r\nsource_profile = base\n").utf8)
        try DelegationSetup.verify(original: files, editedBytes: good, pairs: [("prod", "prod-role")], programPath: program)
    }
}

@Suite("Setup: replacing the file")
struct ConfigFileUpdateTests {
    private func stat(_ path: String) -> stat? {
        var info = Glibc.stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    @Test("writes a 0600 backup of the old bytes, keeps the file's mode, and undo restores the bytes")
    func replaceAndUndo() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("config")
        let old: [UInt8] = Array("[default]\r\nregion = x".utf8)
        try Data(old).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        let snapshot = try ConfigFileUpdate.read(path)
        let backup = try ConfigFileUpdate.replace(snapshot, with: Array("new\n".utf8), stamp: "20261201T000000Z")
        #expect(backup == directory.sub("config.stscache-backup-20261201T000000Z"))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: backup))) == old)
        #expect(stat(backup).map { $0.st_mode & 0o777 } == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new\n")
        #expect(stat(path).map { $0.st_mode & 0o777 } == 0o644)

        let restored = try ConfigFileUpdate.undo(path)
        #expect(restored.backupPath == backup)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == old)
        #expect(stat(backup) == nil)
        #expect(throws: SetupError.self) { _ = try ConfigFileUpdate.undo(path) }
    }

    @Test("a second setup in the same second gets its own backup; undo goes newest first")
    func twoBackups() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("config")
        try Data("one\n".utf8).write(to: URL(fileURLWithPath: path))
        _ = try ConfigFileUpdate.replace(try ConfigFileUpdate.read(path), with: Array("two\n".utf8), stamp: "20261201T000000Z")
        let second = try ConfigFileUpdate.replace(try ConfigFileUpdate.read(path), with: Array("three\n".utf8), stamp: "20261201T000000Z")
        #expect(second.hasSuffix("-2"))
        _ = try ConfigFileUpdate.undo(path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two\n")
        _ = try ConfigFileUpdate.undo(path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\n")
    }

    @Test("a change between reading and replacing is refused; the file keeps the change and no backup is left")
    func changedUnderneath() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("config")
        try Data("one\n".utf8).write(to: URL(fileURLWithPath: path))
        let snapshot = try ConfigFileUpdate.read(path)
        do {
            _ = try ConfigFileUpdate.replace(snapshot, with: Array("setup\n".utf8), stamp: "20261201T000000Z") {
                try? Data("someone else\n".utf8).write(to: URL(fileURLWithPath: path))
            }
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .changedUnderneath)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "someone else\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["config"])
    }

    @Test("undo refuses when the file changed since setup wrote it")
    func undoRefusesChangedFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("config")
        try Data("one\n".utf8).write(to: URL(fileURLWithPath: path))
        _ = try ConfigFileUpdate.replace(try ConfigFileUpdate.read(path), with: Array("two\n".utf8), stamp: "20261201T000000Z")
        try Data("two, edited\n".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ConfigFileUpdate.undo(path)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .changedSinceSetup)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two, edited\n")
    }

    @Test("a config file that is a symbolic link stays one; the target is edited")
    func symlinkStays() throws {
        let directory = try TemporaryDirectory()
        let target = directory.sub("dotfiles-config")
        let link = directory.sub("config")
        try Data("one\n".utf8).write(to: URL(fileURLWithPath: target))
        symlink(target, link)
        let backup = try ConfigFileUpdate.replace(try ConfigFileUpdate.read(link), with: Array("two\n".utf8), stamp: "20261201T000000Z")
        #expect(stat(link).map { $0.st_mode & S_IFMT } == S_IFLNK)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "two\n")
        #expect(backup.hasPrefix(target + ".stscache-backup-"))
    }

    @Test("backup stamps sort as they read")
    func stamp() {
        #expect(AWSFileWriter.stamp("2026-12-01T21:45:07Z") == "20261201T214507Z")
    }
}
