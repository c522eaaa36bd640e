import StscacheSupport
/// Everything that can go wrong getting source credentials other than from keys: the MFA code,
/// web identity, instance metadata, the container endpoint and credential_process helpers, and
/// credentials from any of them (or from STS) that are not shaped like AWS credentials.
///
/// `code` is stable (tests compare it); `message` says what went wrong and what to do. No
/// message holds a secret: no key, token, MFA code, or a helper's output.
package typealias SourceError = CodedError<SourceErrorCode>

/// The codes of `SourceError`: `source.<code>`.
package enum SourceErrorCode: String, ErrorCode {
    package static let domain = "source"

    // MFA
    case mfaNoTerminal = "mfa-no-terminal"
    /// `STSCACHE_NONINTERACTIVE=1` (the caching agent's refreshes): a code is needed and
    /// nobody may be asked for one.
    case mfaNotAsked = "mfa-not-asked"
    case mfaInvalidCode = "mfa-invalid-code"
    case mfaProcessFailed = "mfa-process-failed"
    case mfaPromptTimedOut = "mfa-prompt-timed-out"
    case mfaCodeReused = "mfa-code-reused"
    case mfaCodeRejected = "mfa-code-rejected"
    // Web identity
    case webIdentityTokenUnreadable = "web-identity-token-unreadable"
    case webIdentityRejected = "web-identity-rejected"
    // Instance metadata
    case imdsDisabled = "imds-disabled"
    case imdsUnavailable = "imds-unavailable"
    case imdsNoRole = "imds-no-role"
    case imdsBadResponse = "imds-bad-response"
    case imdsInvalidEndpoint = "imds-invalid-endpoint"
    // Container credentials
    case containerNotConfigured = "container-not-configured"
    case containerHostNotAllowed = "container-host-not-allowed"
    case containerTokenUnreadable = "container-token-unreadable"
    case containerUnavailable = "container-unavailable"
    case containerBadResponse = "container-bad-response"
    // credential_process
    case processLoop = "process-loop"
    case processFailed = "process-failed"
    case processTimedOut = "process-timed-out"
    case processOutputTooLarge = "process-output-too-large"
    case processCouldNotStart = "process-could-not-start"
    case processInvalidOutput = "process-invalid-output"
    case processExpired = "process-expired"
    // Any source: credentials that do not look like what AWS issues (ArrivedCredentials)
    case malformedCredentials = "malformed-credentials"

    /// The agent tells "needs a person" from other failures by this status.
    package var exitStatus: Int32 { self == .mfaNotAsked ? StscacheExitStatus.mfaNotAsked : 1 }
}

/// Exit statuses the agent reads from its refresh children.
package enum StscacheExitStatus {
    /// A session needed an MFA code and `STSCACHE_NONINTERACTIVE=1` forbade asking (EX_TEMPFAIL).
    package static let mfaNotAsked: Int32 = 75
}
