#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import SigV4
import STS
import Transport
import StscacheSupport

/// AWS Sign-In's `CreateOAuth2Token` (botocore `data/signin/2023-01-01`, rest-json,
/// `POST /v1/token`, unsigned), with a DPoP proof on every request: the refresh of an
/// `aws login` session (`grantType` `refresh_token`) and the end of a sign-in (`grantType`
/// `authorization_code`, with the PKCE verifier).
///
/// Retries run in the shared loop (`RetryPolicy.run`, as STS and Identity Center: attempts,
/// full-jitter backoff, one overall deadline, `STSCACHE_STS_TIMEOUT`): a connection failure, 429
/// or 5xx is retried, each attempt with a new proof. A refusal never is.
package struct SignInTokenClient {
    package var transport: any HTTPTransport
    /// `https://<region>.signin.aws.amazon.com` or the configured endpoint, no trailing slash.
    package var baseURL: String
    package var http: HTTPOptions
    package var retry: RetryPolicy
    package var clock: @Sendable () -> Date
    package var sleep: @Sendable (Double) -> Void
    package var jitter: @Sendable () -> Double

    package init(transport: any HTTPTransport, baseURL: String, http: HTTPOptions, retry: RetryPolicy,
                 clock: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (Double) -> Void,
                 jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        (self.transport, self.baseURL, self.http, self.retry, self.clock, self.sleep, self.jitter)
            = (transport, baseURL, http, retry, clock, sleep, jitter)
    }

    /// The request URL, which is also the proof's `htu`.
    package var tokenURL: String { baseURL + "/v1/token" }

    // MARK: Endpoint

    /// Sign-In's endpoint for CreateOAuth2Token by the service's endpoint rules (no FIPS, no
    /// dual-stack: the rules have neither for this operation): `configured` when set
    /// (`AWS_ENDPOINT_URL_SIGNIN`, the profile's `[services]` `signin` `endpoint_url`,
    /// `AWS_ENDPOINT_URL`, `endpoint_url`), else `https://{region}.signin.{partition's domain}`.
    /// A configured endpoint must be https, or http to this machine: the refresh token and the
    /// credentials cross it.
    package static func endpoint(region: String, configured: String?) throws(LoginSessionError) -> String {
        guard var url = configured else {
            guard STSEndpoint.isValidRegionName(region) else {
                throw LoginSessionError(.insecureEndpoint, "the region \"\(TerminalText.escaped(region))\" for AWS Sign-In "
                    + "is not a region name (like eu-west-1); fix region in the profile, AWS_REGION or the session file's "
                    + "signInRegion.")
            }
            let domain: String
            switch STSEndpoint.partition(ofRegion: region) {
            case "aws-cn": domain = "amazonaws.cn"
            case "aws-us-gov": domain = "amazonaws-us-gov.com"
            case "aws-iso": domain = "c2shome.ic.gov"
            case "aws-iso-b": domain = "sc2shome.sgov.gov"
            case "aws-iso-f": domain = "csphome.hci.ic.gov"
            case "aws-iso-e": domain = "csphome.adc-e.uk"
            case "aws-eusc": domain = "amazonaws-eusc.eu"
            default: domain = "aws.amazon.com"
            }
            return "https://\(region).signin.\(domain)"
        }
        let lower = url.lowercased()
        let host = ContainerCredentialsSource.host(of: url)
        let isLoopbackHTTP = lower.hasPrefix("http://")
            && host.map { $0.lowercased() == "localhost" || ContainerCredentialsSource.isLoopback($0) } == true
        guard (lower.hasPrefix("https://") && host != nil) || isLoopbackHTTP, !url.contains("?"), !url.contains("#"),
              !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw LoginSessionError(
                .insecureEndpoint,
                "the AWS Sign-In endpoint \(ContainerCredentialsSource.redactQuery(url)) (AWS_ENDPOINT_URL_SIGNIN or an "
                    + "endpoint_url) is not an https URL (plain http is allowed only to 127.0.0.1, ::1 or localhost): the "
                    + "login's refresh token travels on it; fix or unset it.")
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    // MARK: The call

    /// `tokenOutput`, checked: credentials in the shape AWS issues, `expiresIn` within the
    /// model's 1...900 seconds, a refresh token of printable ASCII within the model's bound.
    package struct TokenOutput: Equatable {
        package var credentials: (accessKeyId: String, secretAccessKey: String, sessionToken: String)
        package var tokenType: String?
        package var expiresIn: Int
        package var refreshToken: String
        /// Sent for the authorization_code grant (its `sub` is the `login_session`).
        package var idToken: String?

        package static func == (lhs: TokenOutput, rhs: TokenOutput) -> Bool {
            lhs.credentials == rhs.credentials && lhs.tokenType == rhs.tokenType && lhs.expiresIn == rhs.expiresIn
                && lhs.refreshToken == rhs.refreshToken && lhs.idToken == rhs.idToken
        }

        /// Nil for anything but a `tokenOutput` object as the model describes it (with the
        /// limits above). Unknown members are ignored.
        package init?(body: [UInt8]) {
            guard let output = JSONValue.parseObject(body), let access = output["accessToken"]?.object,
                  let accessKeyId = access["accessKeyId"]?.string, let secret = access["secretAccessKey"]?.string,
                  let sessionToken = access["sessionToken"]?.string,
                  let expiresIn = output["expiresIn"]?.integer, (1...3600).contains(expiresIn),
                  let refreshToken = output["refreshToken"]?.string,
                  LoginSessionFile.isPrintable(refreshToken, limit: LoginSessionFile.refreshTokenLengthLimit)
            else { return nil }
            let checked = AWSCredentialsShape(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: sessionToken)
            guard checked.isIssuedShape else { return nil }
            let tokenType = output["tokenType"]?.string
            let idToken = output["idToken"]?.string
            if let tokenType, !LoginSessionFile.isPrintable(tokenType, limit: 64) { return nil }
            if let idToken, !LoginSessionFile.isPrintable(idToken, limit: LoginSessionFile.idTokenLengthLimit) { return nil }
            credentials = (accessKeyId, secret, sessionToken)
            self.tokenType = tokenType
            self.expiresIn = expiresIn
            self.refreshToken = refreshToken
            self.idToken = idToken
        }
    }

    /// What Sign-In refused, as its rest-json error says: the error type
    /// (`AccessDeniedException`, `ValidationException`, ...) and the OAuth2 `error` code
    /// (`TOKEN_EXPIRED`, `USER_CREDENTIALS_CHANGED`, `INSUFFICIENT_PERMISSIONS`, ...). Both are
    /// short plain names or nil; Sign-In's free-text message is not kept (it is not shown).
    package struct Refused: Error, Equatable {
        package var status: Int
        package var errorType: String?
        package var error: String?

        /// The session is over: sign in again (botocore's `LoginRefreshRequired`).
        package var endsSession: Bool { error == "TOKEN_EXPIRED" || error == "USER_CREDENTIALS_CHANGED" }
        /// botocore's `LoginInsufficientPermissions`.
        package var lacksPermission: Bool { error == "INSUFFICIENT_PERMISSIONS" }

        /// "AccessDeniedException, TOKEN_EXPIRED" or "HTTP 400".
        package var summary: String {
            let parts = [errorType, error].compactMap { $0 }
            return parts.isEmpty ? "HTTP \(status)" : parts.joined(separator: ", ")
        }
    }

    /// The refresh_token grant: the session's new credentials and its rotated refresh token.
    /// Throws `Refused` when Sign-In says no, `LoginSessionError` otherwise.
    package func refresh(clientId: String, refreshToken: String, key: P256SigningKey) throws -> TokenOutput {
        try call(["clientId": .string(clientId), "grantType": .string("refresh_token"),
                  "refreshToken": .string(refreshToken)], key: key)
    }

    /// The authorization_code grant that ends a sign-in (PKCE: the verifier whose S256
    /// challenge went to the authorize endpoint, and the same redirect URI).
    package func exchangeAuthorizationCode(clientId: String, code: String, codeVerifier: String, redirectURI: String,
                                           key: P256SigningKey) throws -> TokenOutput {
        try call(["clientId": .string(clientId), "grantType": .string("authorization_code"), "code": .string(code),
                  "codeVerifier": .string(codeVerifier), "redirectUri": .string(redirectURI)], key: key)
    }

    private func call(_ input: [String: JSONValue], key: P256SigningKey) throws -> TokenOutput {
        var body = Array(JSONValue.object(input).encoded(
            order: ["clientId", "grantType", "code", "redirectUri", "codeVerifier", "refreshToken"]).utf8)
        defer { wipe(&body) }
        let url = tokenURL
        var options = http
        options.maxResponseBytes = 64 * 1024
        var sent = 0
        // The shared loop (attempts, jittered backoff, the deadline); it calls back for each
        // attempt, so every attempt carries a new proof (its own jti and iat).
        func attempt(_ options: HTTPOptions) throws -> RetryPolicy.Outcome<TokenOutput, Unavailable> {
            let proof = try DPoPProof.make(key: key, url: url, issuedAt: Int(clock().timeIntervalSince1970),
                                           jti: DPoPProof.newIdentifier())
            let request = HTTPRequest(method: "POST", url: url, headers: [
                (name: "Content-Type", value: "application/json"), (name: "Accept", value: "application/json"),
                (name: "DPoP", value: proof),
            ], body: body)
            do {
                sent += 1
                let response = try transport.send(request, options: options)
                if response.status == 200 {
                    guard let output = TokenOutput(body: response.body) else {
                        throw LoginSessionError(
                            .badResponse,
                            "AWS Sign-In at \(baseURL) answered CreateOAuth2Token with something that is not a token "
                                + "(credentials as AWS issues them, expiresIn, refreshToken); nothing was used or written. "
                                + "Check AWS_ENDPOINT_URL_SIGNIN.")
                    }
                    return .success(output)
                }
                if response.status != 429 && response.status < 500 {
                    throw Refused(status: response.status, errorType: Self.errorType(response),
                                  error: Self.oauthError(response))
                }
                return .retryable(Unavailable(
                    detail: "HTTP \(response.status)" + (Self.errorType(response).map { " (\($0))" } ?? "")))
            } catch let error as TransportError {
                // A TLS failure or a bad URL does not get better with another try.
                let failure = Unavailable(detail: StscacheSupport.describe(error))
                return error.isTransient ? .retryable(failure) : .final(failure)
            }
        }
        do {
            return try retry.run(http: options, clock: clock, sleep: sleep, jitter: jitter, attempt)
        } catch let failure as Unavailable {
            throw LoginSessionError(.unavailable, "could not reach AWS Sign-In at \(baseURL) (\(failure.detail)) after "
                + "\(sent) attempt\(sent == 1 ? "" : "s"); check the network and try again.")
        }
    }

    /// Why one attempt did not get an answer worth keeping (a 429, a 5xx, a network failure);
    /// the last one becomes the call's `LoginSessionError`.
    struct Unavailable: Error { var detail: String }

    /// The error type: the `x-amzn-ErrorType` header (before any `:`), else the body's
    /// `__type`; only a short plain name.
    static func errorType(_ response: HTTPResponse) -> String? {
        var candidate = response.header("x-amzn-ErrorType").map { String($0.prefix(while: { $0 != ":" })) }
        if candidate == nil { candidate = JSONValue.parseObject(response.body)?["__type"]?.string }
        if let type = candidate, let hash = type.lastIndex(of: "#") { candidate = String(type[type.index(after: hash)...]) }
        return candidate.flatMap(plainName)
    }

    /// The body's OAuth2 `error` member (`OAuth2ErrorCode`).
    static func oauthError(_ response: HTTPResponse) -> String? {
        JSONValue.parseObject(response.body)?["error"]?.string.flatMap(plainName)
    }

    private static func plainName(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64, text.utf8.allSatisfy({
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F
        }) else { return nil }
        return text
    }
}

/// The three strings of a credential set, checked with `IssuedCredentialsFormat`.
struct AWSCredentialsShape {
    var accessKeyId: String
    var secretAccessKey: String
    var sessionToken: String

    var isIssuedShape: Bool {
        IssuedCredentialsFormat.violation(in: AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey,
                                                             sessionToken: sessionToken)) == nil
    }
}
