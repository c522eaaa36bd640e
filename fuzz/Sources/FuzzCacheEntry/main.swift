// cache-entry: CredentialCache's entry format (internal, so the target is compiled with
// -enable-testing and imported @testable) —
//   EntryFormat.parseHeader(_ bytes: [UInt8]) -> Result<(header: EntryHeader, length: Int), MissReason>
//   EntryFormat.decrypt(_ bytes: [UInt8], for: CacheKey, key: [UInt8])
//     -> Result<(CachedCredentials, EntryHeader), MissReason>
//   EntryFormat.encode(_: CachedCredentials, for: CacheKey, issuedAt: Date, key: [UInt8], nonce: [UInt8]) throws -> [UInt8]
//   CacheKey(roleArn:sessionName:sourceIdentity:externalId:)
//
// Two modes, by the first byte:
// - raw: any bytes as a cache file, read with a fixed key. Must be a miss, never a crash —
//   unless the bytes are a genuine entry for that key, which must then re-encode to the same
//   bytes (so no forged or altered file can ever produce credentials);
// - structured: an entry built from the input's fields must decrypt to exactly those fields,
//   under another key or for another request it must be a miss, and after any change the
//   input chooses (a flipped bit, a cut, extra bytes) it must be a miss.
//
// `cache-entry --write-seeds DIR` writes the committed seeds (fuzz/corpus/cache-entry/) instead
// of fuzzing: genuine entries made by this encoder, in both modes' input layouts.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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

/// A structured-mode input: what the harness below reads back field by field.
func structuredInput(expiration: Int64, issuedAt: Int64, nonce: [UInt8], mutation: UInt8, position: UInt16,
                     cacheKey: CacheKey, credentials: [String]) -> [UInt8] {
    func fiveBytes(_ seconds: Int64) -> [UInt8] {
        let raw = UInt64(seconds + 62_135_596_800)
        return (0..<5).map { UInt8(truncatingIfNeeded: raw >> (8 * (4 - $0))) }
    }
    var bytes: [UInt8] = [1] + fiveBytes(expiration) + fiveBytes(issuedAt) + nonce + [mutation]
    bytes += [UInt8(position >> 8), UInt8(position & 0xFF)]
    bytes += Array(cacheKey.roleArn.utf8) + [0] + Array(cacheKey.sessionName.utf8) + [0]
    for field in [cacheKey.sourceIdentity, cacheKey.externalId] {
        bytes += field.map { [1] + Array($0.utf8) + [0] } ?? [0]
    }
    return bytes + Array(credentials.joined(separator: "\0").utf8)
}

/// The committed seeds: raw-mode entries (one that opens, one under another key, one for
/// another role) and structured inputs covering each field and each kind of alteration.
func writeSeeds(to directory: String) throws {
    let expiration: Int64 = 1_795_786_481 // 2026-11-29T13:34:41Z
    let issuedAt = expiration - 3600
    let nonce = [UInt8](repeating: 0x6E, count: 12)
    let credentials = CachedCredentials(
        accessKeyId: "ASIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        sessionToken: "IQoJb3JpZ2luX2VjEXAMPLETOKEN", expiration: Date(timeIntervalSince1970: Double(expiration)))
    func entry(_ cacheKey: CacheKey, _ key: [UInt8]) throws -> [UInt8] {
        try EntryFormat.encode(credentials, for: cacheKey, issuedAt: Date(timeIntervalSince1970: Double(issuedAt)),
                               key: key, nonce: nonce)
    }
    let chained = CacheKey(roleArn: "arn:aws:iam::222222222222:role/Deploy", sessionName: "stscache-bob",
                           sourceIdentity: "profile:base", externalId: "partner-7")
    let fields = [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken]
    let seeds: [(String, [UInt8])] = [
        ("raw-valid", [0] + (try entry(fixedCacheKey, key))),
        ("raw-other-key", [0] + (try entry(fixedCacheKey, otherKey))),
        ("raw-other-role", [0] + (try entry(chained, key))),
        ("structured-flip-bit", structuredInput(expiration: expiration, issuedAt: issuedAt, nonce: nonce, mutation: 0,
                                                position: 40, cacheKey: fixedCacheKey, credentials: fields)),
        ("structured-cut", structuredInput(expiration: expiration, issuedAt: issuedAt, nonce: nonce, mutation: 1,
                                           position: 16, cacheKey: chained, credentials: fields)),
        ("structured-extra", structuredInput(expiration: -62_135_596_800, issuedAt: 253_402_300_799, nonce: nonce,
                                             mutation: 2, position: 7, cacheKey: CacheKey(roleArn: "", sessionName: ""),
                                             credentials: ["", "", ""])),
    ]
    for (name, bytes) in seeds {
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
    }
}

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--write-seeds" {
    do {
        try writeSeeds(to: arguments[2])
        exit(0)
    } catch {
        print("cache-entry: cannot write seeds: \(error)")
        exit(1)
    }
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
