import StscacheSupport

/// Why an `aws login` session (a `login_session` profile) gave no credentials. Each message
/// says what to run or fix; none holds a credential, the refresh token or the DPoP key.
package typealias LoginSessionError = CodedError<LoginSessionErrorCode>

/// The codes of `LoginSessionError`: `login-session.<code>`.
package enum LoginSessionErrorCode: String, ErrorCode {
    package static let domain = "login-session"

    /// No cache file for the session: sign in.
    case notLoggedIn = "not-logged-in"
    /// The session ended (Sign-In said TOKEN_EXPIRED or USER_CREDENTIALS_CHANGED, or the
    /// credentials expired more than the 12 hours a refresh token lasts ago): sign in again.
    case loginExpired = "login-expired"
    /// The signed-in identity may not call `signin:CreateOAuth2Token`.
    case insufficientPermissions = "insufficient-permissions"
    /// The cache file exists but is not one the AWS CLI wrote.
    case invalidFile = "invalid-file"
    /// The cache file or its directory is another user's or open to others (or a link to such).
    case insecureFile = "insecure-file"
    /// `AWS_ENDPOINT_URL_SIGNIN` (or the profile's endpoint) is not https, or the region that
    /// names Sign-In's host is not a region name.
    case insecureEndpoint = "insecure-endpoint"
    /// Sign-In refused the request for another reason (ValidationException, AccessDenied with
    /// another error).
    case refused = "refused"
    /// Sign-In answered something that is not its API.
    case badResponse = "bad-response"
    /// Sign-In could not be reached, or failed.
    case unavailable = "unavailable"
    /// The refreshed session could not be written back.
    case writeFailed = "write-failed"
}
