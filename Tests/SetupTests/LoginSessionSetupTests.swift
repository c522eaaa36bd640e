import Foundation
import Testing

import AWSConfig
import StscacheSupport
@testable import Credentials
import TestSupport
@testable import Setup

private let program = "/usr/bin/stscache"

private func files(_ config: String) throws -> ConfigFiles {
    let directory = try TempAWSDirectory()
    try directory.writeConfig(bytes: Array(config.utf8))
    try directory.write(credentials: nil)
    return try directory.load()
}

private func setUp(_ config: String, _ profiles: [String]) throws -> String {
    let plan = try DelegationSetup.plan(configBytes: Array(config.utf8), files: try files(config), profiles: profiles,
                                        programPath: program)
    return String(decoding: plan.bytes, as: UTF8.self)
}

private let config = """
    [profile console]
    login_session = arn:aws:iam::123456789012:user/alice
    region = eu-west-1

    [profile admin]
    role_arn = arn:aws:iam::123456789012:role/Admin
    source_profile = console

    [profile both]
    role_arn = arn:aws:iam::123456789012:role/Admin
    source_profile = console
    login_session = arn:aws:iam::123456789012:user/alice

    """

@Suite("Setup: aws login (login_session) profiles")
struct LoginSessionSetupTests {
    @Test("a login profile is refused with what it is and what to do instead; nothing is planned")
    func loginProfileRefused() throws {
        for profiles in [["console"], ["admin", "console"]] {
            do {
                _ = try setUp(config, profiles)
                Issue.record("setup planned a pair for a login profile")
            } catch let error as SetupError {
                #expect(error.code == .notARole)
                #expect(error.message.contains("aws login profile (login_session)")
                    && error.message.contains("needs no delegating pair")
                    && error.message.contains("source_profile is \"console\""), "\(error.message)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test("a role sourced from a login profile is set up, and the login profile is left as it was")
    func roleFromLogin() throws {
        let after = try setUp(config, ["admin"])
        #expect(after.hasPrefix("""
            [profile console]
            login_session = arn:aws:iam::123456789012:user/alice
            region = eu-west-1

            [profile admin]
            credential_process = /usr/bin/stscache credential-process --profile admin-role

            [profile admin-role]
            role_arn = arn:aws:iam::123456789012:role/Admin
            source_profile = console

            """), "\(after)")
    }

    @Test("login_session beside role_arn moves with the role: left in the profile, botocore's login provider would take it")
    func loginSessionMovesWithRole() throws {
        let after = try setUp(config, ["both"])
        #expect(after.hasSuffix("""
            [profile both]
            credential_process = /usr/bin/stscache credential-process --profile both-role

            [profile both-role]
            role_arn = arn:aws:iam::123456789012:role/Admin
            source_profile = console
            login_session = arn:aws:iam::123456789012:user/alice

            """), "\(after)")
        // And undo puts it back.
        let edited = try files(after)
        let undone = try DelegationUndo.plan(configBytes: Array(after.utf8), files: edited, profiles: ["both"])
        #expect(String(decoding: undone.bytes, as: UTF8.self) == config)
    }
}
