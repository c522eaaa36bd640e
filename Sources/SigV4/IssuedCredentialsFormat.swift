/// The shape of credentials AWS issues, checked on everything that arrives from outside
/// (STS, the instance metadata service, the container endpoint, a `credential_process`
/// helper) before it is cached or printed.
///
/// Why: those values end up in shell text (`stscache export`), environment variables and HTTP
/// headers. An endpoint the user did not mean to trust (a mistyped `endpoint_url`, an
/// `AWS_ENDPOINT_URL*` someone else set, plain http on a hostile network, a compromised helper)
/// could otherwise hand us a "session token" built to break out of a shell quote. Real values
/// are narrow: an access key id is `[A-Z0-9]`, 16 to 128 long (IAM's `AccessKeyIdType`); the
/// secret and the token are base64 (the token sometimes URL-safe base64, or a JWT from an
/// STS-compatible service), so printable ASCII with no quote, backslash, `$` or backtick is
/// generous and still leaves nothing a shell, a JSON string or a header could misread.
///
/// The user's own keys from config files or the environment are not checked: they are theirs.
public enum IssuedCredentialsFormat {
    /// IAM's bounds on an access key id.
    public static let accessKeyIdLength = 16...128
    /// Real secret keys are 40 characters; this leaves room for STS-compatible services.
    public static let maximumSecretLength = 1024
    /// Real session tokens are a few hundred bytes to a few KiB (session tags and policies make
    /// them longer); 32 KiB keeps a cache entry well inside its 64 KiB bound.
    public static let maximumSessionTokenLength = 32 * 1024

    /// A field that breaks the rules, and which rule, in words that never quote the value.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        /// `AccessKeyId`, `SecretAccessKey` or `SessionToken`: the field name as every
        /// credential document spells it.
        public var field: String
        /// What is wrong, e.g. "holds a character other than A-Z and 0-9".
        public var rule: String

        public init(field: String, rule: String) {
            self.field = field
            self.rule = rule
        }

        public var description: String { "\(field) \(rule)" }
    }

    /// The first rule `credentials` break, or nil when they look like credentials AWS issues.
    /// An absent session token is fine here (a helper may send long-term keys); callers that
    /// need one check for it themselves.
    public static func violation(in credentials: AWSCredentials) -> Violation? {
        if let rule = accessKeyIdRule(credentials.accessKeyId) {
            return Violation(field: "AccessKeyId", rule: rule)
        }
        if let rule = secretRule(credentials.secretAccessKey, maximumLength: maximumSecretLength) {
            return Violation(field: "SecretAccessKey", rule: rule)
        }
        if let token = credentials.sessionToken,
           let rule = secretRule(token, maximumLength: maximumSessionTokenLength) {
            return Violation(field: "SessionToken", rule: rule)
        }
        return nil
    }

    /// Works on UTF-8 bytes, never on `Character`s: a grapheme cluster can hide a quote behind
    /// a combining mark.
    static func accessKeyIdRule(_ value: String) -> String? {
        let bytes = value.utf8
        guard accessKeyIdLength.contains(bytes.count) else {
            return "is \(bytes.count) bytes long, not \(accessKeyIdLength.lowerBound) to \(accessKeyIdLength.upperBound)"
        }
        guard bytes.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return "holds a character other than A-Z and 0-9" }
        return nil
    }

    static func secretRule(_ value: String, maximumLength: Int) -> String? {
        let bytes = value.utf8
        guard !bytes.isEmpty else { return "is empty" }
        guard bytes.count <= maximumLength else { return "is \(bytes.count) bytes long, more than \(maximumLength)" }
        guard bytes.allSatisfy(isAllowedSecretByte) else {
            return "holds a character other than printable ASCII without quotes, backslash, $ or backtick"
        }
        return nil
    }

    /// Printable ASCII (0x21 to 0x7E: so no space, control character or anything non-ASCII),
    /// less the characters that mean something inside or around shell quotes.
    static func isAllowedSecretByte(_ byte: UInt8) -> Bool {
        guard byte >= 0x21 && byte <= 0x7E else { return false }
        switch byte {
        case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"): return false
        default: return true
        }
    }
}
