import COpenSSL
import StscacheSupport

/// Thin, allocation-light wrappers over OpenSSL 3's libcrypto: the only primitives stscache needs.
///
/// The first call initialises OpenSSL without reading `openssl.cnf`: the config file costs a
/// millisecond or two at start-up and nothing in it applies to these primitives. (On Linux this
/// libcrypto is linked statically and private to the binary; libcurl's TLS uses the shared one,
/// which reads openssl.cnf as usual.) Nor does it register OpenSSL's exit handler: freeing
/// every table at exit cost ~0.8M instructions per process, and the kernel frees it anyway.
public enum OpenSSL {
    /// Idempotent; cheap after the first call (a `pthread_once` inside OpenSSL).
    @inline(__always)
    static func initialise() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_LOAD_CONFIG) | UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }

    /// OpenSSL's built-in AES-256-GCM without a provider fetch (see `stscache_make_aes_gcm_engine`
    /// in the shim); nil where engines are not available, and AES256GCM then lets EVP fetch.
    /// Made once per process, kept for its lifetime.
    nonisolated(unsafe) static let aesGCMEngine: OpaquePointer? = {
        initialise()
        return stscache_make_aes_gcm_engine()
    }()
}

public enum CryptoError: UserFacingError, Equatable, Sendable {
    /// The key, nonce or tag has the wrong length for AES-256-GCM with a 96-bit nonce.
    case invalidParameters
    /// The tag did not verify: wrong key, tampered data or associated data.
    case authenticationFailed
    /// OpenSSL reported an internal failure (allocation).
    case openSSLFailure(String)
    /// The kernel's random number generator failed (getrandom/getentropy's errno).
    case randomUnavailable(errno: Int32)

    public var errorCode: String {
        switch self {
        case .invalidParameters: return "crypto.invalid-parameters"
        case .authenticationFailed: return "crypto.authentication-failed"
        case .openSSLFailure: return "crypto.openssl-failure"
        case .randomUnavailable: return "crypto.random-unavailable"
        }
    }

    public var message: String {
        switch self {
        case .invalidParameters: return "an AES-256-GCM key, nonce or tag had the wrong length (a bug in stscache: please report it)"
        case .authenticationFailed: return "encrypted data failed authentication (altered, or another key)"
        case .openSSLFailure(let detail): return "OpenSSL failed: \(detail)"
        case .randomUnavailable(let code):
            return "the system's random number generator failed (errno \(code)); stscache cannot make keys or nonces"
        }
    }
}

public enum SHA256 {
    public static let digestCount = 32

    /// Through `stscache_sha256` (the shim): no EVP fetch, which would cost more than the rest of
    /// a cache hit's crypto.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        OpenSSL.initialise()
        var out = [UInt8](repeating: 0, count: digestCount)
        let ok = data.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                stscache_sha256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        precondition(ok == 1, "SHA-256 failed")
        return out
    }
}

public enum HMACSHA256 {
    /// Through `stscache_hmac_sha256` (the shim): RFC 2104 over the fetch-free SHA-256.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        OpenSSL.initialise()
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    stscache_hmac_sha256(k.baseAddress, k.count, m.baseAddress, m.count, o.baseAddress)
                }
            }
        }
        precondition(ok == 1, "HMAC-SHA256 failed")
        return out
    }
}

public enum SecureRandom {
    /// Bytes from the kernel's CSPRNG (getrandom(2); see `stscache_random_bytes` in the shim for
    /// why not OpenSSL's DRBG).
    public static func bytes(count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let failure = out.withUnsafeMutableBufferPointer { stscache_random_bytes($0.baseAddress, count) }
        guard failure == 0 else { throw CryptoError.randomUnavailable(errno: failure) }
        return out
    }
}

/// AES-256-GCM with a 96-bit nonce and a 128-bit tag, nothing else: the cache's AEAD.
public enum AES256GCM {
    public static let keyCount = 32
    public static let nonceCount = 12
    public static let tagCount = 16

    public struct Sealed: Sendable, Equatable {
        public var ciphertext: [UInt8]
        public var tag: [UInt8]
        public init(ciphertext: [UInt8], tag: [UInt8]) {
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }

