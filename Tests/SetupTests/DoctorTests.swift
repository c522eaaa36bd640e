import Foundation
import Testing

import AWSConfig
@testable import Credentials
import TestSupport
@testable import Setup

private let policy = ResolutionPolicy.stscache(userName: { "alice" })
/// A directory holding an executable `stscache`, for PATH: then only the layout is judged.
private func programDirectory() throws -> TemporaryDirectory {
    let directory = try TemporaryDirectory()
    _ = FileManager.default.createFile(atPath: directory.sub("stscache"), contents: Data("#!/bin/sh\n".utf8),
                                       attributes: [.posixPermissions: 0o755])
    return directory
}

private func codes(config: String, credentials: String? = nil, only: String? = nil,
                   path: String? = nil, stored: Set<String> = []) throws -> [String] {
    let files = try loadFiles(config: config, credentials: credentials)
    let programs = try programDirectory()
    return Doctor.configFindings(files: files, environment: ["PATH": path ?? programs.path], policy: policy, only: only,
                                 storedProfiles: stored)
        .map(\.code)
}

private let pair = """
    [profile prod]
    credential_process = stscache credential-process --profile prod-role
    [profile prod-role]
    role_arn = arn:aws:iam::1:role/A
    credential_source = Ec2InstanceMetadata

    """

@Suite("Doctor")
struct DoctorTests {
    @Test("a healthy pair has no findings")
    func healthy() throws {
        #expect(try codes(config: pair) == [])
    }

