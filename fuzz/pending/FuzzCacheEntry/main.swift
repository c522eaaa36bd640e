// PENDING (not built yet): needs CredentialCache's entry format (internal, so the target is
// compiled with -enable-testing and imported @testable) —
//   EntryFormat.parseHeader(_ bytes: [UInt8]) -> Result<(header: EntryHeader, length: Int), MissReason>
//   EntryFormat.decrypt(_ bytes: [UInt8], for: CacheKey, key: [UInt8])
//     -> Result<(CachedCredentials, EntryHeader), MissReason>
//   EntryFormat.encode(_: CachedCredentials, for: CacheKey, issuedAt: Date, key: [UInt8], nonce: [UInt8]) throws -> [UInt8]
//   CacheKey(roleArn:sessionName:sourceIdentity:externalId:)
// Wiring it in: fuzz/README.md, "Wiring in a pending target".
//
// Two modes, by the first byte:
// - raw: any bytes as a cache file, read with a fixed key. Must be a miss, never a crash —
//   unless the bytes are a genuine entry for that key, which must then re-encode to the same
//   bytes (so no forged or altered file can ever produce credentials);
// - structured: an entry built from the input's fields must decrypt to exactly those fields,
//   under another key or for another request it must be a miss, and after any change the
//   input chooses (a flipped bit, a cut, extra bytes) it must be a miss.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import CredentialCache
import FuzzSupport

let key = [UInt8](repeating: 0x4B, count: 32)
let otherKey = [UInt8](repeating: 0x4C, count: 32)
let fixedCacheKey = CacheKey(roleArn: "arn:aws:iam::123456789012:role/Admin", sessionName: "alice")

/// Whole seconds in years 1...9999, the range an STS timestamp can hold.
func seconds(_ input: inout FuzzInput) -> Int64 {
    var raw: UInt64 = 0
    for _ in 0..<5 { raw = raw << 8 | UInt64(input.byte()) }
    return Int64(raw % 315_537_897_600) - 62_135_596_800
}

func string(_ input: inout FuzzInput) -> String {
    String(decoding: input.take(until: 0) ?? [], as: UTF8.self)
}

fuzz { input in
    if input.byte() % 2 == 0 {
        let bytes = input.rest()
        let header = EntryFormat.parseHeader(bytes)
        switch EntryFormat.decrypt(bytes, for: fixedCacheKey, key: key) {
        case .success(let (credentials, decryptedHeader)):
            guard case .success(let (parsed, length)) = header else {
                invariant(false, "decrypt succeeded where parseHeader failed")
                return
            }
            invariant(parsed == decryptedHeader, "decrypt and parseHeader read different headers")
            let nonce = Array(bytes[length..<(length + 12)])
            let again = try? EntryFormat.encode(credentials, for: fixedCacheKey, issuedAt: parsed.issuedAt,
                                                key: key, nonce: nonce)
            invariant(again == bytes, "decrypt accepted bytes that are not the entry its result encodes to")
        case .failure(let reason):
            invariant(reason != .absent, "decrypt of bytes said .absent")
            if case .failure(let headerReason) = header, bytes.count <= EntryFormat.maximumSize {
                invariant(reason == headerReason, "parseHeader said \(headerReason), decrypt said \(reason)")
            }
        }
        return
    }

    let expiration = seconds(&input)
    let issuedAt = seconds(&input)
    let nonce = input.take(exactly: 12)
    let mutation = input.byte()
    let position = input.int(in: 0...65535)
    let cacheKey = CacheKey(roleArn: string(&input), sessionName: string(&input),
                            sourceIdentity: input.bool() ? string(&input) : nil,
                            externalId: input.bool() ? string(&input) : nil)
    let credentials = CachedCredentials(
        accessKeyId: string(&input), secretAccessKey: string(&input), sessionToken: string(&input),
        expiration: Date(timeIntervalSince1970: Double(expiration)))

    guard let entry = try? EntryFormat.encode(credentials, for: cacheKey, issuedAt: Date(timeIntervalSince1970: Double(issuedAt)),
                                              key: key, nonce: nonce) else { return }
    invariant(entry.count <= EntryFormat.maximumSize, "encode wrote \(entry.count) bytes")
    switch EntryFormat.decrypt(entry, for: cacheKey, key: key) {
    case .success(let (decrypted, header)):
        invariant(decrypted == credentials, "round trip changed the credentials")
        invariant(header.roleArn == cacheKey.roleArn && header.sessionName == cacheKey.sessionName
                  && header.stem == cacheKey.stem && header.issuedAt.timeIntervalSince1970 == Double(issuedAt),
                  "round trip changed the header")
    case .failure(let reason):
        invariant(false, "a freshly encoded entry did not decrypt: \(reason)")
    }
    invariant(EntryFormat.decrypt(entry, for: cacheKey, key: otherKey).failureReason == .differentKey,
              "an entry opened under another key")
    let otherRequest = CacheKey(roleArn: cacheKey.roleArn + "x", sessionName: cacheKey.sessionName)
    invariant(EntryFormat.decrypt(entry, for: otherRequest, key: key).failureReason == .differentRequest,
              "an entry answered for another role")

    var altered = entry
    switch mutation % 3 {
    case 0: altered[position % entry.count] ^= UInt8(1) << (mutation / 3 % 8)
    case 1: altered.removeLast(1 + position % entry.count)
    default: altered += [UInt8](repeating: mutation, count: 1 + position % 64)
    }
    if altered != entry {
        invariant(EntryFormat.decrypt(altered, for: cacheKey, key: key).failureReason != nil,
                  "an altered entry (mutation \(mutation % 3) at \(position)) still decrypted")
    }
}

extension Result {
    var failureReason: Failure? {
        if case .failure(let reason) = self { return reason }
        return nil
    }
}
