#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import StscacheSupport

/// One token file of the AWS CLI's Identity Center cache (`~/.aws/sso/cache/<sha1 hex>.json`),
/// as botocore's `SSOTokenLoader` reads it and `SSOTokenProvider` writes it back. Every member
/// is kept, so a file stscache rewrites still holds whatever the CLI put there.
package struct IdentityCenterToken: Equatable {
    /// A token file is a few hundred bytes; anything much larger is not one.
    package static let sizeLimit = 64 * 1024
    /// botocore's `SSOTokenProvider._REFRESH_WINDOW`: refresh with under 15 minutes left.
    package static let refreshWindow: Double = 15 * 60
    /// Longest token accepted (real ones are around 1,000 characters).
    package static let tokenLengthLimit = 16 * 1024

    package var accessToken: String
    package var expiresAt: Date
    package var refreshToken: String?
    package var clientId: String?
    package var clientSecret: String?
    package var registrationExpiresAt: Date?
    /// Every member as read, so a rewrite loses nothing.
    package var members: [String: JSONObjectFields.Value]

    /// The file name for a session name (or a legacy profile's start URL).
    package static func fileName(forKey input: String) -> String {
        Hex.encode(SHA1.hash(Array(input.utf8))) + ".json"
    }

    /// Why a token file cannot be used; the message never holds a token.
    package struct Invalid: Error, Equatable {
        package var reason: String
    }

    /// Parses and validates a token file: a JSON object whose `accessToken` is a printable,
    /// header-safe string and whose `expiresAt` is a timestamp; the refresh members, when
    /// present, must be strings too.
    package static func parse(_ bytes: [UInt8]) -> Result<IdentityCenterToken, Invalid> {
        guard bytes.count <= sizeLimit else { return .failure(Invalid(reason: "it is larger than \(sizeLimit) bytes")) }
        guard let object = JSONObjectFields.parse(bytes) else { return .failure(Invalid(reason: "it is not a JSON object")) }
        guard case .string(let accessToken)? = object["accessToken"], !accessToken.isEmpty else {
            return .failure(Invalid(reason: "it has no accessToken"))
        }
        guard isHeaderSafe(accessToken) else {
            return .failure(Invalid(reason: "its accessToken is not a single line of printable ASCII"))
        }
        guard case .string(let expiresText)? = object["expiresAt"], let expiresAt = parseTimestamp(expiresText) else {
            return .failure(Invalid(reason: "it has no valid expiresAt"))
        }
        var strings: [String: String] = [:]
        for name in ["refreshToken", "clientId", "clientSecret", "registrationExpiresAt"] {
            switch object[name] {
            case nil, .null?: continue
            case .string(let value)?:
                guard isHeaderSafe(value) else { return .failure(Invalid(reason: "its \(name) is not printable ASCII")) }
                strings[name] = value
            case _?: return .failure(Invalid(reason: "its \(name) is not a string"))
            }
        }
        var registrationExpiresAt: Date?
        if let text = strings["registrationExpiresAt"] {
            guard let date = parseTimestamp(text) else { return .failure(Invalid(reason: "its registrationExpiresAt is not a timestamp")) }
            registrationExpiresAt = date
        }
        return .success(IdentityCenterToken(
            accessToken: accessToken, expiresAt: expiresAt, refreshToken: strings["refreshToken"],
            clientId: strings["clientId"], clientSecret: strings["clientSecret"],
            registrationExpiresAt: registrationExpiresAt, members: object.fields))
    }

    /// Printable ASCII without spaces' neighbours: nothing that could end or split an HTTP
    /// header, and not absurdly long.
    package static func isHeaderSafe(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= tokenLengthLimit && value.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// `2026-01-01T00:00:00Z` (botocore), with fractions or an offset (RFC 3339), or the older
    /// CLI's `2026-01-01T00:00:00UTC`.
    package static func parseTimestamp(_ text: String) -> Date? {
        if text.hasSuffix("UTC") { return Timestamps.parseRFC3339(String(text.dropLast(3)) + "Z") }
        return Timestamps.parseRFC3339(text)
    }

    /// What to do with this token now.
    package enum Plan: Equatable {
        /// Over 15 minutes left: use it.
        case use
        /// Under 15 minutes left and refreshable: refresh; if that fails, use it while valid.
        case refresh
        /// Expired and not refreshable: only a login helps.
        case expired
    }

    /// botocore's rule: refresh with under `refreshWindow` left when the token has a refresh
    /// token and a client registration that has not expired, for sso-session profiles only
    /// (`refreshable` false for legacy ones). A token that cannot be refreshed is used until it
    /// expires (less a minute, so the portal call does not race its end).
    package func plan(now: Date, refreshable: Bool) -> Plan {
        let remaining = expiresAt.timeIntervalSince(now)
        if remaining >= Self.refreshWindow { return .use }
        if refreshable && canRefresh(now: now) { return .refresh }
        return remaining > 60 ? .use : .expired
    }

    package func canRefresh(now: Date) -> Bool {
        guard refreshToken != nil, clientId != nil, clientSecret != nil, let registrationExpiresAt else { return false }
        return registrationExpiresAt > now
    }

    /// The file after a refresh: botocore's members (`accessToken`, `expiresAt` as
    /// `YYYY-MM-DDTHH:MM:SSZ`, a new `refreshToken` when OIDC sent one) over everything else
    /// the file held, so `aws` and botocore keep reading it.
    package func refreshed(accessToken: String, expiresIn: Int, refreshToken: String?, now: Date) -> IdentityCenterToken {
        var copy = self
        copy.accessToken = accessToken
        copy.expiresAt = now.addingTimeInterval(Double(expiresIn))
        copy.members["accessToken"] = .string(accessToken)
        copy.members["expiresAt"] = .string(Timestamps.formatRFC3339(copy.expiresAt))
        if let refreshToken {
            copy.refreshToken = refreshToken
            copy.members["refreshToken"] = .string(refreshToken)
        }
        return copy
    }

    /// The JSON written back: the members in sorted order.
    package func encoded() -> [UInt8] { Self.encode(members) }

    /// A JSON object of `members`, in sorted order (token and registration files, OIDC bodies).
    package static func encode(_ members: [String: JSONObjectFields.Value]) -> [UInt8] {
        var out = "{"
        for (index, name) in members.keys.sorted().enumerated() {
            if index > 0 { out += ", " }
            out += JSONText.quoted(name) + ": "
            switch members[name]! {
            case .string(let value): out += JSONText.quoted(value)
            case .number(let value): out += value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
            case .bool(let value): out += value ? "true" : "false"
            case .strings(let list): out += "[" + list.map(JSONText.quoted).joined(separator: ", ") + "]"
            case .null, .other: out += "null"
            }
        }
        return Array((out + "}").utf8)
    }
}
