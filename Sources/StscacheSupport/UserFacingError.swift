/// Every error a user can meet: a stable code that tests and scripts compare, and one line for
/// people that says what went wrong and what to do about it. Each domain (config, cache, STS,
/// transport, crypto, sources, commands) has one error type that conforms, most of them a
/// `CodedError` (a code and a message); the entry point
/// prints `stscache: <message>` for any of them, so none ever reaches the user as "unexpected
/// error". (soto-core's `AWSErrorType` plays this part there.)
///
/// Codes are spelled one way: `<domain>.<kebab-case>`, e.g. `sts.access-denied`,
/// `cache.key-dir-unusable`, `config.source-cycle`. Messages never hold a secret.
public protocol UserFacingError: Error {
    /// `<domain>.<kebab-case>`; stable across releases.
    var errorCode: String { get }
    /// One line (or a few sentences joined into one): the cause and the fix.
    var message: String { get }
    /// What the process exits with when this error ends it (1 unless the error says otherwise).
    var exitStatus: Int32 { get }
}

extension UserFacingError {
    public var exitStatus: Int32 { 1 }
}

/// What the user reads for `error`: its message on one line, or "unexpected error: ..." for an
/// error that is not user-facing (a bug: every error a user can meet conforms).
public func describe(_ error: any Error) -> String {
    if let error = error as? any UserFacingError { return oneLine(error.message) }
    return oneLine("unexpected error: \(error)")
}
