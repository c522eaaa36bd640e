import StscacheSupport
import Transport

/// Everything that can go wrong talking to STS, each with a stable `code` for tests and callers
/// and a one-line `message` that says what happened and what to do about it.
///
/// Messages carry STS's own `Code` and `Message`, the endpoint, and HTTP details — never a secret
/// key, session token or MFA code.
public struct STSError: UserFacingError, Sendable, Equatable, CustomStringConvertible {
    /// Stable identifier, e.g. `sts.access-denied`.
    public var code: String { kind.code }
    public var errorCode: String { code }
    /// One line for the user: the cause and the fix.
    public var message: String {
        var text = subject.map { "\($0): " + kind.message } ?? kind.message
        if isClockSkew, let clockOffset, abs(clockOffset) >= 1 {
            text += " (\(ClockSkew.describe(clockOffset)))"
        }
        guard attempts > 1 else { return text }
        return "\(text) (gave up after \(attempts) attempts)"
    }
    public var description: String { message }

    /// STS's error code (`AccessDenied`, `Throttling`, ...) when STS answered with an error document.
    public var serviceCode: String? {
        if case .service(let document, _, _, _) = kind { return document.code }
        return nil
    }
    /// The HTTP status of STS's answer, when there was one.
    public var httpStatus: Int? {
        switch kind {
        case .service(_, let status, _, _), .unexpectedResponse(let status, _, _): return status
        default: return nil
        }
    }
    /// STS's request id, worth quoting to AWS support.
    public var requestId: String? {
        if case .service(let document, _, _, _) = kind { return document.requestId }
        return nil
    }
    /// The network failure underneath, for `sts.transport`.
    public var transportError: TransportError? {
        if case .transport(let error, _, _) = kind { return error }
        return nil
    }
    /// Whether a later attempt may succeed: throttling (HTTP 429 or a throttling code), server
    /// errors, transient network failures. A refusal of the caller or of the request itself
    /// (`AccessDenied`, `InvalidClientTokenId`, `ExpiredToken`, a malformed request) is never
    /// retried, whatever its HTTP status: the same request would be refused again.
    public var isRetryable: Bool {
        switch kind {
        case .service(let document, let status, _, _):
            if STSError.refusalCodes.contains(document.code) { return false }
            return status >= 500 || status == 429 || STSError.throttlingCodes.contains(document.code)
                || STSError.transientCodes.contains(document.code)
        case .unexpectedResponse(let status, _, _):
            return status >= 500 || status == 429
        case .transport(let error, _, _):
            return error.isTransient
        default:
            return false
        }
    }
    /// STS refused the request because of its timestamp: the local clock is probably off.
    public var isClockSkew: Bool {
        guard case .service(let document, _, _, _) = kind else { return false }
        if STSError.clockSkewCodes.contains(document.code) { return true }
        return STSError.isSignatureExpired(document)
    }

    /// STS reports a stale or future timestamp as SignatureDoesNotMatch with this wording.
    static func isSignatureExpired(_ document: STSErrorDocument) -> Bool {
        let text = document.message ?? ""
        return document.code == "SignatureDoesNotMatch"
            && (text.contains("Signature expired") || text.contains("Signature not yet current"))
    }

    let kind: Kind
    /// What the call was for, as the caller names it (`profile "prod" (role arn:...)`): the
    /// message starts with it, so an AccessDenied says which profile and role it refused.
    public var subject: String?
    /// How many requests were sent before giving up.
    var attempts: Int = 1
    /// Seconds STS's clock (its `Date` header) was ahead of ours when it refused the request's
    /// timestamp (negative: behind); shown in the message of a clock-skew error.
    public internal(set) var clockOffset: Double?

    init(_ kind: Kind) { self.kind = kind }

    enum Kind: Equatable, Sendable {
        /// STS answered with an error document.
        case service(STSErrorDocument, status: Int, action: String, region: String)
        /// A non-2xx answer that is not an STS error document (an HTML page from a proxy, say).
        case unexpectedResponse(status: Int, action: String, endpoint: String)
        /// An answer we could not read (`action` nil for an error document).
        case malformedResponse(action: String?, reason: String)
        case transport(TransportError, action: String, endpoint: String)
        case invalidRegion(String)
        case invalidEndpoint(String, reason: String)
        case insecureEndpoint(String)
        case invalidRegionalEndpointsSetting(String)
        case invalidRequest(String)
    }

