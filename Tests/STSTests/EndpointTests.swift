@testable import STS
import Testing

@Suite("STS endpoint resolution")
struct EndpointTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var region: String
        var endpointURL: String?
        var setting: String?
        var url: String
        var signingRegion: String
        var testDescription: String { "\(region) endpoint_url=\(endpointURL ?? "-") sts_regional_endpoints=\(setting ?? "-")" }
    }

    @Test("picks the endpoint and signing region", arguments: [
        Case(region: "eu-west-1", url: "https://sts.eu-west-1.amazonaws.com/", signingRegion: "eu-west-1"),
        Case(region: "eu-west-1", setting: "regional", url: "https://sts.eu-west-1.amazonaws.com/", signingRegion: "eu-west-1"),
        Case(region: "us-east-1", url: "https://sts.us-east-1.amazonaws.com/", signingRegion: "us-east-1"),
        Case(region: "us-gov-west-1", url: "https://sts.us-gov-west-1.amazonaws.com/", signingRegion: "us-gov-west-1"),
        // legacy: botocore's 16 global regions go to sts.amazonaws.com, signed for us-east-1 ...
        Case(region: "eu-west-1", setting: "legacy", url: "https://sts.amazonaws.com/", signingRegion: "us-east-1"),
        Case(region: "us-east-1", setting: "legacy", url: "https://sts.amazonaws.com/", signingRegion: "us-east-1"),
        Case(region: "ap-southeast-2", setting: "Legacy", url: "https://sts.amazonaws.com/", signingRegion: "us-east-1"),
        // ... regions launched later were always regional.
        Case(region: "af-south-1", setting: "legacy", url: "https://sts.af-south-1.amazonaws.com/", signingRegion: "af-south-1"),
        Case(region: "ap-east-1", setting: "legacy", url: "https://sts.ap-east-1.amazonaws.com/", signingRegion: "ap-east-1"),
        Case(region: "cn-north-1", url: "https://sts.cn-north-1.amazonaws.com.cn/", signingRegion: "cn-north-1"),
        Case(region: "cn-northwest-1", setting: "legacy", url: "https://sts.cn-northwest-1.amazonaws.com.cn/", signingRegion: "cn-northwest-1"),
        Case(region: "aws-global", url: "https://sts.amazonaws.com/", signingRegion: "us-east-1"),
        // An explicit endpoint wins over everything, signed for the configured region.
        Case(region: "eu-west-1", endpointURL: "https://sts.example.test", setting: "legacy",
             url: "https://sts.example.test/", signingRegion: "eu-west-1"),
        Case(region: "eu-west-1", endpointURL: "http://localhost:4566", url: "http://localhost:4566/", signingRegion: "eu-west-1"),
        Case(region: "eu-west-1", endpointURL: "https://vpce-1.sts.eu-west-1.vpce.amazonaws.com/path",
             url: "https://vpce-1.sts.eu-west-1.vpce.amazonaws.com/path", signingRegion: "eu-west-1"),
        Case(region: "eu-west-1", endpointURL: "https://h.test?x=1", url: "https://h.test/?x=1", signingRegion: "eu-west-1"),
    ])
    func resolves(_ c: Case) throws {
        let endpoint = try STSEndpoint.resolve(region: c.region, endpointURL: c.endpointURL, stsRegionalEndpoints: c.setting)
        #expect(endpoint == STSEndpoint(url: c.url, signingRegion: c.signingRegion))
    }

    @Test("holds botocore's legacy global region list")
    func legacyList() {
        #expect(STSEndpoint.legacyGlobalRegions.count == 16)
        #expect(STSEndpoint.legacyGlobalRegions.contains("eu-north-1"))
        #expect(!STSEndpoint.legacyGlobalRegions.contains("eu-south-1"))
    }

    @Test("refuses region names that are not host labels", arguments: ["", "eu-west-1/evil", "-eu", "eu-", "eu west", "eu.west", "a@b"])
    func invalidRegion(region: String) {
        let error = #expect(throws: STSError.self) {
            try STSEndpoint.resolve(region: region, endpointURL: nil, stsRegionalEndpoints: nil)
        }
        #expect(error?.code == "sts.invalid-region")
        #expect(error?.message.contains("AWS_REGION") == true)
    }

    @Test("refuses an unknown sts_regional_endpoints value")
    func invalidSetting() {
        let error = #expect(throws: STSError.self) {
            try STSEndpoint.resolve(region: "eu-west-1", endpointURL: nil, stsRegionalEndpoints: "sometimes")
        }
        #expect(error?.code == "sts.invalid-regional-endpoints")
        #expect(error?.message == "sts_regional_endpoints = 'sometimes' is not valid: use 'regional' or 'legacy'.")
    }

    @Test("refuses unusable explicit endpoints", arguments: [
        ("ftp://sts.example.test", "must start with https://"),
        ("sts.example.test", "must start with https://"),
        ("https://", "has no host"),
        ("https://:443/", "has no host"),
        ("https://sts.example.test/a b", "spaces or control characters"),
        ("https://sts.example.test/#x", "fragment"),
    ])
    func invalidEndpoint(url: String, reason: String) {
        let error = #expect(throws: STSError.self) {
            try STSEndpoint.resolve(region: "eu-west-1", endpointURL: url, stsRegionalEndpoints: nil)
        }
        #expect(error?.code == "sts.invalid-endpoint")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "")")
    }

    @Test("never echoes a password embedded in an endpoint URL")
    func endpointWithUserInfo() {
        let error = #expect(throws: STSError.self) {
            try STSEndpoint.resolve(region: "eu-west-1", endpointURL: "https://bob:hunter2@sts.example.test/", stsRegionalEndpoints: nil)
        }
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.contains("https://sts.example.test/") == true)
    }
}

