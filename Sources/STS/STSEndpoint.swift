import StscacheSupport
/// Where an STS request goes and which region signs it.
public struct STSEndpoint: Sendable, Equatable {
    /// Absolute URL with a path (`https://sts.eu-west-1.amazonaws.com/`).
    public var url: String
    /// The SigV4 credential-scope region.
    public var signingRegion: String

    public init(url: String, signingRegion: String) {
        self.url = url
        self.signingRegion = signingRegion
    }

    /// The opt-in for plain http to a host other than this machine (`1` or `true`).
    public static let allowInsecureHTTPVariable = "STSCACHE_ALLOW_INSECURE_HTTP"

    /// Refuses plain http unless it goes to this machine (`localhost`, `127.0.0.0/8`, `[::1]`)
    /// or the user opted in: credentials cross the connection in both directions, and an
    /// unauthenticated peer could hand back credentials (and text) of its choosing. Decided
    /// from the URL alone, before any name is resolved or any byte sent.
    public func requireTransportSecurity(environment: [String: String]) throws(STSError) {
        guard Self.isPlainHTTPToAnotherHost(url) else { return }
        let optIn = (environment[Self.allowInsecureHTTPVariable] ?? "").lowercased()
        if optIn == "1" || optIn == "true" { return }
        throw STSError(.insecureEndpoint(redactUserInfo(url)))
    }

    /// `http://` to anything but a loopback host literal or `localhost`.
    package static func isPlainHTTPToAnotherHost(_ url: String) -> Bool {
        guard url.lowercased().hasPrefix("http://") else { return false }
        let authority = url.dropFirst(7).prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        let hostAndPort = authority.split(separator: "@").last.map(String.init) ?? ""
        let host: Substring
        if hostAndPort.hasPrefix("[") {
            host = hostAndPort.prefix(while: { $0 != "]" }).dropFirst()
        } else {
            host = hostAndPort.prefix(while: { $0 != ":" })
        }
        return !isLoopbackHost(host.lowercased())
    }

    /// `localhost`, `::1`, or a dotted-quad in 127.0.0.0/8 (each part 0-255, plain decimal).
    static func isLoopbackHost(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ part in
            (1...3).contains(part.count) && part.allSatisfy({ $0.isASCII && $0.isNumber })
                && (part.count == 1 || part.first != "0") && Int(part)! <= 255
        }) else { return false }
        return parts[0] == "127"
    }

    /// Regions that `sts_regional_endpoints = legacy` sends to the global endpoint
    /// (botocore's `LEGACY_GLOBAL_STS_REGIONS`); every other region has always been regional.
    public static let legacyGlobalRegions: Set<String> = [
        "ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global",
        "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
        "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    ]

    public static let globalURL = "https://sts.amazonaws.com/"

    /// The endpoint for one call, the way botocore picks it:
    /// 1. an explicit endpoint (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's
    ///    `services` sts `endpoint_url`, the profile's `endpoint_url` — chosen by the config
    ///    layer's `ConfiguredEndpoints`) wins, signed for `region`;
    /// 2. `sts_regional_endpoints = legacy` and a legacy global region: `https://sts.amazonaws.com`;
    /// 3. otherwise regional: `https://sts.<region>.amazonaws.com` (`.amazonaws.com.cn` for `cn-`).
    /// The pseudo-region `aws-global` always means the global endpoint, signed for us-east-1.
    public static func resolve(region: String, endpointURL: String?, stsRegionalEndpoints: String?) throws -> STSEndpoint {
        guard isValidRegionName(region) else { throw STSError(.invalidRegion(region)) }
        let signingRegion = region == "aws-global" ? "us-east-1" : region

        if let endpointURL {
            return STSEndpoint(url: try normalizeExplicit(endpointURL), signingRegion: signingRegion)
        }

        let mode = stsRegionalEndpoints.map { $0.trimmingWhitespace().lowercased() }
        switch mode {
        case nil, "regional": break
        case "legacy":
            if legacyGlobalRegions.contains(region) {
                return STSEndpoint(url: globalURL, signingRegion: "us-east-1")
            }
        default:
            throw STSError(.invalidRegionalEndpointsSetting(stsRegionalEndpoints ?? ""))
        }
        if region == "aws-global" {
            return STSEndpoint(url: globalURL, signingRegion: "us-east-1")
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return STSEndpoint(url: "https://sts.\(region).\(suffix)/", signingRegion: signingRegion)
    }

    /// The AWS partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`,
    /// `aws-iso-b`, `aws-iso-e`, `aws-iso-f`, `aws-eusc`), from its prefix as botocore's
    /// partition table matches it.
    public static func partition(ofRegion region: String) -> String {
        let prefixes: [(String, String)] = [
            ("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"), ("us-iso-", "aws-iso"),
            ("eu-isoe-", "aws-iso-e"), ("us-isof-", "aws-iso-f"), ("eusc-", "aws-eusc"),
        ]
        for (prefix, partition) in prefixes where region.hasPrefix(prefix) { return partition }
        return "aws"
    }

    /// botocore's `validate_region_name`: a region becomes part of a host name, so nothing
    /// but letters, digits and inner hyphens.
    package static func isValidRegionName(_ region: String) -> Bool {
        let bytes = Array(region.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
        }
        guard alnum(bytes[0]), alnum(bytes[bytes.count - 1]) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// Checks an explicit endpoint and gives it a path (`http://localhost:4566` → `.../`).
    public static func normalizeExplicit(_ raw: String) throws -> String {
        let url = raw.trimmingWhitespace()
        func invalid(_ reason: String) -> STSError { STSError(.invalidEndpoint(redactUserInfo(url), reason: reason)) }
        let lower = url.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("https://") {
            schemeLength = 8
        } else if lower.hasPrefix("http://") {
            schemeLength = 7
        } else {
            throw invalid("it must start with https:// (or http:// for a local test endpoint)")
        }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw invalid("it contains spaces or control characters")
        }
        guard !url.contains("#") else { throw invalid("it contains a fragment (#)") }
        let rest = url.dropFirst(schemeLength)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" })
        guard !authority.isEmpty, !authority.hasPrefix(":") else { throw invalid("it has no host") }
        guard !authority.contains("@") else { throw invalid("it must not contain user information") }
        let path = rest.dropFirst(authority.count)
        if path.isEmpty { return url + "/" }
        if path.hasPrefix("?") { return String(url.prefix(schemeLength)) + authority + "/" + path }
        return url
    }
}

/// `https://user:pass@host/` → `https://host/`, so a URL can go into a message.
func redactUserInfo(_ url: String) -> String {
    let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2 else { return url }
    let rest = parts[1]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
    return parts[0] + "://" + rest[rest.index(after: at)...]
}
