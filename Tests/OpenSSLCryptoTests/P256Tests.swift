import Foundation
import Testing

@testable import OpenSSLCrypto

/// base64url without padding, for the vectors below (the library's own lives in Credentials).
private func b64url(_ text: String) -> [UInt8] {
    var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while standard.count % 4 != 0 { standard += "=" }
    return Array(Data(base64Encoded: standard)!)
}

/// A P-256 key in the SEC1 form `aws login` writes, and its public point (computed with
/// Python's `cryptography`).
private let fixtureSEC1PEM = """
    -----BEGIN EC PRIVATE KEY-----
    MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nC8kLR+ML8bBhwo+ixlGIRoAoGCCqGSM49
    AwEHoUQDQgAEchLrHRs7PUQTa9Z+j+L9LXh1KBtkLPG37AP7OkPwEIf3HJhEs+Cf
    c8WoMsh/1+0NwKuuW654aAWHiziSEXdU1g==
    -----END EC PRIVATE KEY-----

    """
private let fixturePKCS8PEM = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff
    H1136cLyQtH4wvxsGHCj6LGUYhGhRANCAARyEusdGzs9RBNr1n6P4v0teHUoG2Qs
    8bfsA/s6Q/AQh/ccmESz4J9zxagyyH/X7Q3Aq65brnhoBYeLOJIRd1TW
    -----END PRIVATE KEY-----

    """
private let fixtureX = "chLrHRs7PUQTa9Z-j-L9LXh1KBtkLPG37AP7OkPwEIc"
private let fixtureY = "9xyYRLPgn3PFqDLIf9ftDcCrrluueGgFh4s4khF3VNY"
/// A P-384 key: right PEM form, wrong curve.
private let p384PEM = """
    -----BEGIN EC PRIVATE KEY-----
    MIGkAgEBBDBHZ+LSOdn/0SHdGgGZX1liQXgMlpSJTbG6QZn1LilANnxbzydU04RR
    nfAg03Gck3WgBwYFK4EEACKhZANiAASm6dkozo+YS0XtEByyx06T1r+GGroTOmJu
    BRHdmh9s7hhbs6IDCCow/9cwLWV4ZHquJzLrD/+NBMe1bwU3l6FTUWNdn4qUR3h4
    eucNZlGvHU3iO+eonwll4dEFOkQ5hUE=
    -----END EC PRIVATE KEY-----

    """

@Suite("P-256 and ES256 (libcrypto)")
struct P256Tests {
    /// RFC 7515 Appendix A.3: the ES256 JWS example, verified with the example's public key.
    static let rfc7515X = b64url("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
    static let rfc7515Y = b64url("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
    static let rfc7515Input = Array(("eyJhbGciOiJFUzI1NiJ9"
        + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ").utf8)
    static let rfc7515Signature = b64url(
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")

    @Test("RFC 7515 A.3's ES256 signature verifies, and a changed byte anywhere does not")
    func rfc7515() {
        #expect(ES256.verify(x: Self.rfc7515X, y: Self.rfc7515Y, message: Self.rfc7515Input, signature: Self.rfc7515Signature))
        var signature = Self.rfc7515Signature
        signature[40] ^= 1
        #expect(!ES256.verify(x: Self.rfc7515X, y: Self.rfc7515Y, message: Self.rfc7515Input, signature: signature))
        var input = Self.rfc7515Input
        input[input.count - 1] ^= 1
        #expect(!ES256.verify(x: Self.rfc7515X, y: Self.rfc7515Y, message: input, signature: Self.rfc7515Signature))
        var y = Self.rfc7515Y
        y[0] ^= 1  // off the curve
        #expect(!ES256.verify(x: Self.rfc7515X, y: y, message: Self.rfc7515Input, signature: Self.rfc7515Signature))
        #expect(!ES256.verify(x: Self.rfc7515X, y: Self.rfc7515Y, message: Self.rfc7515Input,
                              signature: Array(Self.rfc7515Signature.prefix(63))))
    }

    @Test("a SEC1 and a PKCS #8 PEM give the key and its public point")
    func parsesPEM() throws {
        for pem in [fixtureSEC1PEM, fixturePKCS8PEM] {
            let key = try #require(P256SigningKey(pem: Array(pem.utf8)))
            #expect(key.publicCoordinates.x == b64url(fixtureX))
            #expect(key.publicCoordinates.y == b64url(fixtureY))
        }
    }

    @Test("another curve, garbage, a truncated PEM and an encrypted one are refused (no passphrase prompt)")
    func refusesOtherKeys() {
        #expect(P256SigningKey(pem: Array(p384PEM.utf8)) == nil)
        #expect(P256SigningKey(pem: Array("not a key".utf8)) == nil)
        #expect(P256SigningKey(pem: Array(fixtureSEC1PEM.prefix(100).utf8)) == nil)
        #expect(P256SigningKey(pem: []) == nil)
        let encrypted = """
            -----BEGIN EC PRIVATE KEY-----
            Proc-Type: 4,ENCRYPTED
            DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF

            MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nC8kLR+ML8bBhwo+ixlGIRoAoGCCqGSM49
            -----END EC PRIVATE KEY-----
            """
        #expect(P256SigningKey(pem: Array(encrypted.utf8)) == nil)
    }

    @Test("an ES256 signature is 64 bytes r || s that verifies under the public key, and differs each time")
    func signsAndVerifies() throws {
        let key = try #require(P256SigningKey(pem: Array(fixtureSEC1PEM.utf8)))
        let message = Array("header.payload".utf8)
        let first = try key.signES256(message)
        let second = try key.signES256(message)
        #expect(first.count == 64)
        #expect(first != second)  // ECDSA's random nonce
        let (x, y) = key.publicCoordinates
        #expect(ES256.verify(x: x, y: y, message: message, signature: first))
        #expect(ES256.verify(x: x, y: y, message: message, signature: second))
        #expect(!ES256.verify(x: x, y: y, message: Array("header.payloaD".utf8), signature: first))
        #expect(!ES256.verify(x: Self.rfc7515X, y: Self.rfc7515Y, message: message, signature: first))
    }

    @Test("a generated key writes a SEC1 PEM that reads back as the same key")
    func generatesAndWritesSEC1() throws {
        let key = try P256SigningKey.generate()
        var pem = try key.sec1PEM()
        let text = String(decoding: pem, as: UTF8.self)
        #expect(text.hasPrefix("-----BEGIN EC PRIVATE KEY-----\n"))
        #expect(text.hasSuffix("-----END EC PRIVATE KEY-----\n"))
        let again = try #require(P256SigningKey(pem: pem))
        #expect(again.publicCoordinates.x == key.publicCoordinates.x)
        #expect(again.publicCoordinates.y == key.publicCoordinates.y)
        wipe(&pem)
        #expect(pem.allSatisfy { $0 == 0 })
    }
}
