// access-key-store: CredentialCache's long-term key store format (internal, so the target is
// compiled with -enable-testing and imported @testable) —
//   AccessKeyFile.decode(_ bytes: [UInt8], key: [UInt8], path: String) throws(AccessKeyStoreError) -> [StoredAccessKey]
//   AccessKeyFile.encode(_ records: [StoredAccessKey], key: [UInt8]) throws -> [UInt8]
//
// Two modes, by the first byte:
// - raw: any bytes as a store file, read with a fixed key. Must be an AccessKeyStoreError, never
//   a crash; records come out only for a genuine file, which then re-encodes to records that
//   decode the same;
// - structured: records built from the input's fields must decode to exactly those records, and
//   after any one change the input chooses (a flipped bit, a cut, an extra byte) the file must
//   be refused.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import CredentialCache
import FuzzSupport

let key = [UInt8](repeating: 0x4B, count: 32)

func text(_ input: inout FuzzInput) -> String {
    String(decoding: input.take(until: 0) ?? [], as: UTF8.self)
}

func seconds(_ input: inout FuzzInput) -> Date {
    var raw: UInt64 = 0
    for _ in 0..<4 { raw = raw << 8 | UInt64(input.byte()) }
    return Date(timeIntervalSince1970: Double(raw))
}

fuzz { input in
    if input.byte() & 1 == 0 {
        let bytes = input.rest()
        guard let records = try? AccessKeyFile.decode(bytes, key: key, path: "fuzz") else { return }
        guard let again = try? AccessKeyFile.encode(records, key: key) else {
            invariant(false, "a decoded store does not encode again")
            return
        }
        invariant((try? AccessKeyFile.decode(again, key: key, path: "fuzz")) == records, "re-encoded store decodes differently")
        return
    }
    var records: [StoredAccessKey] = []
    var seen = Set<String>()
    for _ in 0..<input.int(in: 1...3) {
        let profile = text(&input)
        guard AccessKeyFile.isValidProfileName(profile), seen.insert(profile).inserted else { return }
        var record = StoredAccessKey(profile: profile, accessKeyId: text(&input), secretAccessKey: text(&input),
                                     addedAt: seconds(&input))
        switch input.byte() % 4 {
        case 1: record.rotation = .creating(startedAt: seconds(&input), existingKeyIds: [text(&input), text(&input)])
        case 2: record.rotation = .created(accessKeyId: text(&input), secretAccessKey: text(&input))
        case 3: record.rotation = .retiring(oldAccessKeyId: text(&input))
        default: break
        }
        if input.bool() { record.rotatedAt = seconds(&input) }
        records.append(record)
    }
    guard let file = try? AccessKeyFile.encode(records, key: key) else { return }
    invariant((try? AccessKeyFile.decode(file, key: key, path: "fuzz")) == records, "a written store does not read back")
    let position = input.int(in: 0...(file.count - 1))
    var altered = file
    switch input.byte() % 3 {
    case 0: altered[position] ^= 1 << (input.byte() % 8)
    case 1: altered = Array(file[..<position])
    default: altered.append(input.byte())
    }
    invariant((try? AccessKeyFile.decode(altered, key: key, path: "fuzz")) == nil, "an altered store was read")
}
