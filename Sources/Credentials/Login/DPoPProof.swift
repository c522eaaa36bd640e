#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import StscacheSupport

/// A DPoP proof (RFC 9449 §4): the compact JWS that Sign-In's `CreateOAuth2Token` wants in the
/// `DPoP` header, made as botocore's `_build_dpop_header` makes it, byte for byte:
///
/// - header `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":X,"y":Y,"crv":"P-256"}}`,
/// - payload `{"htm":"POST","htu":URL,"iat":SECONDS,"jti":UUID}`,
/// - both as compact JSON (no spaces) in that member order, base64url without padding,
/// - the ES256 signature (RFC 7518 §3.4: ECDSA P-256 SHA-256, r || s, 64 bytes) over
///   `header.payload`.
///
/// Every request gets a new proof (a new `jti`): the server refuses a replayed one.
package enum DPoPProof {
    /// The proof for one request. `url` is the request's URL as sent (`htu`), `issuedAt` the
    /// current time in whole seconds (`iat`), `jti` a fresh identifier (`newIdentifier()`).
    package static func make(key: P256SigningKey, method: String = "POST", url: String, issuedAt: Int, jti: String)
        throws(CryptoError) -> String
    {
        let (x, y) = key.publicCoordinates
        let signingInput = Base64URL.encode(Array(header(x: x, y: y).utf8)) + "."
            + Base64URL.encode(Array(payload(method: method, url: url, issuedAt: issuedAt, jti: jti).utf8))
        let signature = try key.signES256(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The JOSE header: the public key as a JWK (RFC 7518 §6.2.1), members in botocore's order.
    package static func header(x: [UInt8], y: [UInt8]) -> String {
        #"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":""# + Base64URL.encode(x) + #"","y":""#
            + Base64URL.encode(y) + #"","crv":"P-256"}}"#
    }

    /// The claims: method, URL, time, identifier (RFC 9449 §4.2).
    package static func payload(method: String, url: String, issuedAt: Int, jti: String) -> String {
        #"{"htm":"# + JSONText.quoted(method) + #","htu":"# + JSONText.quoted(url) + #","iat":"# + String(issuedAt)
            + #","jti":"# + JSONText.quoted(jti) + "}"
    }

    /// A random (version 4) UUID in lower case, as Python's `str(uuid.uuid4())`.
    package static func newIdentifier() throws(CryptoError) -> String {
        var bytes: [UInt8]
        do { bytes = try SecureRandom.bytes(count: 16) } catch let error as CryptoError { throw error } catch {
            throw CryptoError.openSSLFailure("random bytes")
        }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = Hex.encode(bytes)
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex.utf8.dropFirst(range.lowerBound).prefix(range.count).map { Character(UnicodeScalar($0)) })
        }
        return parts.joined(separator: "-")
    }
}

/// base64url without padding (RFC 7515 §2, Appendix C): what JWS and JWK use.
package enum Base64URL {
    package static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    /// Nil for anything but unpadded base64url.
    package static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("="), !text.contains("+"), !text.contains("/"), text.count % 4 != 1 else { return nil }
        var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { Array($0) }
    }
}
