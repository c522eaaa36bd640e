import Foundation
import Testing

import OpenSSLCrypto
@testable import Credentials

@Suite("aws login: DPoP proofs (RFC 9449) and base64url (RFC 7515)")
struct DPoPProofTests {
    @Test("base64url without padding: RFC 4648 §10's vectors, and RFC 7515's {\"alg\":\"ES256\"}", arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"), (#"{"alg":"ES256"}"#, "eyJhbGciOiJFUzI1NiJ9"),
    ])
    func base64url(text: String, encoded: String) {
        #expect(Base64URL.encode(Array(text.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(text.utf8))
    }

    @Test("base64url uses - and _ and refuses padding and the standard alphabet")
    func base64urlAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("Zg==") == nil)
        #expect(Base64URL.decode("Z") == nil)
    }

    @Test("header and payload are botocore's JSON to the byte (json.dumps, separators ',' ':', its member order)")
    func exactJSON() throws {
        let key = try #require(P256SigningKey(pem: Array(LoginFixture.pem.utf8)))
        let (x, y) = key.publicCoordinates
        // Printed by Python: json.dumps(..., separators=(',', ':')) as _build_dpop_header does.
        #expect(DPoPProof.header(x: x, y: y)
            == #"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":"chLrHRs7PUQTa9Z-j-L9LXh1KBtkLPG37AP7OkPwEIc","y":"9xyYRLPgn3PFqDLIf9ftDcCrrluueGgFh4s4khF3VNY","crv":"P-256"}}"#)
        #expect(DPoPProof.payload(method: "POST", url: "https://us-east-1.signin.aws.amazon.com/v1/token",
                                  issuedAt: 1_700_000_000, jti: "0b6a0e2e-5c8e-4c36-9d2e-3f4a5b6c7d8e")
            == #"{"htm":"POST","htu":"https://us-east-1.signin.aws.amazon.com/v1/token","iat":1700000000,"jti":"0b6a0e2e-5c8e-4c36-9d2e-3f4a5b6c7d8e"}"#)
    }

    @Test("a proof is header.payload.signature whose ES256 signature verifies under the header's own JWK")
    func proofVerifies() throws {
        let key = try #require(P256SigningKey(pem: Array(LoginFixture.pem.utf8)))
        let url = "http://127.0.0.1:8080/v1/token"
        let proof = try DPoPProof.make(key: key, url: url, issuedAt: 1_800_000_000, jti: "jti-1")
        let parts = proof.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        try #require(parts.count == 3)
        let headerBytes = try #require(Base64URL.decode(parts[0]))
        let header = try #require(JSONValue.parseObject(headerBytes))
        let jwk = try #require(header["jwk"]?.object)
        #expect(header["typ"]?.string == "dpop+jwt")
        #expect(header["alg"]?.string == "ES256")
        #expect(jwk["kty"]?.string == "EC" && jwk["crv"]?.string == "P-256")
        let payloadBytes = try #require(Base64URL.decode(parts[1]))
        let payload = try #require(JSONValue.parseObject(payloadBytes))
        #expect(payload["htm"]?.string == "POST" && payload["htu"]?.string == url)
        #expect(payload["iat"]?.integer == 1_800_000_000 && payload["jti"]?.string == "jti-1")
        let signature = try #require(Base64URL.decode(parts[2]))
        #expect(signature.count == 64)
        let x = try #require(jwk["x"]?.string.flatMap(Base64URL.decode))
        let y = try #require(jwk["y"]?.string.flatMap(Base64URL.decode))
        #expect(ES256.verify(x: x, y: y, message: Array((parts[0] + "." + parts[1]).utf8), signature: signature))
        // The signature covers the payload: another URL under the same signature does not verify.
        let forged = Base64URL.encode(Array(DPoPProof.payload(method: "POST", url: "https://evil.example/v1/token",
                                                              issuedAt: 1_800_000_000, jti: "jti-1").utf8))
        #expect(!ES256.verify(x: x, y: y, message: Array((parts[0] + "." + forged).utf8), signature: signature))
    }

    @Test("jti is a fresh version-4 UUID each time")
    func identifiers() throws {
        var seen = Set<String>()
        for _ in 0..<50 {
            let id = try DPoPProof.newIdentifier()
            let bytes = Array(id.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(bytes[14] == UInt8(ascii: "4"))
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]))
            #expect(seen.insert(id).inserted)
        }
    }
}
