#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import StscacheSupport

/// AWS credentials. `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var expiration: Date?
    /// The account the credentials belong to, when the source knows it (an assumed role's ARN,
    /// the Identity Center account, a sign-in token): printed as `AccountId` / `AWS_ACCOUNT_ID`
    /// (SDKs use it for account-based endpoints). Not a secret, not cached: filled at print time.
    public var accountId: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil,
                accountId: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.accountId = accountId
    }

    public var description: String {
        "AWSCredentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>, sessionToken: \(sessionToken == nil ? "nil" : "<redacted>"))"
    }
}

/// AWS Signature Version 4, header form (`AWS4-HMAC-SHA256`), for services other than S3.
///
/// Mirrors botocore's `SigV4Auth` and the AWS reference suite
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
/// - canonical URI: the URL's path as written (so already percent-encoded bytes get encoded a
///   second time, as AWS requires for non-S3 services), with `.`/`..` segments and repeated
///   slashes removed, then every byte outside `A-Z a-z 0-9 - _ . ~ /` percent-encoded;
/// - canonical query: each `key=value` percent-decoded (`+` read as a space, as form decoding
///   does), re-encoded with the same unreserved set, sorted by encoded key then encoded value;
/// - canonical headers: names lower-cased, values trimmed with inner whitespace runs (line breaks
///   included) collapsed to one space, repeated names joined with `,` in their original order.
///
/// Everything is pure: the date comes in as a parameter, nothing reads the clock or environment.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"

    /// Signs a request and returns the headers to add to it: `X-Amz-Date`,
    /// `X-Amz-Security-Token` when `credentials` carry a (non-empty) session token, and
    /// `Authorization`.
    ///
    /// Every header in `headers` is signed except `User-Agent`, `Expect`, `Transfer-Encoding` and
    /// `X-Amzn-Trace-Id`, which proxies and HTTP stacks may rewrite (botocore leaves them out for
    /// the same reason). `Host` is derived from `url` (default port omitted, as curl sends it)
    /// unless `headers` carries one. `headers` should not carry `X-Amz-Date`,
    /// `X-Amz-Security-Token` or `Authorization`: the signer owns those, ignores any given, and
    /// returns its own.
    public static func sign(method: String, url: String, headers: [(name: String, value: String)],
                            body: [UInt8], credentials: AWSCredentials, region: String,
                            service: String, date: Date) -> [(name: String, value: String)] {
        let target = RequestTarget(url: url)
        let amzDate = amzDate(date)
        let dateStamp = String(amzDate.prefix(8))
        let token = credentials.sessionToken.flatMap { $0.isEmpty ? nil : $0 }

        var signed: [(name: String, value: String)] = []
        signed.reserveCapacity(headers.count + 3)
        var hasHost = false
        for header in headers {
            let name = String(decoding: trimmingWhitespace(Array(header.name.utf8)).map(lowercasedASCII), as: UTF8.self)
            if name == "host" { hasHost = true }
            if signerOwnedHeaders.contains(name) || unsignedHeaders.contains(name) { continue }
            signed.append(header)
        }
        if !hasHost { signed.append((name: "host", value: target.host)) }
        signed.append((name: "x-amz-date", value: amzDate))
        if let token { signed.append((name: "x-amz-security-token", value: token)) }

        let canonical = canonicalRequest(
            method: method, path: target.path, query: target.query, headers: signed,
            payloadHash: Hex.encode(SHA256.hash(body)))
        let scope = credentialScope(dateStamp: dateStamp, region: region, service: service)
        let toSign = stringToSign(amzDate: amzDate, credentialScope: scope, canonicalRequest: canonical.text)
        let key = signingKey(secretAccessKey: credentials.secretAccessKey, dateStamp: dateStamp,
                             region: region, service: service)
        let authorization = authorization(
            accessKeyId: credentials.accessKeyId, credentialScope: scope,
            signedHeaders: canonical.signedHeaders,
            signature: signature(signingKey: key, stringToSign: toSign))

        var result: [(name: String, value: String)] = [(name: "X-Amz-Date", value: amzDate)]
        if let token { result.append((name: "X-Amz-Security-Token", value: token)) }
        result.append((name: "Authorization", value: authorization))
        return result
    }

    // MARK: - Stages, public so tests can check each one against the AWS suite

    /// The canonical request text and the `SignedHeaders` list that goes with it.
    public struct CanonicalRequest: Sendable, Equatable {
        public let text: String
        public let signedHeaders: String
    }

    /// The host, path and query of an absolute URL, as the signer reads them.
    public struct RequestTarget: Sendable, Equatable {
        /// What the `Host` header carries: the host, plus `:port` unless the port is the scheme's
        /// default (80 for http, 443 for https). User info is dropped.
        public var host: String
        /// The path exactly as written in the URL (possibly empty); not decoded.
        public var path: String
        /// The query without its `?`, exactly as written; not decoded. The fragment is dropped.
        public var query: String

        public init(url: String) {
            let bytes = Array(url.utf8)
            var start = 0
            var scheme: [UInt8] = []
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
               bytes[0..<colon].allSatisfy(isSchemeCharacter),
               bytes[colon...].starts(with: "://".utf8) {
                scheme = bytes[0..<colon].map(lowercasedASCII)
                start = colon + 3
            }
            var end = start
            while end < bytes.count, !isAuthorityTerminator(bytes[end]) { end += 1 }
            var authority = bytes[start..<end]
            if let at = authority.lastIndex(of: UInt8(ascii: "@")) {
                authority = authority[(at + 1)...]
            }
            // A port follows the last ':' unless that ':' sits inside an IPv6 literal.
            if let colon = authority.lastIndex(of: UInt8(ascii: ":")),
               !authority[colon...].contains(UInt8(ascii: "]")) {
                let port = authority[(colon + 1)...]
                let isDefault = port.isEmpty
                    || (scheme == Array("https".utf8) && port.elementsEqual("443".utf8))
                    || (scheme == Array("http".utf8) && port.elementsEqual("80".utf8))
                if isDefault { authority = authority[..<colon] }
            }
            host = String(decoding: authority, as: UTF8.self)

            var pathEnd = end
            while pathEnd < bytes.count, bytes[pathEnd] != UInt8(ascii: "?"), bytes[pathEnd] != UInt8(ascii: "#") {
                pathEnd += 1
            }
            path = String(decoding: bytes[end..<pathEnd], as: UTF8.self)
            if pathEnd < bytes.count, bytes[pathEnd] == UInt8(ascii: "?") {
                var queryEnd = pathEnd + 1
                while queryEnd < bytes.count, bytes[queryEnd] != UInt8(ascii: "#") { queryEnd += 1 }
                query = String(decoding: bytes[(pathEnd + 1)..<queryEnd], as: UTF8.self)
            } else {
                query = ""
            }
        }
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, fractional seconds dropped (the `X-Amz-Date` value).
    public static func amzDate(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970.rounded(.down)
        // Years 0001...9999: anything else is a broken clock, not a date to sign with.
        precondition(interval >= -62_135_596_800 && interval < 253_402_300_800,
                     "SigV4.amzDate: date outside years 1...9999")
        let seconds = Int64(interval)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let civil = civilDate(daysSinceEpoch: days)
        let (year, month, day) = (Int(civil.year), Int(civil.month), Int(civil.day))

        var out = [UInt8]()
        out.reserveCapacity(16)
        func append(_ value: Int, digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        append(year, digits: 4)
        append(month, digits: 2)
        append(day, digits: 2)
        out.append(UInt8(ascii: "T"))
        append(secondOfDay / 3600, digits: 2)
        append(secondOfDay / 60 % 60, digits: 2)
        append(secondOfDay % 60, digits: 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical request for `path` and `query` as written in the URL (see `RequestTarget`),
    /// the headers to sign, and the hex SHA-256 of the payload.
    public static func canonicalRequest(method: String, path: String, query: String,
                                        headers: [(name: String, value: String)],
                                        payloadHash: String) -> CanonicalRequest {
        let (headerBlock, signedHeaders) = canonicalHeaders(headers)
        var out = [UInt8]()
        out.reserveCapacity(256 + headerBlock.utf8.count)
        out.append(contentsOf: method.utf8)
        out.append(newline)
        out.append(contentsOf: canonicalURI(path).utf8)
        out.append(newline)
        out.append(contentsOf: canonicalQueryString(query).utf8)
        out.append(newline)
        out.append(contentsOf: headerBlock.utf8)
        out.append(newline)
        out.append(contentsOf: signedHeaders.utf8)
        out.append(newline)
        out.append(contentsOf: payloadHash.utf8)
        return CanonicalRequest(text: String(decoding: out, as: UTF8.self), signedHeaders: signedHeaders)
    }

    /// The canonical URI: `path` with empty, `.` and `..` segments removed (keeping a trailing
    /// slash), then percent-encoded byte by byte except for unreserved characters and `/`.
    /// An empty path is `/`.
    public static func canonicalURI(_ path: String) -> String {
        let bytes = Array(path.utf8)
        if bytes.isEmpty { return "/" }
        var segments: [ArraySlice<UInt8>] = []
        for segment in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if segment.elementsEqual(".".utf8) { continue }
            if segment.elementsEqual("..".utf8) {
                if !segments.isEmpty { segments.removeLast() }
                continue
            }
            segments.append(segment)
        }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 8)
        if bytes.first == UInt8(ascii: "/") { out.append(UInt8(ascii: "/")) }
        for (index, segment) in segments.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "/")) }
            percentEncode(segment, into: &out)
        }
        if bytes.last == UInt8(ascii: "/"), !segments.isEmpty { out.append(UInt8(ascii: "/")) }
        // A relative path that normalises to nothing still needs a URI.
        if out.isEmpty { out.append(UInt8(ascii: "/")) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string: pairs split on `&` (empty pieces dropped) and the first `=`,
    /// percent-decoded then re-encoded, sorted by key then value, `key=value` joined with `&`.
    public static func canonicalQueryString(_ query: String) -> String {
        if query.isEmpty { return "" }
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        for piece in Array(query.utf8).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let key: ArraySlice<UInt8>
            let value: ArraySlice<UInt8>
            if let equals = piece.firstIndex(of: UInt8(ascii: "=")) {
                key = piece[..<equals]
                value = piece[(equals + 1)...]
            } else {
                key = piece
                value = []
            }
            var encodedKey = [UInt8](), encodedValue = [UInt8]()
            percentEncode(percentDecode(key), into: &encodedKey)
            percentEncode(percentDecode(value), into: &encodedValue)
            pairs.append((encodedKey, encodedValue))
        }
        pairs.sort { a, b in
            a.key != b.key ? a.key.lexicographicallyPrecedes(b.key) : a.value.lexicographicallyPrecedes(b.value)
        }
        var out = [UInt8]()
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: pair.key)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: pair.value)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical headers block (`name:value\n` per distinct name, sorted by name) and the
    /// `SignedHeaders` list (`name;name`). Repeated names join their values with `,` in the order
    /// given.
    public static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (block: String, signedHeaders: String) {
        var entries: [(name: [UInt8], value: [UInt8], order: Int)] = []
        entries.reserveCapacity(headers.count)
        for (order, header) in headers.enumerated() {
            let name = Array(trimmingWhitespace(Array(header.name.utf8)).map(lowercasedASCII))
            entries.append((name, normalisedHeaderValue(Array(header.value.utf8)), order))
        }
        entries.sort { a, b in a.name != b.name ? a.name.lexicographicallyPrecedes(b.name) : a.order < b.order }

        var block = [UInt8](), signed = [UInt8]()
        block.reserveCapacity(64 * entries.count)
        var index = 0
        while index < entries.count {
            let name = entries[index].name
            if !signed.isEmpty { signed.append(UInt8(ascii: ";")) }
            signed.append(contentsOf: name)
            block.append(contentsOf: name)
            block.append(UInt8(ascii: ":"))
            block.append(contentsOf: entries[index].value)
            index += 1
            while index < entries.count, entries[index].name == name {
                block.append(UInt8(ascii: ","))
                block.append(contentsOf: entries[index].value)
                index += 1
            }
            block.append(newline)
        }
        return (String(decoding: block, as: UTF8.self), String(decoding: signed, as: UTF8.self))
    }

    /// `yyyyMMdd/region/service/aws4_request`.
    public static func credentialScope(dateStamp: String, region: String, service: String) -> String {
        "\(dateStamp)/\(region)/\(service)/aws4_request"
    }

    /// `AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex SHA-256 of the canonical request>`.
    public static func stringToSign(amzDate: String, credentialScope: String, canonicalRequest: String) -> String {
        let hash = Hex.encode(SHA256.hash(Array(canonicalRequest.utf8)))
        return "\(algorithm)\n\(amzDate)\n\(credentialScope)\n\(hash)"
    }

    /// HMAC chain `"AWS4" + secret` → date → region → service → `aws4_request`.
    public static func signingKey(secretAccessKey: String, dateStamp: String, region: String, service: String) -> [UInt8] {
        var key = HMACSHA256.authenticationCode(key: Array("AWS4\(secretAccessKey)".utf8), message: Array(dateStamp.utf8))
        key = HMACSHA256.authenticationCode(key: key, message: Array(region.utf8))
        key = HMACSHA256.authenticationCode(key: key, message: Array(service.utf8))
        return HMACSHA256.authenticationCode(key: key, message: Array("aws4_request".utf8))
    }

    /// Hex HMAC-SHA256 of the string to sign under the signing key.
    public static func signature(signingKey: [UInt8], stringToSign: String) -> String {
        Hex.encode(HMACSHA256.authenticationCode(key: signingKey, message: Array(stringToSign.utf8)))
    }

    /// The `Authorization` header value.
    public static func authorization(accessKeyId: String, credentialScope: String, signedHeaders: String, signature: String) -> String {
        "\(algorithm) Credential=\(accessKeyId)/\(credentialScope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    // MARK: - Helpers

    private static let newline = UInt8(ascii: "\n")

    /// Headers `sign` adds itself.
    private static let signerOwnedHeaders: Set<String> = ["authorization", "x-amz-date", "x-amz-security-token"]
    /// Headers intermediaries may change in flight; botocore's `SIGNED_HEADERS_BLACKLIST`.
    private static let unsignedHeaders: Set<String> = ["expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"]

    private static func lowercasedASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static func trimmingWhitespace(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        var start = 0, end = bytes.count
        while start < end, isWhitespace(bytes[start]) { start += 1 }
        while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }

    /// Trimmed, with every run of whitespace (folded lines included) turned into one space.
    private static func normalisedHeaderValue(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var pendingSpace = false
        for byte in trimmingWhitespace(bytes) {
            if isWhitespace(byte) {
                pendingSpace = true
                continue
            }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(byte)
        }
        return out
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static let upperHex: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func percentEncode<Bytes: Sequence<UInt8>>(_ bytes: Bytes, into out: inout [UInt8]) {
        for byte in bytes {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(byte >> 4)])
                out.append(upperHex[Int(byte & 0x0F)])
            }
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// `%XY` to the byte, `+` to a space; a `%` not followed by two hex digits stays literal.
    private static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), bytes.endIndex - index >= 3,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte == UInt8(ascii: "+") ? 0x20 : byte)
                index += 1
            }
        }
        return out
    }

    private static func isAuthorityTerminator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#")
    }

    private static func isSchemeCharacter(_ byte: UInt8) -> Bool {
        isUnreserved(byte) && byte != UInt8(ascii: "_") && byte != UInt8(ascii: "~") || byte == UInt8(ascii: "+")
    }

}
