#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import SigV4
import STS
import Transport
import StscacheSupport

/// The two Identity Center APIs stscache calls, unsigned, over the context's transport:
/// the portal's `GetRoleCredentials` (botocore `data/sso/2019-06-10`) and OIDC's `CreateToken`
/// with a refresh token (`data/sso-oidc/2019-06-10`).
package struct IdentityCenterService {
    package var transport: any HTTPTransport
    package var environment: [String: String]
    package var settings: NetworkSettings
    package var clock: @Sendable () -> Date
    package var sleep: @Sendable (Double) -> Void
    /// A uniform random number in [0, 1) for backoff jitter.
    package var jitter: @Sendable () -> Double

    package init(transport: any HTTPTransport, environment: [String: String], settings: NetworkSettings,
                 clock: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (Double) -> Void,
                 jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.transport = transport
        self.environment = environment
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
    }

    /// `https://portal.sso.<region>.amazonaws.com`, or the configured endpoint of service `sso`.
    package static func portalBase(_ settings: IdentityCenterSettings) throws(IdentityCenterError) -> String {
        try base(settings.portalEndpoint, service: .sso, host: "portal.sso", settings)
    }

    /// `https://oidc.<region>.amazonaws.com`, or the configured endpoint of service `sso_oidc`.
    package static func oidcBase(_ settings: IdentityCenterSettings) throws(IdentityCenterError) -> String {
        try base(settings.oidcEndpoint, service: .ssoOIDC, host: "oidc", settings)
    }

    private static func domain(_ region: String) -> String { region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com" }

    /// `sso_region` becomes part of a host name that receives the token: a region name only
    /// (`eu-west-1`), never something that could move the host (`x@evil.example/`).
    private static func checkedRegion(_ settings: IdentityCenterSettings) throws(IdentityCenterError) -> String {
        guard STSEndpoint.isValidRegionName(settings.region) else {
            throw IdentityCenterError(.insecureEndpoint, "sso_region \"\(TerminalText.escaped(settings.region))\" of "
                + "\(describe(settings)) is not a region name (like eu-west-1); fix it in the config file.")
        }
        return settings.region
    }

    /// A configured endpoint must be https, or http to this machine (the STS endpoint's rule
    /// without its opt-in: the bearer token and refresh token cross this connection).
    private static func base(_ configured: String?, service: AWSServiceID, host: String, _ settings: IdentityCenterSettings)
        throws(IdentityCenterError) -> String
    {
        guard var url = configured else {
            let region = try checkedRegion(settings)
            return "https://\(host).\(region).\(domain(region))"
        }
        let lower = url.lowercased()
        let isHTTPS = lower.hasPrefix("https://")
        let host = ContainerCredentialsSource.host(of: url)
        let isLoopbackHTTP = lower.hasPrefix("http://") && host.map { $0.lowercased() == "localhost" || ContainerCredentialsSource.isLoopback($0) } == true
        guard (isHTTPS && host != nil) || isLoopbackHTTP, !url.contains("?"), !url.contains("#"),
              !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw IdentityCenterError(
                .insecureEndpoint,
                "the \(service) endpoint \(ContainerCredentialsSource.redactQuery(url)) of \(describe(settings)) is not an "
                    + "https URL (plain http is allowed only to 127.0.0.1, ::1 or localhost): the Identity Center token "
                    + "travels on it; fix or unset it (\(service.variable), AWS_ENDPOINT_URL, or endpoint_url in the "
                    + "profile or its services section).")
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The role credentials for `settings`' account and role, checked like every arriving
    /// credential. 401 → log in again; 403/404 → no access to that account or role.
    package func roleCredentials(_ settings: IdentityCenterSettings, accessToken: String) throws -> AWSCredentials {
        let base = try Self.portalBase(settings)
        let url = base + "/federation/credentials?account_id=" + FormURLEncoding.percentEncode(settings.accountId)
            + "&role_name=" + FormURLEncoding.percentEncode(settings.roleName)
        let request = HTTPRequest(method: "GET", url: url, headers: [
            (name: "Accept", value: "application/json"), (name: "x-amz-sso_bearer_token", value: accessToken),
        ])
        let response = try send(request, what: "the Identity Center portal at \(base)", caBundle: settings.caBundle)
        let who = "account \(settings.accountId), role \(settings.roleName)"
        switch response.status {
        case 200: break
        case 401:
            throw IdentityCenterError(
                .loginExpired,
                "the Identity Center portal refused the login of \(Self.describe(settings)) (\(Self.errorType(response) ?? "HTTP 401")): "
                    + "it has expired or was revoked; run: \(settings.loginCommand)")
        case 403, 404:
            throw IdentityCenterError(
                .noAccess,
                "IAM Identity Center gives the signed-in user no access to \(who) (\(Self.errorType(response) ?? "HTTP \(response.status)")) "
                    + "for profile \"\(settings.profile)\"; check sso_account_id and sso_role_name, or ask for the "
                    + "permission set to be assigned.")
        default:
            throw IdentityCenterError(
                .unavailable,
                "the Identity Center portal at \(base) answered HTTP \(response.status)"
                    + (Self.errorType(response).map { " (\($0))" } ?? "") + " for \(who); try again later.")
        }
        // One Decodable wrapper; the members are read as JSONObjectFields (already linked in).
        struct Answer: Decodable { var roleCredentials: JSONObjectFields }
        guard let issued = (try? JSONDecoder().decode(Answer.self, from: Data(response.body)))?.roleCredentials,
              let accessKeyId = issued.string("accessKeyId"), let secretAccessKey = issued.string("secretAccessKey"),
              let sessionToken = issued.string("sessionToken"), let expiration = issued.integer("expiration")
        else {
            throw IdentityCenterError(
                .badResponse,
                "the Identity Center portal at \(base) answered GetRoleCredentials for \(who) without roleCredentials "
                    + "(accessKeyId, secretAccessKey, sessionToken, expiration in milliseconds); nothing was cached. Check "
                    + "AWS_ENDPOINT_URL_SSO.")
        }
        let credentials = AWSCredentials(
            accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, sessionToken: sessionToken,
            expiration: Date(timeIntervalSince1970: Double(expiration) / 1000))
        return try credentials.checkedArrival(from: .identityCenter(portal: base))
    }

    /// What OIDC's CreateToken answered (a refresh or a login).
    package struct RefreshedToken {
        package var accessToken: String
        package var expiresIn: Int
        package var refreshToken: String?

        /// The answer checked: a header-safe `accessToken` (and `refreshToken`, when sent) and
        /// `expiresIn` of at most 7 days; nil for anything else.
        package init?(answer body: [UInt8]) {
            guard let answer = JSONObjectFields.parse(body), let accessToken = answer.string("accessToken"),
                  IdentityCenterToken.isHeaderSafe(accessToken), let expiresIn = answer.integer("expiresIn"),
                  (1...7 * 86_400).contains(expiresIn),
                  answer.string("refreshToken").map(IdentityCenterToken.isHeaderSafe) ?? true
            else { return nil }
            self.accessToken = accessToken
            self.expiresIn = expiresIn
            refreshToken = answer.string("refreshToken")
        }
    }

    /// OIDC `CreateToken` with `grantType` `refresh_token`.
    package func refresh(_ settings: IdentityCenterSettings, token: IdentityCenterToken) throws -> RefreshedToken {
        let base = try Self.oidcBase(settings)
        let body = IdentityCenterToken.encode([
            "grantType": .string("refresh_token"), "clientId": .string(token.clientId ?? ""),
            "clientSecret": .string(token.clientSecret ?? ""), "refreshToken": .string(token.refreshToken ?? ""),
        ])
        let request = HTTPRequest(
            method: "POST", url: base + "/token",
            headers: [(name: "Content-Type", value: "application/json"), (name: "Accept", value: "application/json")],
            body: body)
        let response = try send(request, what: "Identity Center OIDC at \(base)", caBundle: settings.caBundle)
        guard response.status == 200 else {
            let type = Self.errorType(response)
            let refused = ["InvalidGrantException", "UnauthorizedClientException", "ExpiredTokenException",
                           "AccessDeniedException", "InvalidClientException", "invalid_grant", "unauthorized_client",
                           "expired_token", "access_denied", "invalid_client"]
            if let type, refused.contains(type) {
                throw IdentityCenterError(
                    .loginExpired,
                    "IAM Identity Center would not refresh the login of \(Self.describe(settings)) (\(type)): the session "
                        + "has ended; run: \(settings.loginCommand)")
            }
            throw IdentityCenterError(
                .unavailable,
                "Identity Center OIDC at \(base) answered CreateToken with HTTP \(response.status)"
                    + (type.map { " (\($0))" } ?? "") + ".")
        }
        guard let refreshed = RefreshedToken(answer: response.body) else {
            throw IdentityCenterError(
                .badResponse,
                "Identity Center OIDC at \(base) answered CreateToken with something that is not a token (accessToken "
                    + "of printable ASCII, expiresIn up to 7 days); the token file was left as it was. Check "
                    + "AWS_ENDPOINT_URL_SSO_OIDC.")
        }
        return refreshed
    }

    /// One request under the one retry policy (`NetworkSettings.retryPolicy`: jitter, attempts,
    /// the deadline): a transient network failure, 429 or 5xx is retried; the profile's CA bundle.
    private func send(_ request: HTTPRequest, what: String, caBundle: String?) throws -> HTTPResponse {
        var options = settings.httpOptions(for: request.url, caBundle: caBundle)
        options.maxResponseBytes = 64 * 1024
        return try Self.send(request, what: what, options: options, transport: transport, policy: settings.retryPolicy,
                             clock: clock, sleep: sleep, jitter: jitter)
    }

    /// A request to an Identity Center endpoint under `policy` (the login's calls share it).
    package static func send(_ request: HTTPRequest, what: String, options: HTTPOptions, transport: any HTTPTransport,
                             policy: RetryPolicy, clock: () -> Date, sleep: (Double) -> Void, jitter: () -> Double)
        throws -> HTTPResponse
    {
        try policy.run(http: options, clock: clock, sleep: sleep, jitter: jitter) {
            (options: HTTPOptions) throws -> RetryPolicy.Outcome<HTTPResponse, IdentityCenterError> in
            do {
                let response = try transport.send(request, options: options)
                guard response.status == 429 || response.status >= 500 else { return .success(response) }
                return .retryable(IdentityCenterError(
                    .unavailable, "\(what) answered HTTP \(response.status)"
                        + (errorType(response).map { " (\($0))" } ?? "") + "; try again later."))
            } catch let error as TransportError {
                let failure = IdentityCenterError(
                    .unavailable, "could not reach \(what): \(error.message); check the network and try again.")
                return error.isTransient ? .retryable(failure) : .final(failure)
            }
        }
    }

    /// The error type of a restJson answer: the `x-amzn-ErrorType` header (before any `:`), else
    /// the body's `__type`, `code` or OAuth `error`. Only a short, plain name is repeated.
    package static func errorType(_ response: HTTPResponse) -> String? {
        var candidate = response.header("x-amzn-ErrorType").map { String($0.prefix(while: { $0 != ":" })) }
        if candidate == nil, let object = JSONObjectFields.parse(response.body) {
            candidate = object.string("__type") ?? object.string("code") ?? object.string("error")
        }
        guard var type = candidate else { return nil }
        if let hash = type.lastIndex(of: "#") { type = String(type[type.index(after: hash)...]) }
        guard !type.isEmpty, type.utf8.count <= 64,
              type.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F })
        else { return nil }
        return type
    }

    /// "sso-session \"S\"", or "profile \"P\"" for a legacy profile.
    package static func describe(_ settings: IdentityCenterSettings) -> String {
        settings.sessionName.map { "sso-session \"\($0)\"" } ?? "profile \"\(settings.profile)\""
    }
}

