import Foundation
import OpenSSLCrypto
import Testing

/// Wycheproof vectors (Fixtures/wycheproof, Apache-2.0, see its LICENSE): AES-GCM and HMAC-SHA256.
@Suite("Wycheproof vectors")
struct WycheproofTests {
    // MARK: AES-GCM

    /// Every vector of aes_gcm_test.json, sorted into what `AES256GCM` must do with it.
    static let aesGCM = AESGCMVectors.load()

    @Test("the AES-GCM file loads whole and splits into the expected groups")
    func aesGCMCounts() throws {
        let vectors = try Self.aesGCM.get()
        #expect(vectors.total == vectors.declaredTotal)
        #expect(vectors.total == 316)
        // Supported sizes (256-bit key, 96-bit IV, 128-bit tag), valid: must round-trip.
        #expect(vectors.supportedValid.count == 39)
        // Invalid at any size: must be rejected by open.
        #expect(vectors.invalid.count == 87)
        // Valid but at a size the API does not offer: must be refused with invalidParameters.
        #expect(vectors.unsupportedValid.count == 190)
    }

    @Test("valid AES-256-GCM vectors seal to the expected ciphertext and tag, and open back")
    func aesGCMValid() throws {
        for vector in try Self.aesGCM.get().supportedValid {
            let sealed = try AES256GCM.seal(vector.msg, key: vector.key, nonce: vector.iv, authenticating: vector.aad)
            #expect(sealed == AES256GCM.Sealed(ciphertext: vector.ct, tag: vector.tag), "tcId \(vector.tcId)")
            let opened = try AES256GCM.open(AES256GCM.Sealed(ciphertext: vector.ct, tag: vector.tag),
                                            key: vector.key, nonce: vector.iv, authenticating: vector.aad)
            #expect(opened == vector.msg, "tcId \(vector.tcId)")
        }
    }

    @Test("valid AES-256-GCM vectors stop opening when the ciphertext, tag or associated data change")
    func aesGCMTampered() throws {
        for vector in try Self.aesGCM.get().supportedValid {
            var tampered: [(String, AES256GCM.Sealed, [UInt8])] = []
            var tag = vector.tag
            tag[15] ^= 0x80
            tampered.append(("tag", AES256GCM.Sealed(ciphertext: vector.ct, tag: tag), vector.aad))
            if !vector.ct.isEmpty {
                var ct = vector.ct
                ct[ct.count - 1] ^= 0x01
                tampered.append(("ciphertext", AES256GCM.Sealed(ciphertext: ct, tag: vector.tag), vector.aad))
                tampered.append(("truncated", AES256GCM.Sealed(ciphertext: Array(vector.ct.dropLast()), tag: vector.tag), vector.aad))
            }
            tampered.append(("aad", AES256GCM.Sealed(ciphertext: vector.ct, tag: vector.tag), vector.aad + [0]))
            for (what, sealed, aad) in tampered {
                #expect(throws: CryptoError.authenticationFailed, "tcId \(vector.tcId) \(what)") {
                    try AES256GCM.open(sealed, key: vector.key, nonce: vector.iv, authenticating: aad)
                }
            }
        }
    }

    @Test("invalid AES-GCM vectors are rejected by open, with the reason their sizes imply")
    func aesGCMInvalid() throws {
        for vector in try Self.aesGCM.get().invalid {
            let expected: CryptoError = vector.hasSupportedSizes ? .authenticationFailed : .invalidParameters
            #expect(throws: expected, "tcId \(vector.tcId) \(vector.comment)") {
                try AES256GCM.open(AES256GCM.Sealed(ciphertext: vector.ct, tag: vector.tag),
                                   key: vector.key, nonce: vector.iv, authenticating: vector.aad)
            }
        }
    }

    @Test("valid AES-GCM vectors at other key or IV sizes are refused, not mis-processed")
    func aesGCMUnsupportedSizes() throws {
        for vector in try Self.aesGCM.get().unsupportedValid {
            #expect(throws: CryptoError.invalidParameters, "tcId \(vector.tcId)") {
                try AES256GCM.seal(vector.msg, key: vector.key, nonce: vector.iv, authenticating: vector.aad)
            }
            #expect(throws: CryptoError.invalidParameters, "tcId \(vector.tcId)") {
                try AES256GCM.open(AES256GCM.Sealed(ciphertext: vector.ct, tag: vector.tag),
                                   key: vector.key, nonce: vector.iv, authenticating: vector.aad)
            }
        }
    }

    // MARK: HMAC-SHA256

    static let hmac = HMACVectors.load()

    @Test("the HMAC-SHA256 file loads whole")
    func hmacCounts() throws {
        let vectors = try Self.hmac.get()
        #expect(vectors.all.count == vectors.declaredTotal)
        #expect(vectors.all.count == 174)
        #expect(vectors.all.filter { $0.tagSize == 256 }.count == 87)
        #expect(vectors.all.filter { $0.tagSize == 128 }.count == 87)
        #expect(vectors.all.filter { $0.valid }.count == 66)
    }

    @Test("HMAC-SHA256 matches valid tags and does not match invalid ones (truncated tags by prefix)")
    func hmacVectors() throws {
        for vector in try Self.hmac.get().all {
            let mac = HMACSHA256.authenticationCode(key: vector.key, message: vector.msg)
            #expect(mac.count == 32)
            let compared = Array(mac.prefix(vector.tagSize / 8))
            #expect(vector.tag.count == vector.tagSize / 8, "tcId \(vector.tcId) tag length")
            if vector.valid {
                #expect(compared == vector.tag, "tcId \(vector.tcId) \(vector.comment)")
            } else {
                #expect(compared != vector.tag, "tcId \(vector.tcId) \(vector.comment)")
            }
        }
    }
}

