/// The codes of one error domain: an enum whose raw values are the kebab-case half of
/// `<domain>.<kebab-case>`. Every code can be listed, so tests check each one's spelling.
package protocol ErrorCode: RawRepresentable, CaseIterable, Sendable, Equatable where RawValue == String {
    /// The first half of every code in this domain (`setup`, `source`, `browser`); one type per domain.
    static var domain: String { get }
    /// What the process exits with when an error with this code ends it: a property of the
    /// code, not of where it is thrown, so every site agrees (1 unless the code says otherwise).
    var exitStatus: Int32 { get }
}

extension ErrorCode {
    package var exitStatus: Int32 { 1 }
}

/// A user-facing error that is a code and a message and nothing else: most domains need no
/// more, and one shape means one place to get the code's spelling and the exit status right.
/// Each domain names it through a typealias (`SetupError = CodedError<SetupErrorCode>`).
/// An error that carries more for its callers (ConfigError's profile and line, STSError's
/// answer) keeps its own type.
package struct CodedError<Codes: ErrorCode>: UserFacingError, Equatable, CustomStringConvertible {
    /// `SetupError.Code`: the domain's codes, named as when each error type declared its own.
    package typealias Code = Codes

    package let code: Code
    /// Never a secret: the rule of `UserFacingError`.
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var errorCode: String { Code.domain + "." + code.rawValue }
    package var exitStatus: Int32 { code.exitStatus }
    package var description: String { message }
}