@Suite("STS endpoint transport security")
struct EndpointTransportSecurityTests {
    func check(_ url: String, environment: [String: String] = [:]) throws {
        try STSEndpoint.resolve(region: "eu-west-1", endpointURL: url, stsRegionalEndpoints: nil)
            .requireTransportSecurity(environment: environment)
    }

    @Test("https anywhere and plain http on this machine are used as they are", arguments: [
        "https://sts.example.test", "https://10.0.0.5:8443/", "http://127.0.0.1:5000", "http://127.8.9.10/",
        "http://localhost:4566", "HTTP://LOCALHOST/", "http://[::1]:9000/",
    ])
    func allowed(url: String) throws {
        try check(url)
    }

    @Test("plain http to another host is refused before anything is sent, naming the opt-in", arguments: [
        "http://sts.example.test", "http://10.0.0.5:5000/", "http://128.0.0.1/", "http://127.0.0.1.evil.test/",
        "http://localhost.evil.test/", "http://[::2]/", "http://0177.0.0.1/", "http://127.1/", "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
    ])
    func refused(url: String) {
        let error = #expect(throws: STSError.self) { try check(url) }
        #expect(error?.code == "sts.insecure-endpoint")
        #expect(error?.message.contains("STSCACHE_ALLOW_INSECURE_HTTP=1") == true, "\(error?.message ?? "")")
    }

    @Test("STSCACHE_ALLOW_INSECURE_HTTP=1 (or true) lets plain http through; other values do not")
    func optIn() throws {
        try check("http://sts.example.test", environment: ["STSCACHE_ALLOW_INSECURE_HTTP": "1"])
        try check("http://sts.example.test", environment: ["STSCACHE_ALLOW_INSECURE_HTTP": "TRUE"])
        #expect(throws: STSError.self) {
            try check("http://sts.example.test", environment: ["STSCACHE_ALLOW_INSECURE_HTTP": "0"])
        }
        #expect(throws: STSError.self) {
            try check("http://sts.example.test", environment: ["STSCACHE_ALLOW_INSECURE_HTTP": "yes please"])
        }
    }

    @Test("the refusal never echoes a password in the URL")
    func redacted() {
        let error = #expect(throws: STSError.self) { try check("http://bob:hunter2@sts.example.test/") }
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test("partitions from region prefixes", arguments: [
        ("us-east-1", "aws"), ("eu-west-3", "aws"), ("aws-global", "aws"), ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"), ("us-isob-east-1", "aws-iso-b"),
    ])
    func partitions(region: String, partition: String) {
        #expect(STSEndpoint.partition(ofRegion: region) == partition)
    }
}
