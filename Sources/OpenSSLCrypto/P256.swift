import COpenSSL
import StscacheSupport

/// A P-256 private key held by libcrypto, for ES256 signatures (RFC 7518 §3.4): the DPoP key of
/// an `aws login` session (RFC 9449). The key lives only in libcrypto's memory, which frees it
/// with its private scalar cleared (`EVP_PKEY_free`) when the last reference goes.
public final class P256SigningKey: @unchecked Sendable {
    private let key: OpaquePointer

    private init(_ key: OpaquePointer) {
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// The key in a PEM: SEC1 `EC PRIVATE KEY` (what the AWS CLI writes) or PKCS #8 `PRIVATE KEY`,
    /// on P-256. Nil for anything else (another curve, another algorithm, an encrypted PEM,
    /// something that is not a PEM). The caller wipes its copy of the PEM.
    public init?(pem: [UInt8]) {
        OpenSSL.initialise()
        guard let key = pem.withUnsafeBufferPointer({ stscache_p256_key_from_pem($0.baseAddress, $0.count) }) else {
            return nil
        }
        self.key = key
    }

    /// A new key pair from OpenSSL's generator.
    public static func generate() throws(CryptoError) -> P256SigningKey {
        OpenSSL.initialise()
        guard let key = stscache_p256_generate() else { throw CryptoError.openSSLFailure("EVP_EC_gen(P-256)") }
        return P256SigningKey(key)
    }

    /// The public point's affine coordinates, 32 bytes each, big-endian (a JWK's `x` and `y`).
    public var publicCoordinates: (x: [UInt8], y: [UInt8]) {
        var x = [UInt8](repeating: 0, count: 32)
        var y = [UInt8](repeating: 0, count: 32)
        let ok = stscache_p256_public_xy(key, &x, &y)
        precondition(ok == 1, "a P-256 key without a public point")
        return (x, y)
    }

    /// ES256 over `message`: ECDSA with SHA-256, as the 64 bytes r || s that JWS uses (not DER).
    public func signES256(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        let ok = message.withUnsafeBufferPointer { stscache_es256_sign(key, $0.baseAddress, $0.count, &signature) }
        guard ok == 1 else { throw CryptoError.openSSLFailure("ES256 signing") }
        return signature
    }

    /// The key as a SEC1 `EC PRIVATE KEY` PEM, as `aws login` stores it. The caller owns the
    /// bytes and wipes them (`wipe`) once written.
    public func sec1PEM() throws(CryptoError) -> [UInt8] {
        guard let bio = stscache_p256_pem(key) else { throw CryptoError.openSSLFailure("PEM_write_bio_PrivateKey_traditional") }
        defer { stscache_bio_free(bio) }
        var data: UnsafeMutablePointer<CChar>?
        let count = stscache_bio_contents(bio, &data)
        guard let data, count > 0 else { throw CryptoError.openSSLFailure("BIO_get_mem_data") }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}

public enum ES256 {
    /// True when `signature` (r || s, 64 bytes) is a valid ES256 signature of `message` under
    /// the P-256 public key (`x`, `y`, 32 bytes each). False for a point off the curve.
    public static func verify(x: [UInt8], y: [UInt8], message: [UInt8], signature: [UInt8]) -> Bool {
        guard x.count == 32, y.count == 32, signature.count == 64 else { return false }
        OpenSSL.initialise()
        return message.withUnsafeBufferPointer { stscache_es256_verify(x, y, $0.baseAddress, $0.count, signature) } == 1
    }
}

/// Overwrites secret bytes (a PEM, a refresh token's copy) with zeros in a way the optimiser
/// cannot drop: `OPENSSL_cleanse`.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
}
