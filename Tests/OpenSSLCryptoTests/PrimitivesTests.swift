import OpenSSLCrypto
import Testing

@Suite("SHA-256, HMAC, SecureRandom, Hex, AES-GCM parameters")
struct PrimitivesTests {
    @Test("SHA-256 of the FIPS 180-2 examples", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256(message: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(Array(message.utf8))) == digest)
    }

    @Test("SHA-256 of a million 'a' (FIPS 180-2)")
    func sha256Million() {
        let digest = SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(Hex.encode(digest) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("HMAC-SHA256 with an empty key and message, and RFC 4231 case 2")
    func hmacEdges() {
        #expect(Hex.encode(HMACSHA256.authenticationCode(key: [], message: []))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        #expect(Hex.encode(HMACSHA256.authenticationCode(key: Array("Jefe".utf8),
                                                         message: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("SecureRandom gives distinct 32-byte outputs")
    func secureRandom() throws {
        let first = try SecureRandom.bytes(count: 32)
        let second = try SecureRandom.bytes(count: 32)
        #expect(first.count == 32)
        #expect(second.count == 32)
        #expect(first != second)
        #expect(first != [UInt8](repeating: 0, count: 32))
        #expect(try SecureRandom.bytes(count: 0).isEmpty)
    }

    @Test("Hex encodes lower-case and decodes either case, refusing odd lengths and non-hex")
    func hex() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.encode([]) == "")
        #expect(Hex.decode("000fA5Ff") == [0x00, 0x0f, 0xa5, 0xff])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode("é0") == nil)
        let bytes = (0...255).map(UInt8.init)
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
    }

    @Test("AES-256-GCM refuses keys, nonces and tags of the wrong length")
    func aesGCMParameters() throws {
        let key = [UInt8](repeating: 7, count: 32), nonce = [UInt8](repeating: 9, count: 12)
        let sealed = try AES256GCM.seal(Array("secret".utf8), key: key, nonce: nonce, authenticating: [1, 2])
        #expect(try AES256GCM.open(sealed, key: key, nonce: nonce, authenticating: [1, 2]) == Array("secret".utf8))
        for badKey in [[UInt8](repeating: 7, count: 16), [UInt8](repeating: 7, count: 33), []] {
            #expect(throws: CryptoError.invalidParameters) {
                try AES256GCM.seal([1], key: badKey, nonce: nonce, authenticating: [])
            }
            #expect(throws: CryptoError.invalidParameters) {
                try AES256GCM.open(sealed, key: badKey, nonce: nonce, authenticating: [1, 2])
            }
        }
        for badNonce in [[UInt8](repeating: 9, count: 16), [UInt8](repeating: 9, count: 11), []] {
            #expect(throws: CryptoError.invalidParameters) {
                try AES256GCM.seal([1], key: key, nonce: badNonce, authenticating: [])
            }
            #expect(throws: CryptoError.invalidParameters) {
                try AES256GCM.open(sealed, key: key, nonce: badNonce, authenticating: [1, 2])
            }
        }
        for badTag in [Array(sealed.tag.prefix(12)), sealed.tag + [0], []] {
            #expect(throws: CryptoError.invalidParameters) {
                try AES256GCM.open(AES256GCM.Sealed(ciphertext: sealed.ciphertext, tag: badTag),
                                   key: key, nonce: nonce, authenticating: [1, 2])
            }
        }
        var otherKey = key
        otherKey[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(sealed, key: otherKey, nonce: nonce, authenticating: [1, 2])
        }
    }

    @Test("AES-256-GCM round-trips empty and multi-block plaintexts, with and without associated data")
    func aesGCMRoundTrip() throws {
        let key = try SecureRandom.bytes(count: 32)
        for length in [0, 1, 15, 16, 17, 64, 1000] {
            for aad: [UInt8] in [[], [0xAA]] {
                let nonce = try SecureRandom.bytes(count: 12)
                let plaintext = try SecureRandom.bytes(count: length)
                let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: aad)
                #expect(sealed.ciphertext.count == length)
                #expect(sealed.tag.count == 16)
                #expect(try AES256GCM.open(sealed, key: key, nonce: nonce, authenticating: aad) == plaintext)
            }
        }
    }
}