    public static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8]) throws -> Sealed {
        guard key.count == keyCount, nonce.count == nonceCount else { throw CryptoError.invalidParameters }
        OpenSSL.initialise()
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), OpenSSL.aesGCMEngine, key, nonce) == 1 else {
            throw CryptoError.openSSLFailure("EVP_EncryptInit_ex")
        }
        var outLength: Int32 = 0
        if !aad.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &outLength, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.openSSLFailure("EVP_EncryptUpdate(aad)")
            }
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var written: Int32 = 0
        if !plaintext.isEmpty {
            guard EVP_EncryptUpdate(ctx, &ciphertext, &written, plaintext, Int32(plaintext.count)) == 1 else {
                throw CryptoError.openSSLFailure("EVP_EncryptUpdate")
            }
        }
        var finalLength: Int32 = 0
        let ok = ciphertext.withUnsafeMutableBufferPointer { buffer in
            EVP_EncryptFinal_ex(ctx, buffer.baseAddress! + Int(written), &finalLength)
        }
        guard ok == 1 else { throw CryptoError.openSSLFailure("EVP_EncryptFinal_ex") }
        ciphertext.removeLast(ciphertext.count - Int(written + finalLength))
        var tag = [UInt8](repeating: 0, count: tagCount)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagCount), &tag) == 1 else {
            throw CryptoError.openSSLFailure("EVP_CTRL_GCM_GET_TAG")
        }
        return Sealed(ciphertext: ciphertext, tag: tag)
    }

    public static func open(_ sealed: Sealed, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8]) throws -> [UInt8] {
        guard key.count == keyCount, nonce.count == nonceCount, sealed.tag.count == tagCount else {
            throw CryptoError.invalidParameters
        }
        OpenSSL.initialise()
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSLFailure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), OpenSSL.aesGCMEngine, key, nonce) == 1 else {
            throw CryptoError.openSSLFailure("EVP_DecryptInit_ex")
        }
        var outLength: Int32 = 0
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &outLength, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.authenticationFailed
            }
        }
        var plaintext = [UInt8](repeating: 0, count: sealed.ciphertext.count + 16)
        var written: Int32 = 0
        if !sealed.ciphertext.isEmpty {
            guard EVP_DecryptUpdate(ctx, &plaintext, &written, sealed.ciphertext, Int32(sealed.ciphertext.count)) == 1 else {
                throw CryptoError.authenticationFailed
            }
        }
        var tag = sealed.tag
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagCount), &tag) == 1 else {
            throw CryptoError.openSSLFailure("EVP_CTRL_GCM_SET_TAG")
        }
        var finalLength: Int32 = 0
        let ok = plaintext.withUnsafeMutableBufferPointer { buffer in
            EVP_DecryptFinal_ex(ctx, buffer.baseAddress! + Int(written), &finalLength)
        }
        guard ok == 1 else {
            // Wipe what was decrypted before the tag failed to verify. OPENSSL_cleanse, not a
            // loop of zero stores: the optimiser may drop stores to a buffer that is freed next.
            plaintext.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
            throw CryptoError.authenticationFailed
        }
        plaintext.removeLast(plaintext.count - Int(written + finalLength))
        return plaintext
    }
}

public enum Hex {
    /// Lowercase hex. Concrete over `[UInt8]` (what every caller has): the generic version, called
    /// across modules, runs unspecialised, and its first call instantiated generic metadata and
    /// searched the conformance tables (230K instructions, 5% of a cache hit).
    public static func encode(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            let digits: StaticString = "0123456789abcdef"
            let table = digits.utf8Start
            for (index, byte) in bytes.enumerated() {
                buffer[2 * index] = table[Int(byte >> 4)]
                buffer[2 * index + 1] = table[Int(byte & 0x0f)]
            }
            return bytes.count * 2
        }
    }

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        encode(Array(bytes))
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Byte comparison for secrets (tokens, the login's state, key ids and bindings): equal length
/// and equal bytes, looking at every byte of `expected` whatever the first difference, so the
/// time taken tells nothing about where `given` went wrong.
package func constantTimeEqual(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
    var difference = UInt8(given.count == expected.count ? 0 : 1)
    for index in 0..<expected.count {
        difference |= (index < given.count ? given[index] : 0) ^ expected[index]
    }
    return difference == 0
}