// MARK: - Loading

struct AESGCMVector: Sendable {
    var tcId: Int
    var comment: String
    var keySize: Int, ivSize: Int, tagSize: Int
    var key: [UInt8], iv: [UInt8], aad: [UInt8], msg: [UInt8], ct: [UInt8], tag: [UInt8]
    var valid: Bool

    var hasSupportedSizes: Bool {
        key.count == AES256GCM.keyCount && iv.count == AES256GCM.nonceCount && tag.count == AES256GCM.tagCount
    }
}

struct AESGCMVectors: Sendable {
    var declaredTotal: Int
    var supportedValid: [AESGCMVector] = []
    var invalid: [AESGCMVector] = []
    var unsupportedValid: [AESGCMVector] = []
    var total: Int { supportedValid.count + invalid.count + unsupportedValid.count }

    static func load() -> Result<AESGCMVectors, any Error> {
        Result {
            let file = try JSONDecoder().decode(WycheproofFile<AEADGroup>.self, from: fixture("aes_gcm_test.json"))
            var vectors = AESGCMVectors(declaredTotal: file.numberOfTests)
            for group in file.testGroups {
                for test in group.tests {
                    let vector = AESGCMVector(
                        tcId: test.tcId, comment: test.comment,
                        keySize: group.keySize, ivSize: group.ivSize, tagSize: group.tagSize,
                        key: try hex(test.key), iv: try hex(test.iv), aad: try hex(test.aad), msg: try hex(test.msg),
                        ct: try hex(test.ct), tag: try hex(test.tag), valid: try isValid(test.result))
                    if !vector.valid {
                        vectors.invalid.append(vector)
                    } else if group.keySize == 256, group.ivSize == 96, group.tagSize == 128 {
                        vectors.supportedValid.append(vector)
                    } else {
                        vectors.unsupportedValid.append(vector)
                    }
                }
            }
            return vectors
        }
    }
}

struct HMACVector: Sendable {
    var tcId: Int
    var comment: String
    var tagSize: Int
    var key: [UInt8], msg: [UInt8], tag: [UInt8]
    var valid: Bool
}

struct HMACVectors: Sendable {
    var declaredTotal: Int
    var all: [HMACVector]

    static func load() -> Result<HMACVectors, any Error> {
        Result {
            let file = try JSONDecoder().decode(WycheproofFile<MACGroup>.self, from: fixture("hmac_sha256_test.json"))
            var all: [HMACVector] = []
            for group in file.testGroups {
                for test in group.tests {
                    all.append(HMACVector(tcId: test.tcId, comment: test.comment, tagSize: group.tagSize,
                                          key: try hex(test.key), msg: try hex(test.msg), tag: try hex(test.tag),
                                          valid: try isValid(test.result)))
                }
            }
            return HMACVectors(declaredTotal: file.numberOfTests, all: all)
        }
    }
}

private struct WycheproofFile<Group: Decodable>: Decodable {
    var numberOfTests: Int
    var testGroups: [Group]
}

private struct AEADGroup: Decodable {
    struct Test: Decodable {
        var tcId: Int
        var comment: String
        var key, iv, aad, msg, ct, tag: String
        var result: String
    }
    var keySize: Int, ivSize: Int, tagSize: Int
    var tests: [Test]
}

private struct MACGroup: Decodable {
    struct Test: Decodable {
        var tcId: Int
        var comment: String
        var key, msg, tag: String
        var result: String
    }
    var keySize: Int, tagSize: Int
    var tests: [Test]
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

private func fixture(_ name: String) throws -> Data {
    guard let url = Bundle.module.url(forResource: "Fixtures/wycheproof/\(name)", withExtension: nil) else {
        throw FixtureError(description: "missing fixture \(name)")
    }
    return try Data(contentsOf: url)
}

private func hex(_ text: String) throws -> [UInt8] {
    guard let bytes = Hex.decode(text) else { throw FixtureError(description: "bad hex \(text)") }
    return bytes
}

/// Wycheproof also has "acceptable"; these two files use only valid and invalid, and anything
/// else must be looked at rather than guessed.
private func isValid(_ result: String) throws -> Bool {
    switch result {
    case "valid": return true
    case "invalid": return false
    default: throw FixtureError(description: "unexpected result \(result)")
    }
}
