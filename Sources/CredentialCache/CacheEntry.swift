#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto

/// Session credentials as the cache stores them. `expiration` is kept to the whole second
/// (STS hands out whole seconds anyway).
public struct CachedCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String
    public var expiration: Date

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String, expiration: Date) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "CachedCredentials(accessKeyId: \(accessKeyId), <redacted>, expiration: \(Int64(expiration.timeIntervalSince1970)))"
    }
}

/// The plaintext part of an entry: readable without the key, so `prompt` and `list` never
/// decrypt. Everything in it is bound to the ciphertext as AES-GCM associated data.
public struct EntryHeader: Sendable, Equatable {
    public var formatVersion: Int
    public var roleArn: String
    public var sessionName: String
    public var expiration: Date
    /// When stscache wrote the entry (≈ when STS issued the session): with `expiration`, the
    /// session's total lifetime for `RefreshPolicy`.
    public var issuedAt: Date
    /// 16 hex digits identifying the key that encrypted the entry (not derived usefully from it).
    public var keyId: String
    /// The entry's `CacheKey.stem`, as recorded inside the file.
    public var stem: String
    /// `PrincipalBinding` of the keys that fetched the session (all zero: unbound).
    public var principal: [UInt8]

    public init(formatVersion: Int, roleArn: String, sessionName: String, expiration: Date, issuedAt: Date,
                keyId: String, stem: String, principal: [UInt8]) {
        self.formatVersion = formatVersion
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.expiration = expiration
        self.issuedAt = issuedAt
        self.keyId = keyId
        self.stem = stem
        self.principal = principal
    }
}

/// Why a read did not produce credentials. Every one of these means "fetch again and overwrite".
public enum MissReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// No entry for this key.
    case absent
    /// The file could not be read (I/O error, not a regular file, a symlink).
    case unreadable(String)
    /// Larger than any entry stscache writes.
    case tooLarge
    /// Not an stscache entry.
    case badMagic
    /// Written by a newer or older stscache whose format this one does not read.
    case unsupportedVersion(Int)
    /// Ends before its own lengths say it should.
    case truncated
    /// Structurally wrong (bad lengths, invalid UTF-8, inconsistent fields).
    case malformed
    /// Encrypted under another key (the key store was reset or changed).
    case differentKey
    /// The header names another request (a file copied over this key's entry).
    case differentRequest
    /// Fetched with other source keys than the caller's (`PrincipalBinding`).
    case differentPrincipal
    /// The AES-GCM tag did not verify: the file was altered.
    case authenticationFailed

    public var description: String {
        switch self {
        case .absent: return "no cached entry"
        case .unreadable(let detail): return "entry unreadable (\(detail))"
        case .tooLarge: return "entry larger than 64 KiB"
        case .badMagic: return "not an stscache entry"
        case .unsupportedVersion(let version): return "entry format version \(version) not supported"
        case .truncated: return "entry truncated"
        case .malformed: return "entry malformed"
        case .differentKey: return "entry encrypted under another cache key"
        case .differentRequest: return "entry belongs to another role or session"
        case .differentPrincipal: return "entry was fetched with other source credentials"
        case .authenticationFailed: return "entry failed authentication (altered)"
        }
    }
}

