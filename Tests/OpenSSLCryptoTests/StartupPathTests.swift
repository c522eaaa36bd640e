import COpenSSL
import Testing
@testable import OpenSSLCrypto

/// The fetch-free paths stscache takes to keep OpenSSL 3's provider set-up off a cache hit. Their
/// output is checked by the FIPS and Wycheproof suites, which run through them; these tests make
/// sure the paths are really taken where they can be, so the suites test what ships.
@Suite("OpenSSL start-up paths")
struct StartupPathTests {
    @Test("AES-256-GCM goes through the built-in-cipher engine where OpenSSL 3 has engines")
    func aesGCMEngineIsAvailable() {
        if OPENSSL_VERSION_MAJOR == 3 {
            #expect(OpenSSL.aesGCMEngine != nil)
        }
    }

    @Test("the engine's AES-256-GCM matches the provider's, byte for byte, and rejects a bad tag")
    func engineMatchesProvider() throws {
        let key = (0..<32).map { UInt8($0) }, nonce = (0..<12).map { UInt8(100 + $0) }
        let aad = Array("header".utf8), plaintext = Array("the session credentials".utf8)
        let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, authenticating: aad)
        let provider = try providerSeal(plaintext, key: key, nonce: nonce, aad: aad)
        #expect(sealed.ciphertext == provider.ciphertext)
        #expect(sealed.tag == provider.tag)
        var tampered = sealed
        tampered.tag[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(tampered, key: key, nonce: nonce, authenticating: aad)
        }
    }

    @Test("HMAC-SHA256 matches OpenSSL's EVP_Q_mac around the block size, for keys and messages",
          arguments: [0, 1, 31, 32, 55, 56, 63, 64, 65, 100, 200])
    func hmacMatchesEVP(length: Int) throws {
        for other in [0, 1, 64, 65, 1000] {
            for (keyCount, messageCount) in [(length, other), (other, length)] {
                let key = (0..<keyCount).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
                let message = (0..<messageCount).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
                var expected = [UInt8](repeating: 0, count: 32)
                var written = 0
                let zero: [UInt8] = [0]
                let result = (key.isEmpty ? zero : key).withUnsafeBytes { k in
                    (message.isEmpty ? zero : message).withUnsafeBytes { m in
                        EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, k.baseAddress, key.count,
                                  m.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, &expected, 32, &written)
                    }
                }
                try #require(result != nil && written == 32)
                #expect(HMACSHA256.authenticationCode(key: key, message: message) == expected,
                        "key \(keyCount) bytes, message \(messageCount) bytes")
            }
        }
    }

    @Test("SecureRandom fills buffers larger than one getentropy chunk, differently each time")
    func randomFillsLargeBuffers() throws {
        let first = try SecureRandom.bytes(count: 1000), second = try SecureRandom.bytes(count: 1000)
        #expect(first.count == 1000 && second.count == 1000)
        #expect(first != second)
        // The last bytes are filled too (a short read would leave zeros at the end).
        #expect(first.suffix(64).contains { $0 != 0 } && second.suffix(64).contains { $0 != 0 })
    }

    /// AES-256-GCM through a provider fetch (no engine): the reference.
    func providerSeal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], aad: [UInt8]) throws
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        let ctx = try #require(EVP_CIPHER_CTX_new())
        defer { EVP_CIPHER_CTX_free(ctx) }
        let cipher = try #require(EVP_CIPHER_fetch(nil, "AES-256-GCM", nil))
        defer { EVP_CIPHER_free(cipher) }
        #expect(EVP_EncryptInit_ex(ctx, cipher, nil, key, nonce) == 1)
        var length: Int32 = 0
        #expect(EVP_EncryptUpdate(ctx, nil, &length, aad, Int32(aad.count)) == 1)
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        #expect(EVP_EncryptUpdate(ctx, &out, &length, plaintext, Int32(plaintext.count)) == 1)
        out.removeLast(out.count - Int(length))
        var tail = [UInt8](repeating: 0, count: 16)
        #expect(EVP_EncryptFinal_ex(ctx, &tail, &length) == 1)
        var tag = [UInt8](repeating: 0, count: 16)
        #expect(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, &tag) == 1)
        return (out, tag)
    }
}