    @Test("finds a delegation loop, a missing target, a target that is not a role")
    func delegation() throws {
        #expect(try codes(config: """
            [profile a]
            credential_process = stscache credential-process --profile b
            [profile b]
            credential_process = stscache credential-process --profile a
            """, only: "a") == ["doctor.delegation-loop"])
        #expect(try codes(config: "[profile a]\ncredential_process = stscache credential-process --profile nope\n")
            == ["doctor.missing-target"])
        #expect(try codes(config: "[profile a]\ncredential_process = stscache credential-process --profile b\n[profile b]\nregion = x\n")
            == ["doctor.target-not-a-role"])
    }

    @Test("finds a credential_process program that is not there (and not when it is)")
    func missingProgram() throws {
        #expect(try codes(config: pair, path: "/nonexistent") == ["doctor.missing-program"])
        #expect(try codes(config: pair.replacingOccurrences(of: "= stscache", with: "= /nonexistent/stscache"))
            == ["doctor.missing-program"])
    }

    @Test("finds a delegation the CLI shadows: role_arn kept, or keys in the credentials file")
    func shadowed() throws {
        #expect(try codes(config: pair.replacingOccurrences(
            of: "[profile prod]\n", with: "[profile prod]\nrole_arn = r\ncredential_source = Environment\n"), only: "prod")
            .contains("doctor.shadowed-delegation"))
        #expect(try codes(config: pair, credentials: "[prod]\naws_access_key_id = ASIA\naws_secret_access_key = s\n"
                          + "aws_session_token = t\n") == ["doctor.shadowed-delegation"])
    }

    @Test("warns about a role profile the CLI resolves itself, but not about a delegation target or a source")
    func cliResolvesRole() throws {
        #expect(try codes(config: "[profile r]\nrole_arn = a\ncredential_source = Ec2InstanceMetadata\n")
            == ["doctor.cli-resolves-role"])
        #expect(try codes(config: pair + """
            [profile hop]
            role_arn = arn:aws:iam::1:role/Hop
            credential_source = Ec2InstanceMetadata
            [profile chained]
            role_arn = arn:aws:iam::1:role/C
            source_profile = hop
            """).filter { $0 == "doctor.cli-resolves-role" }.count == 1)  // chained, not hop
    }

    @Test("reports sources: missing, keyless, half a key pair")
    func sources() throws {
        let role = "[profile r]\ncredential_process = stscache credential-process --profile r-role\n"
            + "[profile r-role]\nrole_arn = a\nsource_profile = base\n"
        #expect(try codes(config: role) == ["doctor.missing-source"])
        #expect(try codes(config: role + "[profile base]\nregion = x\n") == ["doctor.keyless-source"])
        let partial = try codes(config: role, credentials: "[base]\naws_access_key_id = AKIAX\n")
        #expect(partial == ["doctor.partial-keys"])
        // Keys in stscache's store: nothing to report; in the store and in plaintext: an error.
        #expect(try codes(config: role, stored: ["base"]).isEmpty)
        #expect(try codes(config: role + "[profile base]\nregion = x\n", stored: ["base"]).isEmpty)
        let both = try codes(config: role, credentials: "[base]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n",
                             stored: ["base"])
        #expect(both == ["doctor.stored-and-plaintext"])
    }

    @Test("a typo'd source_profile gets the near name as its fix, never keys stored under the typo")
    func typoSource() throws {
        let role = "[profile r]\ncredential_process = stscache credential-process --profile r-role\n"
            + "[profile r-role]\nrole_arn = a\nsource_profile = bsae\n"
        let programs = try programDirectory()
        func findings(_ config: String, credentials: String? = nil, stored: Set<String> = []) throws -> [DoctorFinding] {
            Doctor.configFindings(files: try loadFiles(config: config, credentials: credentials),
                                  environment: ["PATH": programs.path], policy: policy, storedProfiles: stored)
        }
        for (credentials, stored) in [("[base]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n", Set<String>()),
                                      ("[other]\n", Set(["base"]))] {
            let found = try findings(role, credentials: credentials, stored: stored).filter { $0.code == "doctor.missing-source" }
            #expect(found.count == 1)
            #expect(found.first?.profile == "r-role")
            #expect(found.first?.fix == "did you mean \"base\"? Correct source_profile in [profile r-role].")
            #expect(found.first?.message.contains(":5: profile \"r-role\" has source_profile = bsae") == true,
                    "\(found.first?.message ?? "")")
            #expect(found.allSatisfy { !$0.fix.contains("keys add") })
        }
        // Control: nothing near, so the name may be meant: storing its keys is a fix.
        let far = try findings(role.replacingOccurrences(of: "bsae", with: "vault-user"))
        #expect(far.map(\.code) == ["doctor.missing-source"])
        #expect(far.first?.fix.hasPrefix("stscache keys add vault-user") == true)
    }

    @Test("an unknown --profile and a delegation's typo'd target: the near name")
    func typoProfiles() throws {
        let files = try loadFiles(config: pair + "[profile dev]\ncredential_process = stscache credential-process --profile prod-rloe\n")
        let programs = try programDirectory()
        let unknown = Doctor.configFindings(files: files, environment: ["PATH": programs.path], policy: policy, only: "prdo")
        #expect(unknown.map(\.code) == ["doctor.unknown-profile"])
        #expect(unknown.first?.fix == "did you mean \"prod\"? stscache doctor --profile prod")
        let target = Doctor.configFindings(files: files, environment: ["PATH": programs.path], policy: policy, only: "dev")
        #expect(target.map(\.code) == ["doctor.missing-target"])
        #expect(target.first?.fix == "did you mean \"prod-role\"? Correct --profile prod-rloe in dev's credential_process.")
        let far = Doctor.configFindings(files: files, environment: ["PATH": programs.path], policy: policy, only: "zzz")
        #expect(far.first?.fix.hasPrefix("check the name") == true)
    }

    @Test("durations: out of STS's range, and over an hour on a chained role")
    func durations() throws {
        #expect(try codes(config: pair + "duration_seconds = 899\n") == ["doctor.duration-refused"])
        #expect(try codes(config: pair + "duration_seconds = 43201\n") == ["doctor.duration-refused"])
        #expect(try codes(config: pair + "duration_seconds = 3601\n") == ["doctor.duration-chained"])
        #expect(try codes(config: pair + "duration_seconds = 3600\n") == [])
    }

    @Test("long-term keys in plain text, named with the import command; session keys are not")
    func plaintextKeys() throws {
        let files = try loadFiles(config: pair, credentials: "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n"
                                  + "[temp]\naws_access_key_id = ASIA\naws_secret_access_key = s\naws_session_token = t\n")
        let programs = try programDirectory()
        let findings = Doctor.configFindings(files: files, environment: ["PATH": programs.path], policy: policy)
        #expect(findings.map(\.code) == ["doctor.plaintext-keys"])
        #expect(findings[0].severity == .warning)
        // keys import deletes the key lines itself: the fix does not ask for that by hand.
        #expect(findings[0].fix.hasPrefix("stscache keys import base (moves them into stscache's encrypted store"))
        #expect(!findings[0].fix.contains("delete"))
        // Keys in the config file are not what import reads: add, then delete by hand.
        let inConfig = Doctor.configFindings(
            files: try loadFiles(config: pair + "[profile cfg]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n"),
            environment: ["PATH": programs.path], policy: policy)
        #expect(inConfig.first?.fix.hasPrefix("stscache keys add cfg (stores them encrypted), then delete the two key lines") == true)
        #expect(!findings[0].message.contains("AKIAEXAMPLE") && !findings[0].fix.contains("AKIAEXAMPLE"))
    }

    @Test("directories: mode and symlink are found; a missing one is fine")
    func directories() throws {
        let home = try TemporaryDirectory()
        let cache = home.sub("cache")
        #expect(Doctor.directoryFindings(environment: ["STSCACHE_CACHE_DIR": cache], home: home.path).isEmpty)
        mkdir(cache, 0o755)
        chmod(cache, 0o755)
        #expect(Doctor.directoryFindings(environment: ["STSCACHE_CACHE_DIR": cache], home: home.path).map(\.code)
            == ["doctor.cache-dir-mode"])
        chmod(cache, 0o700)
        #expect(Doctor.directoryFindings(environment: ["STSCACHE_CACHE_DIR": cache], home: home.path).isEmpty)
        symlink(cache, home.sub("link"))
        #expect(Doctor.directoryFindings(environment: ["STSCACHE_CACHE_DIR": home.sub("link")], home: home.path).map(\.code)
            == ["doctor.cache-dir-symlink"])
    }

    @Test("the key directory is judged only when the file key store is the one in use")
    func keyDirectoryOnlyForFileStore() throws {
        let home = try TemporaryDirectory()
        mkdir(home.sub("config"), 0o700)
        mkdir(home.sub("config/stscache"), 0o700)
        chmod(home.sub("config/stscache"), 0o755)
        let base = ["XDG_CONFIG_HOME": home.sub("config"), "STSCACHE_CACHE_DIR": home.sub("none")]
        let fileStore = base.merging(["STSCACHE_KEY_STORE": "file"]) { $1 }
        #expect(Doctor.directoryFindings(environment: fileStore, home: home.path)
            .map(\.code) == ["doctor.key-dir-mode"])
        // The key store refuses a directory others can write to, not one they can list: 0755 is a
        // warning, 0775 an error (as FileKeyStore judges it).
        #expect(Doctor.directoryFindings(environment: fileStore, home: home.path).map(\.severity) == [.warning])
        chmod(home.sub("config/stscache"), 0o775)
        #expect(Doctor.directoryFindings(environment: fileStore, home: home.path).map(\.severity) == [.error])
        chmod(home.sub("config/stscache"), 0o755)
        let envStore = base.merging(["STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": String(repeating: "A", count: 43) + "="]) { $1 }
        #expect(Doctor.directoryFindings(environment: envStore, home: home.path).isEmpty)
    }

    @Test("the key store: named, never created, a broken key file reported")
    func keyStore() throws {
        let home = try TemporaryDirectory()
        let environment = ["STSCACHE_KEY_STORE": "file", "XDG_CONFIG_HOME": home.sub("config")]
        let none = Doctor.keyStoreFindings(environment: environment, home: home.path)
        #expect(none.map(\.code) == ["doctor.key-store"] && none[0].severity == .info)
        #expect(!FileManager.default.fileExists(atPath: home.sub("config/stscache/cache-key")))
        try FileManager.default.createDirectory(atPath: home.sub("config/stscache"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: home.sub("config/stscache/cache-key"), contents: Data("short".utf8),
                                       attributes: [.posixPermissions: 0o600])
        #expect(Doctor.keyStoreFindings(environment: environment, home: home.path).map(\.code) == ["doctor.key-store-broken"])
        #expect(Doctor.keyStoreFindings(environment: ["STSCACHE_KEY_STORE": "vault"], home: home.path).map(\.code)
            == ["doctor.key-store"])
    }

    @Test("JSON output: an array of {severity, profile, code, message, fix}")
    func json() throws {
        let findings = [DoctorFinding(.warning, "x", profile: "p", "a \"quoted\" message", fix: "do this"),
                        DoctorFinding(.info, "y", "no profile", fix: "nothing")]
        let decoded = try JSONSerialization.jsonObject(with: Data(Doctor.json(findings).utf8)) as? [[String: Any]]
        #expect(decoded?.count == 2)
        #expect(decoded?[0]["code"] as? String == "doctor.x")
        #expect(decoded?[0]["message"] as? String == "a \"quoted\" message")
        #expect(decoded?[1]["profile"] is NSNull)
        #expect(Set(decoded?[0].keys.map { $0 } ?? []) == ["severity", "profile", "code", "message", "fix"])
    }
}

@Suite("Doctor: IAM Identity Center profiles")
struct DoctorIdentityCenterTests {
    private static let conflicting = """
        [profile p]
        sso_session = corp
        sso_account_id = 111122223333
        sso_role_name = Dev
        aws_secret_access_key = profile-secret-value
        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1
        aws_secret_access_key = session-secret-value
        """

    @Test("a key the profile and its sso-session set differently is reported, without either value")
    func conflict() throws {
        let files = try loadFiles(config: Self.conflicting)
        let findings = Doctor.configFindings(files: files, environment: [:], policy: policy)
        let finding = try #require(findings.first { $0.code == "doctor.sso-session-conflict" })
        #expect(finding.severity == .error && finding.profile == "p")
        #expect(finding.message.contains("aws_secret_access_key"))
        #expect(!finding.message.contains("secret-value") && !finding.fix.contains("secret-value"))
    }

    @Test("a delegation target that is an Identity Center profile is checked too; a sound one is clean")
    func delegationTarget() throws {
        let delegating = """
            [profile dev]
            credential_process = stscache credential-process --profile p

            """
        let programs = try programDirectory()
        let broken = try loadFiles(config: delegating + Self.conflicting)
        #expect(Doctor.configFindings(files: broken, environment: ["PATH": programs.path], policy: policy, only: "dev")
            .map(\.code) == ["doctor.sso-session-conflict"])
        let sound = try loadFiles(config: delegating + Self.conflicting.replacingOccurrences(
            of: "aws_secret_access_key = session-secret-value", with: "aws_secret_access_key = profile-secret-value"))
        #expect(Doctor.configFindings(files: sound, environment: ["PATH": programs.path], policy: policy, only: "dev") == [])
    }
}

/// Every message that can quote a setting, driven with a secret in every secret key of every
/// section: resolution's errors (a role, an Identity Center profile) and doctor's findings.
@Suite("No message shows a secret")
struct MessagesShowNoSecretTests {
    private static let broken: [String] = [
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\ncredential_source = Nowhere\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nduration_seconds = 12x\n[profile b]\naws_access_key_id = AKIDB\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nmfa_serial = arn:aws:iam::1:mfa/x\nmfa_session_duration = soon\n[profile b]\naws_access_key_id = AKIDB\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nservices = missing\n[profile b]\naws_access_key_id = AKIDB\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nsts_regional_endpoints = sometimes\n[profile b]\naws_access_key_id = AKIDB\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = r\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\ncredential_source = Environment\n[profile b]\naws_access_key_id = AKIDB\n",
        "[profile s]\nsso_session = corp\nsso_account_id = 12345\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://x.example/start\nsso_region = eu-west-1\n",
        "[profile s]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://x.example/start\nsso_region = eu-west-1\n",
        "[profile s]\nsso_session = other\nsso_account_id = 111122223333\nsso_role_name = Dev\n",
        "[profile s]\nsso_account_id = 111122223333\n",
        // Typos answered with "did you mean": a source, a services section, an sso-session, a
        // delegation's target, each next to a section full of secrets.
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = bsae\n[profile base]\naws_access_key_id = AKIDB\n",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/A\ncredential_source = Ec2InstanceMetadata\nservices = loaclstack\n"
            + "[services localstack]\nsts =\n  endpoint_url = http://127.0.0.1:1\n",
        "[profile s]\nsso_session = crop\nsso_account_id = 111122223333\nsso_role_name = Dev\n[sso-session corp]\n"
            + "sso_start_url = https://x.example/start\nsso_region = eu-west-1\n",
        "[profile d]\ncredential_process = stscache credential-process --profile prod-rloe\n[profile prod-role]\n"
            + "role_arn = arn:aws:iam::1:role/A\ncredential_source = Ec2InstanceMetadata\n",
    ]
    private static let secretKeys = ["aws_secret_access_key", "aws_session_token", "aws_security_token"]

    /// `config` with a distinct secret under each secret key in each section.
    private static func withSecrets(_ config: String) -> String {
        var number = 0
        return config.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("[") else { return String(line) }
            return ([String(line)] + secretKeys.map { key in
                number += 1
                return "\(key) = SECRETMARK\(number)"
            }).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    @Test("resolution errors and doctor's findings name secret keys, never their values", arguments: broken)
    func noSecret(config: String) throws {
        let files = try loadFiles(config: Self.withSecrets(config))
        let resolver = ProfileResolver(files: files, environment: [:], policy: policy)
        var messages: [String] = []
        for name in files.profileNames {
            do { _ = try resolver.resolve(profile: name) } catch { messages.append(error.message) }
            if let profile = files.profile(named: name) {
                do { _ = try resolver.identityCenterSettings(of: profile) } catch { messages.append(error.message) }
            }
        }
        for finding in Doctor.configFindings(files: files, environment: [:], policy: policy) {
            messages += [finding.message, finding.fix]
        }
        #expect(!messages.isEmpty, "the broken config raised nothing: \(config)")
        for message in messages {
            #expect(!message.contains("SECRETMARK"), "\(message)")
        }
    }
}

@Suite("IAM Identity Center: doctor")
struct IdentityCenterDoctorTests {
    static let config = [IdentityCenterConfig.corpSession, IdentityCenterConfig.devProfile,
                         IdentityCenterConfig.legacyProfile].joined(separator: "\n")

    @Test("a delegating profile whose target is an Identity Center profile is healthy; an sso_session alone is not a target")
    func ssoTarget() throws {
        let programs = try programDirectory()
        let policy = ResolutionPolicy.stscache(userName: { "alice" })
        func codes(_ target: String) throws -> [String] {
            let files = try loadFiles(config: Self.config
                + "\n[profile d]\ncredential_process = stscache credential-process --profile \(target)\n")
            return Doctor.configFindings(files: files, environment: ["PATH": programs.path], policy: policy, only: "d").map(\.code)
        }
        #expect(try codes("dev") == [])
        #expect(try codes("old") == ["doctor.target-not-a-role"])  // control: no account or role
    }
}