/// Format version 2, all integers big-endian:
///
///     header  = "STSCACHE" | u8 version=2 | u16 headerLength
///               | 32-byte key digest | 8-byte key id | i64 issuedAt | i64 expiration
///               | 32-byte principal binding | u16 len + roleArn | u16 len + sessionName
///     body    = 12-byte nonce | AES-256-GCM ciphertext | 16-byte tag
///     plaintext = u16 len + accessKeyId | u16 len + secretAccessKey | u32 len + sessionToken
///                 | i64 expiration
///
/// The whole header (magic included) is the associated data. After decryption the reader also
/// compares the header's digest, role and session with the requested key's, the principal
/// binding with the caller's, the key id with its key's, and the two expirations.
///
/// Times outside years 1970...9999 are malformed: a forged header must not reach integer
/// conversions in `prompt` and `list` (a 2^63-1 expiry trapped there). Version 1 (no binding)
/// is not read: such an entry is a miss and is replaced on the role's next use.
package enum EntryFormat {
    static let magic: [UInt8] = Array("STSCACHE".utf8)
    static let version: UInt8 = 2
    /// 9999-12-31T23:59:59Z: the last second RFC 3339 (and every SDK's parser) can write.
    static let latestTime: Int64 = 253_402_300_799
    static let maximumSize = 64 * 1024
    static let digestCount = 32
    static let keyIdCount = 8

    /// Non-secret id of a key: a domain-separated SHA-256, first 8 bytes.
    static func keyId(of key: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(Array("stscache-key-id/1".utf8) + key).prefix(keyIdCount))
    }

    static func encode(_ credentials: CachedCredentials, for cacheKey: CacheKey, issuedAt: Date,
                       key: [UInt8], nonce: [UInt8], principal: [UInt8] = PrincipalBinding.unbound) throws -> [UInt8] {
        let expiration = seconds(credentials.expiration)
        let issued = seconds(issuedAt)
        guard isStorableTime(expiration), isStorableTime(issued), principal.count == PrincipalBinding.count else {
            throw EncodeFailure.outOfRange
        }
        let role = Array(cacheKey.roleArn.utf8)
        let session = Array(cacheKey.sessionName.utf8)
        let access = Array(credentials.accessKeyId.utf8)
        let secret = Array(credentials.secretAccessKey.utf8)
        let token = Array(credentials.sessionToken.utf8)
        guard role.count <= UInt16.max, session.count <= UInt16.max, access.count <= UInt16.max,
              secret.count <= UInt16.max, token.count <= maximumSize else {
            throw EncodeFailure.tooLarge
        }
        var header = magic
        header.append(version)
        let headerLength = magic.count + 1 + 2 + digestCount + keyIdCount + 8 + 8 + PrincipalBinding.count
            + 2 + role.count + 2 + session.count
        guard headerLength <= UInt16.max else { throw EncodeFailure.tooLarge }
        header += bigEndianBytes(UInt16(headerLength))
        header += cacheKey.digest
        header += keyId(of: key)
        header += bigEndianBytes(issued)
        header += bigEndianBytes(expiration)
        header += principal
        header += bigEndianBytes(UInt16(role.count)) + role
        header += bigEndianBytes(UInt16(session.count)) + session

        var plaintext = bigEndianBytes(UInt16(access.count)) + access
        plaintext += bigEndianBytes(UInt16(secret.count)) + secret
        plaintext += bigEndianBytes(UInt32(token.count)) + token
        plaintext += bigEndianBytes(expiration)
        defer { wipe(&plaintext) }

        let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: header)
        let entry = header + nonce + sealed.ciphertext + sealed.tag
        guard entry.count <= maximumSize else { throw EncodeFailure.tooLarge }
        return entry
    }

    enum EncodeFailure: Error { case tooLarge, outOfRange }

    static func isStorableTime(_ seconds: Int64) -> Bool { (0...latestTime).contains(seconds) }

    /// The header alone: no key, no crypto.
    static func parseHeader(_ bytes: [UInt8]) -> Result<(header: EntryHeader, length: Int), MissReason> {
        var reader = ByteReader(bytes)
        guard bytes.count >= magic.count else { return .failure(bytes.isEmpty ? .truncated : .badMagic) }
        guard reader.take(magic.count) == magic else { return .failure(.badMagic) }
        guard let version = reader.u8() else { return .failure(.truncated) }
        guard version == self.version else { return .failure(.unsupportedVersion(Int(version))) }
        guard let declaredLength = reader.u16(),
              let digest = reader.take(digestCount),
              let keyId = reader.take(keyIdCount),
              let issuedAt = reader.i64(),
              let expiration = reader.i64(),
              let principal = reader.take(PrincipalBinding.count),
              let role = reader.string16(),
              let session = reader.string16()
        else { return .failure(.truncated) }
        guard let role, let session else { return .failure(.malformed) }
        guard Int(declaredLength) == reader.offset else { return .failure(.malformed) }
        guard isStorableTime(issuedAt), isStorableTime(expiration) else { return .failure(.malformed) }
        let header = EntryHeader(
            formatVersion: Int(version), roleArn: role, sessionName: session,
            expiration: Date(timeIntervalSince1970: Double(expiration)),
            issuedAt: Date(timeIntervalSince1970: Double(issuedAt)),
            keyId: Hex.encode(keyId), stem: Hex.encode(digest), principal: principal)
        return .success((header, reader.offset))
    }

    /// Credentials, or why not. Never throws, never returns credentials for another request.
    static func decrypt(_ bytes: [UInt8], for cacheKey: CacheKey, key: [UInt8],
                        principal: [UInt8] = PrincipalBinding.unbound)
        -> Result<(CachedCredentials, EntryHeader), MissReason>
    {
        let plaintext: [UInt8]
        let header: EntryHeader
        switch open(bytes, key: key, expecting: cacheKey) {
        case .success(let opened): (plaintext, header) = opened
        case .failure(let reason): return .failure(reason)
        }
        var body = plaintext
        defer { wipe(&body) }
        guard constantTimeEqual(header.principal, principal) else { return .failure(.differentPrincipal) }
        var reader = ByteReader(body)
        guard let accessField = reader.string16(), let secretField = reader.string16(),
              let tokenField = reader.string32(), let expiration = reader.i64(), reader.isAtEnd,
              let access = accessField, let secret = secretField, let token = tokenField,
              Double(expiration) == header.expiration.timeIntervalSince1970
        else { return .failure(.malformed) }
        let credentials = CachedCredentials(accessKeyId: access, secretAccessKey: secret, sessionToken: token,
                                            expiration: header.expiration)
        return .success((credentials, header))
    }

    /// The header, once the tag proves this cache's key wrote the entry: what `list` shows as
    /// verified. No request is compared (any entry in the directory can be listed).
    static func authenticate(_ bytes: [UInt8], key: [UInt8]) -> Result<EntryHeader, MissReason> {
        open(bytes, key: key, expecting: nil).map { opened in
            var plaintext = opened.plaintext
            wipe(&plaintext)
            return opened.header
        }
    }

    /// Parses the header, checks it names `cacheKey`'s request (when given) and this key, and
    /// opens the AEAD with the whole header as associated data.
    private static func open(_ bytes: [UInt8], key: [UInt8], expecting cacheKey: CacheKey?)
        -> Result<(plaintext: [UInt8], header: EntryHeader), MissReason>
    {
        guard bytes.count <= maximumSize else { return .failure(.tooLarge) }
        let header: EntryHeader
        let headerLength: Int
        switch parseHeader(bytes) {
        case .success(let parsed): (header, headerLength) = parsed
        case .failure(let reason): return .failure(reason)
        }
        if let cacheKey {
            guard header.stem == cacheKey.stem, header.roleArn == cacheKey.roleArn,
                  header.sessionName == cacheKey.sessionName else { return .failure(.differentRequest) }
        }
        guard key.count == AES256GCM.keyCount, header.keyId == Hex.encode(keyId(of: key)) else {
            return .failure(.differentKey)
        }
        let bodyStart = headerLength
        guard bytes.count >= bodyStart + AES256GCM.nonceCount + AES256GCM.tagCount else { return .failure(.truncated) }
        let nonce = Array(bytes[bodyStart ..< bodyStart + AES256GCM.nonceCount])
        let ciphertext = Array(bytes[bodyStart + AES256GCM.nonceCount ..< bytes.count - AES256GCM.tagCount])
        let tag = Array(bytes[(bytes.count - AES256GCM.tagCount)...])
        do {
            let plaintext = try AES256GCM.open(.init(ciphertext: ciphertext, tag: tag), key: key, nonce: nonce,
                                               authenticating: Array(bytes[..<headerLength]))
            return .success((plaintext, header))
        } catch {
            return .failure(.authenticationFailed)
        }
    }

    /// Whole seconds since 1970, clamped to Int64 (a Date can hold more; `encode` then refuses it).
    static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return value > 0 ? .max : .min }
        if value >= 9.2e18 { return .max }
        if value <= -9.2e18 { return .min }
        return Int64(value)
    }

    package static func wipe(_ bytes: inout [UInt8]) {
        for index in bytes.indices { bytes[index] = 0 }
    }
}

/// Bounds-checked big-endian reader: every accessor returns nil past the end.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset ..< offset + count])
    }

    mutating func u8() -> UInt8? { take(1)?.first }

    mutating func u16() -> UInt16? { integer(UInt16.self) }

    mutating func u32() -> UInt32? { integer(UInt32.self) }

    mutating func i64() -> Int64? { integer(Int64.self) }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard let raw = take(MemoryLayout<T>.size) else { return nil }
        return raw.reduce(T.zero) { $0 << 8 | T(truncatingIfNeeded: $1) }
    }

    /// Outer nil: truncated. Inner nil: present but not UTF-8.
    mutating func string16() -> String?? {
        guard let length = u16(), let raw = take(Int(length)) else { return nil }
        return .some(String(validating: raw, as: UTF8.self))
    }

    mutating func string32() -> String?? {
        guard let length = u32(), length <= UInt32(EntryFormat.maximumSize), let raw = take(Int(length)) else {
            return nil
        }
        return .some(String(validating: raw, as: UTF8.self))
    }
}
