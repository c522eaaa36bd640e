import OpenSSLCrypto

/// What one cache entry is for: the AssumeRole request parameters that change which session
/// STS hands out. Two profiles that reach one role differently (another source, another
/// external ID) get separate entries, so they neither share nor thrash one.
///
/// The file name is the hex SHA-256 of a length-prefixed encoding of all four fields, so no
/// profile, account or role name appears in a file name, and no two field lists collide.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    public let roleArn: String
    public let sessionName: String
    /// A non-secret description of where the source credentials come from (for example
    /// `profile:base`, `environment`, or the chained role's own stem); nil when not relevant.
    public let sourceIdentity: String?
    public let externalId: String?
    /// SHA-256 of the encoding; also stored in the entry header and compared on every read.
    public let digest: [UInt8]

    public init(roleArn: String, sessionName: String, sourceIdentity: String? = nil, externalId: String? = nil) {
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.sourceIdentity = sourceIdentity
        self.externalId = externalId
        self.digest = SHA256.hash(Self.encode(roleArn, sessionName, sourceIdentity, externalId))
    }

    /// 64 lowercase hex digits: `<stem>.entry`, `<stem>.lock`.
    public var stem: String { Hex.encode(digest) }

    public var entryFileName: String { stem + ".entry" }
    public var lockFileName: String { stem + ".lock" }

    /// Names the role and the entry, never the external ID.
    public var description: String { "CacheKey(\(roleArn), session \(sessionName), \(stem))" }

    /// `"stscache-cache-key/1"` then, per field, a presence byte and a 32-bit big-endian length
    /// before the UTF-8 bytes: unambiguous whatever the fields contain.
    static func encode(_ fields: String?...) -> [UInt8] {
        var out = Array("stscache-cache-key/1".utf8)
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

/// `true` for the 64-hex-digit stems this package creates (guards against paths in `remove`).
func isStem(_ text: some StringProtocol) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
