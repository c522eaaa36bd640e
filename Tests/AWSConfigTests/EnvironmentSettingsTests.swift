import Testing

@testable import AWSConfig
import TestSupport

/// The AWS settings stscache reads from the environment or the profile in more than one place
/// (role sessions, Identity Center, `stscache keys`, `login`): one reader each, one meaning.
@Suite("AWS settings: one reader each")
struct EnvironmentSettingsTests {
    static func profile(_ body: String) throws -> Profile {
        try #require(try loadFiles(config: "[profile p]\n" + body).profile(named: "p"))
    }

    @Test("sts_regional_endpoints: the profile, else the variable; regional or legacy, anything else refused")
    func stsRegionalEndpoints() throws {
        let legacy = try Self.profile("sts_regional_endpoints = legacy\n")
        let plain = try Self.profile("region = eu-west-1\n")
        let variable = ["AWS_STS_REGIONAL_ENDPOINTS": "regional"]
        #expect(try ProfileResolver.stsRegionalEndpoints(of: legacy, environment: variable) == "legacy")
        #expect(try ProfileResolver.stsRegionalEndpoints(of: plain, environment: variable) == "regional")
        #expect(try ProfileResolver.stsRegionalEndpoints(of: nil, environment: variable) == "regional")
        #expect(try ProfileResolver.stsRegionalEndpoints(of: plain, environment: ["AWS_STS_REGIONAL_ENDPOINTS": ""]) == nil)
        #expect(throws: ConfigError.self) {
            try ProfileResolver.stsRegionalEndpoints(of: nil, environment: ["AWS_STS_REGIONAL_ENDPOINTS": "Regional"])
        }
        #expect(throws: ConfigError.self) {
            try ProfileResolver.stsRegionalEndpoints(of: try Self.profile("sts_regional_endpoints = global\n"), environment: [:])
        }
    }

    @Test("region: the profile's, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1")
    func region() throws {
        let profile = try Self.profile("region = eu-west-1\n")
        let both = ["AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ca-central-1"]
        #expect(ProfileResolver.region(of: profile, environment: both) == "eu-west-1")
        #expect(ProfileResolver.region(of: nil, environment: both) == "ap-south-1")
        #expect(ProfileResolver.region(of: nil, environment: ["AWS_REGION": "", "AWS_DEFAULT_REGION": "ca-central-1"])
            == "ca-central-1")
        #expect(ProfileResolver.region(of: nil, environment: [:]) == "us-east-1")
    }
}