    // botocore's retry handlers (standard mode).
    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "EC2ThrottledException",
    ]
    static let transientCodes: Set<String> = ["RequestTimeout", "RequestTimeoutException", "IDPCommunicationError"]
    /// Refusals of the caller or of the request: retrying the same request cannot help.
    static let refusalCodes: Set<String> = [
        "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
        "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "IncompleteSignature",
        "MissingAuthenticationToken", "InvalidAction", "InvalidParameterValue", "InvalidParameterCombination",
        "MissingParameter", "MalformedQueryString", "MalformedPolicyDocument", "PackedPolicyTooLarge",
        "ValidationError", "RegionDisabledException", "OptInRequired", "InvalidAuthorizationMessageException",
    ]
    static let clockSkewCodes: Set<String> = [
        "RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture", "InvalidSignatureException",
    ]
}

extension STSError.Kind {
    var code: String {
        switch self {
        case .service(let document, let status, _, _):
            switch document.code {
            case "AccessDenied": return "sts.access-denied"
            case "InvalidClientTokenId": return "sts.invalid-client-token-id"
            case "SignatureDoesNotMatch": return "sts.signature-does-not-match"
            case "ExpiredToken": return "sts.expired-token"
            case "RegionDisabledException": return "sts.region-disabled"
            case "RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture": return "sts.request-expired"
            case let code where STSError.throttlingCodes.contains(code): return "sts.throttled"
            default: return status >= 500 ? "sts.server-error" : "sts.service-error"
            }
        case .unexpectedResponse(let status, _, _):
            if status == 429 { return "sts.throttled" }
            return status >= 500 ? "sts.server-error" : "sts.unexpected-response"
        case .malformedResponse: return "sts.malformed-response"
        case .transport: return "sts.transport"
        case .invalidRegion: return "sts.invalid-region"
        case .invalidEndpoint: return "sts.invalid-endpoint"
        case .insecureEndpoint: return "sts.insecure-endpoint"
        case .invalidRegionalEndpointsSetting: return "sts.invalid-regional-endpoints"
        case .invalidRequest: return "sts.invalid-request"
        }
    }

    var message: String {
        switch self {
        case .service(let document, let status, let action, let region):
            var text = "STS \(action) failed: \(document.code)"
            if let message = document.message, !message.isEmpty { text += ": \(oneLine(message))" }
            // A signature-expired SignatureDoesNotMatch is about the clock, not the secret key.
            let hintCode = STSError.isSignatureExpired(document) ? "RequestExpired" : document.code
            if let hint = hint(hintCode, status: status, region: region) {
                // STS's own message usually ends with a full stop already.
                text += (text.hasSuffix(".") ? " " : ". ") + hint
            }
            return text
        case .unexpectedResponse(let status, let action, let endpoint):
            if status == 429 {
                return "STS \(action) at \(endpoint) was throttled (HTTP 429). Try again in a moment."
            }
            if status >= 500 {
                return "STS \(action) at \(endpoint) failed with HTTP \(status) (a server error). Try again in a moment."
            }
            return "STS \(action) at \(endpoint) answered HTTP \(status) with something that is not an STS "
                + "error document. Check endpoint_url / AWS_ENDPOINT_URL_STS and any proxy in between."
        case .malformedResponse(let action, let reason):
            return "STS\(action.map { " \($0)" } ?? "") returned a response stscache cannot read: \(reason). "
                + "Check that the endpoint is really STS (endpoint_url / AWS_ENDPOINT_URL_STS)."
        case .transport(let error, let action, let endpoint):
            return "could not reach STS for \(action) at \(endpoint): \(oneLine(error.message)). \(transportHint(error))"
        case .invalidRegion(let region):
            return "'\(region)' is not a valid AWS region name. Check `region` in the profile, AWS_REGION and AWS_DEFAULT_REGION."
        case .invalidEndpoint(let endpoint, let reason):
            return "the STS endpoint '\(endpoint)' is not usable: \(reason). "
                + "Check endpoint_url in the profile (or its services section), AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL."
        case .insecureEndpoint(let endpoint):
            return "the STS endpoint '\(endpoint)' is plain http to another host: session credentials (and web identity "
                + "tokens) would cross the network unencrypted, and anyone on the path could hand back credentials of "
                + "their choosing. Use https:// (check endpoint_url, AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL), or, for "
                + "a test endpoint on a network you trust, set \(STSEndpoint.allowInsecureHTTPVariable)=1."
        case .invalidRegionalEndpointsSetting(let value):
            return "sts_regional_endpoints = '\(value)' is not valid: use 'regional' or 'legacy'."
        case .invalidRequest(let reason):
            return "the STS request is not valid: \(reason)."
        }
    }

