import StscacheSupport

/// Why Identity Center credentials could not be had. Each message says what to run or fix;
/// none holds a token, a refresh token, a client secret or credentials.
package typealias IdentityCenterError = CodedError<IdentityCenterErrorCode>

/// The codes of `IdentityCenterError`: `identity-center.<code>`.
package enum IdentityCenterErrorCode: String, ErrorCode {
    package static let domain = "identity-center"

    /// No token file, or one that cannot be used: a login is needed.
    case notLoggedIn = "not-logged-in"
    /// The token expired (or the portal/OIDC says it is no longer valid): log in again.
    case loginExpired = "login-expired"
    /// The portal refused this account or role for the signed-in user.
    case noAccess = "no-access"
    /// The token file exists but is not one botocore wrote.
    case invalidTokenFile = "invalid-token-file"
    /// A token or client registration file, or the cache directory, is another user's, open to
    /// group or others, or a link to such: someone else may have put it there, so it is not used.
    case insecureTokenCache = "insecure-token-cache"
    /// `AWS_ENDPOINT_URL_SSO` / `_SSO_OIDC` is not https (or http to this machine), or the
    /// `sso_region` that names the standard hosts is not a region name.
    case insecureEndpoint = "insecure-endpoint"
    /// The portal or OIDC answered something that is not their API.
    case badResponse = "bad-response"
    /// The portal or OIDC could not be reached, or failed.
    case unavailable = "unavailable"
    /// The refreshed token could not be written back.
    case tokenWriteFailed = "token-write-failed"
}
