import OpenSSLCrypto

/// What one cache entry is for: the AssumeRole request parameters that change which session
/// STS hands out. Two profiles that reach one role differently (another source, another
/// external ID, another STS endpoint) get separate entries, so they neither share nor thrash one.
///
/// The file name is the hex SHA-256 of a length-prefixed encoding of all five fields, so no
/// profile, account or role name appears in a file name, and no two field lists collide.
///
/// Which *principal* fetched the session (the source's keys) is deliberately not part of the
/// name: `prompt` and `list` find entries without the source's keys. It is bound inside the
/// entry instead (`PrincipalBinding`), checked on every read that hands out credentials.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    public let roleArn: String
    public let sessionName: String
    /// A non-secret description of where the source credentials come from (for example
    /// `profile:base`, `environment`, or the chained role's own stem); nil when not relevant.
    public let sourceIdentity: String?
    public let externalId: String?
    /// The resolved STS endpoint URL (and so the partition): a session from a test endpoint is
    /// never served for the real account, nor the reverse. Nil only in tests of the format.
    public let endpoint: String?
    /// The session's source identity, tags and session policies (an encoding of them), nil for
    /// a session without any. A sixth field only when present, so the names of plain sessions
    /// are what they were; the length-prefixed encoding keeps five and six fields apart.
    public let sessionParameters: String?
    /// SHA-256 of the encoding; also stored in the entry header and compared on every read.
    public let digest: [UInt8]

    public init(roleArn: String, sessionName: String, sourceIdentity: String? = nil, externalId: String? = nil,
                endpoint: String? = nil, sessionParameters: String? = nil) {
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.sourceIdentity = sourceIdentity
        self.externalId = externalId
        self.endpoint = endpoint
        self.sessionParameters = sessionParameters
        var encoding = Self.encode(roleArn, sessionName, sourceIdentity, externalId, endpoint)
        if let sessionParameters { encoding += Self.encode(sessionParameters).dropFirst(Self.prefix.utf8.count) }
        self.digest = SHA256.hash(encoding)
    }

    static let prefix = "stscache-cache-key/2"

    /// 64 lowercase hex digits: `<stem>.entry`, `<stem>.lock`.
    public var stem: String { Hex.encode(digest) }

    public var entryFileName: String { stem + ".entry" }
    public var lockFileName: String { stem + ".lock" }

    /// Names the role and the entry, never the external ID.
    public var description: String { "CacheKey(\(roleArn), session \(sessionName), \(stem))" }

    /// `"stscache-cache-key/2"` then, per field, a presence byte and a 32-bit big-endian length
    /// before the UTF-8 bytes: unambiguous whatever the fields contain.
    static func encode(_ fields: String?...) -> [UInt8] {
        var out = Array(prefix.utf8)
        for field in fields {
            guard let field else {
                out.append(0)
                continue
            }
            let bytes = Array(field.utf8)
            out.append(1)
            out.append(contentsOf: bigEndianBytes(UInt32(truncatingIfNeeded: bytes.count)))
            out.append(contentsOf: bytes)
        }
        return out
    }
}

/// Which principal a session was fetched with: an HMAC, under the cache's encryption key, of the
/// source's access key id and secret. Stored in the entry header (authenticated with the entry)
/// and compared on every read that hands out credentials, so other keys for the same profile
/// name (another `AWS_SHARED_CREDENTIALS_FILE`, another CI job's environment, a wrong secret)
/// miss and go to STS themselves. Keyed, so the header reveals nothing about the keys; all
/// zero bytes for sources with no keys of their own to bind (a helper, instance metadata).
public enum PrincipalBinding {
    public static let count = 32
    public static let unbound = [UInt8](repeating: 0, count: count)

    /// The binding of long-term or temporary source keys; sources without keys use `unbound`.
    public static func make(accessKeyId: String, secretAccessKey: String, encryptionKey: [UInt8]) -> [UInt8] {
        var message = Array("stscache-principal/1".utf8)
        for field in [accessKeyId, secretAccessKey] {
            let bytes = Array(field.utf8)
            message += bigEndianBytes(UInt32(truncatingIfNeeded: bytes.count)) + bytes
        }
        defer { EntryFormat.wipe(&message) }
        return HMACSHA256.authenticationCode(key: encryptionKey, message: message)
    }
}

/// `true` for the 64-hex-digit stems this package creates (guards against paths in `remove`).
public func isStem(_ text: some StringProtocol) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