    private func hint(_ code: String, status: Int, region: String) -> String? {
        switch code {
        case "AccessDenied":
            return "Check that the role's trust policy allows your source identity, that your identity may "
                + "call sts:AssumeRole on the role, and (with mfa_serial) that the MFA code is current"
        case "InvalidClientTokenId":
            return "The access key id is wrong or deactivated: check the source profile's keys "
                + "(aws_access_key_id, and aws_session_token if it has one)"
        case "SignatureDoesNotMatch":
            return "The secret access key is wrong, or the system clock is off: check the source profile's "
                + "aws_secret_access_key and the clock"
        case "ExpiredToken":
            return "The source credentials' session token has expired: refresh the source credentials"
        case "RegionDisabledException":
            return "STS is not activated for this account in \(region): activate the region in the IAM "
                + "console (Account settings) or use another region"
        case "RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture":
            return "The request's timestamp is too far from AWS's time: check the system clock"
        case let code where STSError.throttlingCodes.contains(code):
            return "STS is throttling requests: try again in a moment"
        default:
            return status >= 500 ? "STS had a server error (HTTP \(status)): try again in a moment" : nil
        }
    }

    private func transportHint(_ error: TransportError) -> String {
        switch error {
        case .libraryUnavailable:
            return "stscache needs libcurl for network requests."
        case .couldNotResolveHost:
            return "Check the region and endpoint_url, DNS and network access, and the proxy settings (HTTPS_PROXY, NO_PROXY)."
        case .couldNotConnect:
            return "Check network access, firewalls, and the proxy settings (HTTPS_PROXY, NO_PROXY)."
        case .timedOut:
            return "Check network access and the proxy settings (HTTPS_PROXY, NO_PROXY); STS did not answer in time "
                + "(STSCACHE_CONNECT_TIMEOUT, STSCACHE_ATTEMPT_TIMEOUT and STSCACHE_STS_TIMEOUT set the limits)."
        case .tls:
            return "Check the CA bundle (ca_bundle, AWS_CA_BUNDLE) and any TLS-intercepting proxy; the system clock matters too."
        case .proxy:
            return "Check the proxy settings (HTTPS_PROXY, NO_PROXY) and that the proxy allows the STS host."
        case .responseTooLarge:
            return "STS answers are small: check that the endpoint is really STS."
        case .invalidRequest:
            return "Check endpoint_url / AWS_ENDPOINT_URL_STS: it must be an http(s) URL."
        case .other:
            return "Check network access, the proxy settings (HTTPS_PROXY, NO_PROXY) and the CA bundle (ca_bundle, AWS_CA_BUNDLE)."
        }
    }
}


/// Words for the difference between the local clock and STS's, for warnings and errors.
public enum ClockSkew {
    /// `offset`: seconds STS's clock is ahead of the local one (negative: behind it).
    /// "the local clock is 20 min 3 s behind STS's clock".
    public static func describe(_ offset: Double) -> String {
        let direction = offset > 0 ? "behind" : "ahead of"
        return "the local clock is \(duration(abs(offset))) \(direction) STS's clock"
    }

    /// `2 h 5 min`, `20 min 3 s`, `45 s`.
    static func duration(_ seconds: Double) -> String {
        let total = seconds.isFinite ? Int(min(seconds, 1e12).rounded()) : 0
        let hours = total / 3600, minutes = (total % 3600) / 60, rest = total % 60
        var parts: [String] = []
        if hours > 0 { parts.append("\(hours) h") }
        if minutes > 0 { parts.append("\(minutes) min") }
        if rest > 0 || parts.isEmpty { parts.append("\(rest) s") }
        return parts.joined(separator: " ")
    }
}
