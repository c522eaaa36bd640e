import Foundation
import Testing

import AWSConfig
@testable import Credentials
import TestSupport

/// The commented layouts in config-examples/ are documentation: each must resolve as it says.
@Suite("config-examples/")
struct ConfigExamplesTests {
    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config-examples")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? [])
            .filter { $0.hasSuffix(".ini") }.sorted()
    }

    /// Keys for the `[base]` the examples keep in ~/.aws/credentials, and what the
    /// environment-based examples read.
    static let credentials = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
    static let environment = [
        "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks/token", "AWS_ROLE_ARN": "arn:aws:iam::111111111111:role/Pod",
    ]

    @Test("there are examples to check")
    func present() {
        #expect(Self.files.count >= 8, "\(Self.files)")
    }

    @Test("every profile that delegates to stscache, and every role profile, resolves", arguments: files)
    func resolves(_ file: String) throws {
        let directory = try TempAWSDirectory()
        let config = try String(contentsOf: Self.examples.appendingPathComponent(file), encoding: .utf8)
        try directory.write(config: config, credentials: Self.credentials)
        let files = try directory.load()
        let resolver = ProfileResolver(files: files, environment: Self.environment, userName: "alice")
        var resolved = 0
        for name in files.profileNames {
            if let target = files.delegatedProfile(forProfile: name) {
                _ = try resolver.resolve(profile: target)
                resolved += 1
            } else if files.profile(named: name)?.string("role_arn") != nil || name == "pod" {
                _ = try resolver.resolve(profile: name)
                resolved += 1
            }
        }
        #expect(resolved > 0)
    }

    @Test("the MFA example asks once for its two roles: one MFA session, no code on AssumeRole")
    func mfaExample() throws {
        let directory = try TempAWSDirectory()
        try directory.write(
            config: try String(contentsOf: Self.examples.appendingPathComponent("mfa.ini"), encoding: .utf8),
            credentials: Self.credentials)
        let resolver = ProfileResolver(files: try directory.load(), environment: [:], userName: "alice")
        let dev = try resolver.resolve(profile: "dev-role")
        let ops = try resolver.resolve(profile: "ops-role")
        #expect(dev.mfaSession == ops.mfaSession)
        #expect(dev.mfaSession?.durationSeconds == 8 * 3600)
        #expect(dev.assumeRoleMFASerial == nil && ops.assumeRoleMFASerial == nil)
    }
}
