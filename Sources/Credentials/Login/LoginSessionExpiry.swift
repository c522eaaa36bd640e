#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import OpenSSLCrypto
import StscacheSupport

extension LoginSessionFile {
    /// The longest `accessToken.expiresAt` taken (`2026-12-07T16:42:11.123456+00:00` is 32).
    static let expiresAtLengthLimit = 64

    /// `accessToken.expiresAt` of a session file, and nothing else: for `prompt`, which runs on
    /// every shell prompt and has no use for the secrets. The bytes are walked as JSON without
    /// decoding any other value (the credentials, the refresh token and the key are stepped over,
    /// never copied into a string); the document must still be one well-formed JSON object, at
    /// most `sizeLimit` bytes and 32 levels deep. A member named twice counts by its first
    /// occurrence, as in `parse`. Nil when the member is missing, not a string or not a timestamp.
    package static func accessTokenExpiresAt(in bytes: [UInt8]) -> Date? {
        guard bytes.count <= sizeLimit else { return nil }
        var scanner = ExpiryScanner(bytes: bytes)
        guard let text = scanner.topLevel(), scanner.atEnd(), let text,
              text.utf8.count <= expiresAtLengthLimit else { return nil }
        return IdentityCenterToken.parseTimestamp(text)
    }
}

/// A JSON walker that keeps one value: `accessToken.expiresAt`. Keys are compared as raw bytes
/// (botocore writes them plain; an escaped key is not that member here).
private struct ExpiryScanner {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private static let maxDepth = 32

    mutating func atEnd() -> Bool {
        skipSpace()
        return index == bytes.count
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// The range of a string's raw bytes between its quotes (escapes left as written), or nil
    /// when it is not a well-formed string.
    private mutating func string() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return start..<(index - 1)
            }
            if byte < 0x20 { return nil }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                if escaped == UInt8(ascii: "u") {
                    guard index + 4 < bytes.count, bytes[(index + 1)...(index + 4)].allSatisfy(Self.isHexDigit) else {
                        return nil
                    }
                    index += 4
                } else if !"\"\\/bfnrt".utf8.contains(escaped) {
                    return nil
                }
            }
            index += 1
        }
        return nil
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    private func matches(_ range: Range<Int>, _ name: String) -> Bool {
        bytes[range].elementsEqual(name.utf8)
    }

    /// Steps over one value; false when it is not well-formed.
    private mutating func skipValue(depth: Int) -> Bool {
        skipSpace()
        guard index < bytes.count, depth < Self.maxDepth else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"):
            return members(depth: depth + 1) { scanner, _ in scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            index += 1
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                guard skipValue(depth: depth + 1) else { return false }
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        default:
            // A number, true, false or null: its characters, checked no further than that.
            let start = index
            while index < bytes.count, Self.isScalarByte(bytes[index]) { index += 1 }
            guard index > start else { return false }
            let word = bytes[start..<index]
            if word.first.map({ (0x61...0x7A).contains($0) }) == true {
                return word.elementsEqual("true".utf8) || word.elementsEqual("false".utf8) || word.elementsEqual("null".utf8)
            }
            return true
        }
    }

    private static func isScalarByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x7A).contains(byte) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "E")
    }

    /// An object's members: `{` key `:` value (handed to `value`, which must consume it) ... `}`.
    private mutating func members(depth: Int, _ value: (inout ExpiryScanner, Range<Int>) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")), value(&self, key) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// The top-level object: nil when it is not well-formed; else the first `accessToken`'s
    /// first `expiresAt`, when that is a string (nil inside otherwise).
    mutating func topLevel() -> String?? {
        var found: String?
        var seenAccessToken = false
        let ok = members(depth: 1) { scanner, key in
            guard !seenAccessToken, scanner.matches(key, "accessToken") else { return scanner.skipValue(depth: 1) }
            seenAccessToken = true
            scanner.skipSpace()
            guard scanner.index < scanner.bytes.count, scanner.bytes[scanner.index] == UInt8(ascii: "{") else {
                return scanner.skipValue(depth: 1)
            }
            var seenExpiresAt = false
            return scanner.members(depth: 2) { scanner, key in
                guard !seenExpiresAt, scanner.matches(key, "expiresAt") else { return scanner.skipValue(depth: 2) }
                seenExpiresAt = true
                scanner.skipSpace()
                guard scanner.index < scanner.bytes.count, scanner.bytes[scanner.index] == UInt8(ascii: "\"") else {
                    return scanner.skipValue(depth: 2)
                }
                guard let range = scanner.string() else { return false }
                // A timestamp has no escapes; anything with one is not a timestamp.
                let raw = scanner.bytes[range]
                if raw.count <= LoginSessionFile.expiresAtLengthLimit && !raw.contains(UInt8(ascii: "\\")) {
                    found = String(decoding: raw, as: UTF8.self)
                }
                return true
            }
        }
        return ok ? .some(found) : nil
    }
}

extension LoginSessionFiles {
    /// The session's `accessToken.expiresAt`, read under the same policy as the session itself
    /// (owner, mode, links, bounded) but without parsing the rest (`prompt`); the bytes are
    /// wiped before this returns. Nil when there is no session file.
    package func expiresAt(_ settings: LoginSessionSettings) throws(PrivateCacheFile.Refusal) -> Date? {
        let name = LoginSessionFile.fileName(forSession: settings.session)
        guard var checked = try PrivateCacheFile.read(directory: directory, name: name, described(settings)) else {
            return nil
        }
        defer { wipe(&checked.bytes) }
        guard let expiresAt = LoginSessionFile.accessTokenExpiresAt(in: checked.bytes) else {
            throw PrivateCacheFile.Refusal(.unreadable, "the aws login session file \(directory)/\(name) has no "
                + "accessToken.expiresAt timestamp; sign in again: \(settings.loginCommand)")
        }
        return expiresAt
    }
}
