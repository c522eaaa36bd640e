import Foundation
import Testing

@testable import AWSConfig
import TestSupport

/// botocore's configured-endpoint rules, one implementation (`ConfiguredEndpoints`), checked
/// against the table in Tests/e2e/configured_endpoints.json, which
/// Tests/e2e/test_configured_endpoints.py checks against botocore's own clients.
@Suite("Configured endpoints: botocore's rule table")
struct ConfiguredEndpointTests {
    struct Table: Decodable {
        struct Case: Decodable, CustomStringConvertible {
            var name: String
            var profile: String
            var service: String
            var env: [String: String]
            var expected: String?
            var description: String { name }
        }
        var config: String
        var cases: [Case]
    }

    static let table: Table = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("e2e/configured_endpoints.json")
        // swiftlint:disable:next force_try
        return try! JSONDecoder().decode(Table.self, from: Data(contentsOf: url))
    }()

    @Test("each row of the table", arguments: table.cases)
    func row(_ row: Table.Case) throws {
        let files = try loadFiles(config: Self.table.config)
        let profile = try #require(files.profile(named: row.profile))
        let resolve = {
            try ConfiguredEndpoints.endpoint(for: AWSServiceID(row.service), profile: profile, files: files,
                                             environment: row.env)?.url
        }
        if row.expected == "error" {
            let error = try #require(throws: ConfigError.self) { try resolve() }
            #expect(error.code == .unknownServicesSection)
            #expect(error.message.contains("[services "))
        } else {
            #expect(try resolve() == row.expected)
        }
    }

    @Test("the table covers every step and both ignore flags")
    func coverage() {
        let env = Set(Self.table.cases.flatMap(\.env.keys))
        #expect(env.isSuperset(of: ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]))
        #expect(Set(Self.table.cases.map(\.service)).isSuperset(of: ["sts", "iam", "sso", "sso_oidc", "signin"]))
        #expect(Self.table.cases.contains { $0.expected == "error" })
    }

    @Test("where an endpoint came from, for messages")
    func origin() throws {
        let files = try loadFiles(config: Self.table.config)
        let full = try #require(files.profile(named: "full"))
        let plain = try #require(files.profile(named: "plain"))
        func origin(_ profile: Profile, _ env: [String: String], _ service: AWSServiceID = .sts) throws -> String? {
            try ConfiguredEndpoints.endpoint(for: service, profile: profile, files: files, environment: env)?.source
        }
        #expect(try origin(full, ["AWS_ENDPOINT_URL_STS": "https://x.example"]) == "AWS_ENDPOINT_URL_STS")
        #expect(try origin(full, ["AWS_ENDPOINT_URL": "https://x.example"]) == "AWS_ENDPOINT_URL")
        #expect(try origin(full, [:])?.hasPrefix("endpoint_url in [services local] (") == true)
        #expect(try origin(plain, [:])?.hasPrefix("endpoint_url of profile \"plain\" (") == true)
        #expect(try ConfiguredEndpoints.endpoint(for: .sts, profile: nil, files: files, environment: [:]) == nil)
        #expect(try ConfiguredEndpoints.endpoint(for: .sts, profile: nil, files: files,
                                                 environment: ["AWS_ENDPOINT_URL": "https://g.example"])?.url
            == "https://g.example")
        #expect(AWSServiceID.ssoOIDC.variable == "AWS_ENDPOINT_URL_SSO_OIDC")
        #expect(AWSServiceID("signin").variable == "AWS_ENDPOINT_URL_SIGNIN")
    }

    @Test("what a child that no longer reads the profile needs to reach the same endpoints")
    func childVariables() throws {
        let files = try loadFiles(config: Self.table.config)
        func child(_ name: String, _ env: [String: String] = [:]) throws -> [String] {
            let profile = try #require(files.profile(named: name))
            return try ConfiguredEndpoints.childVariables(profile: profile, files: files, environment: env)
                .map { "\($0.name)=\($0.value)" }
        }
        #expect(try child("full") == [
            "AWS_ENDPOINT_URL=https://profile.example", "AWS_ENDPOINT_URL_S3=https://services-s3.example",
            "AWS_ENDPOINT_URL_SSO_OIDC=https://services-oidc.example", "AWS_ENDPOINT_URL_STS=https://services-sts.example",
        ])
        // A variable already set is inherited as it is; below AWS_ENDPOINT_URL no service URL wins.
        #expect(try child("full", ["AWS_ENDPOINT_URL_STS": "https://env-sts.example"]) == [
            "AWS_ENDPOINT_URL=https://profile.example", "AWS_ENDPOINT_URL_S3=https://services-s3.example",
            "AWS_ENDPOINT_URL_SSO_OIDC=https://services-oidc.example",
        ])
        #expect(try child("full", ["AWS_ENDPOINT_URL": "https://env-global.example"]) == [])
        #expect(try child("plain") == ["AWS_ENDPOINT_URL=https://profile.example"])
        #expect(try child("bare") == [])
        #expect(try child("ignoring") == ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true"])
        #expect(try child("ignoring", ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) == [])
        #expect(try child("plain", ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) == [])
        #expect(throws: ConfigError.self) { try child("missing") }
    }

    @Test("ignore_configured_endpoint_urls: the variable when set at all (empty is false), else the profile")
    func ignored() throws {
        let files = try loadFiles(config: Self.table.config)
        let ignoring = try #require(files.profile(named: "ignoring"))
        let plain = try #require(files.profile(named: "plain"))
        func ignores(_ variable: String?, _ profile: Profile?) -> Bool {
            ConfiguredEndpoints.ignored(
                environment: variable.map { ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": $0] } ?? [:], profile: profile)
        }
        #expect(ignores(nil, ignoring))
        #expect(!ignores("", ignoring))
        #expect(!ignores("false", ignoring))
        #expect(ignores("TRUE", plain))
        #expect(ignores("true", nil))
        #expect(!ignores(nil, plain))
        #expect(!ignores(nil, nil))
    }
}
