// session-display: the header-to-text path of `prompt` and `list` — what a cache file that
// anyone could have written (headers are plaintext) becomes on the user's terminal:
//   EntryFormat.parseHeader(bytes)                      (CredentialCache, @testable)
//   EntryFormat.authenticate(bytes, key:)               (list's verification)
//   PromptCommand.text(for:profile:template:now:policy:)
//   ListCommand.row(_:profiles:now:policy:) -> cells / table / tabSeparated / json
//
// Two modes, by the first byte:
// - raw: the rest is a cache file as found on disk;
// - structured: a format-2 header is built from the input's fields (any 64-bit times, any
//   bytes for role and session), so every input reaches the display code.
// Either way the clock ("now") and the refresh window come from the input too.
//
// Invariants: nothing traps (a 2^63-1 expiry did, in prompt and list); no output carries a
// control character, DEL, a C1 control or a bidirectional override, except the newline that
// ends a line and the tabs between TSV cells; a TSV row is one line of six cells; an entry
// built with a key nobody else has never authenticates under the harness's key.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import CredentialCache
import FuzzSupport
@testable import StscacheCommands

let key = [UInt8](repeating: 0x4B, count: 32)

func int64(_ input: inout FuzzInput) -> Int64 {
    input.take(exactly: 8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
}

/// A format-2 entry: header from the fields, a body of junk (it never authenticates).
func structuredEntry(_ input: inout FuzzInput) -> [UInt8] {
    func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    let issuedAt = input.bool() ? int64(&input) : Int64(input.int(in: 0...0xFFFF)) * 60_000
    let expiration = input.bool() ? int64(&input) : issuedAt &+ Int64(input.int(in: 0...0xFFFF))
    let role = Array((input.take(until: 0) ?? []).prefix(2000))
    let session = Array((input.take(until: 0) ?? []).prefix(2000))
    let digest = input.take(exactly: 32)
    var header = Array("STSCACHE".utf8) + [2]
    let length = 8 + 1 + 2 + 32 + 8 + 8 + 8 + 32 + 2 + role.count + 2 + session.count
    header += be(UInt16(length)) + digest + EntryFormat.keyId(of: key) + be(issuedAt) + be(expiration)
    header += [UInt8](repeating: 0, count: 32) + be(UInt16(role.count)) + role + be(UInt16(session.count)) + session
    return header + input.take(exactly: 12 + 16) + input.rest()
}

func isDisplaySafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return false
    default: return true
    }
}

func checkText(_ text: String, allowing allowed: Set<Unicode.Scalar>, _ what: String) {
    for scalar in text.unicodeScalars where !isDisplaySafe(scalar) && !allowed.contains(scalar) {
        invariant(false, "\(what) shows U+\(String(scalar.value, radix: 16)) raw")
    }
}

fuzz { input in
    let structured = input.bool()
    let now = Date(timeIntervalSince1970: Double(int64(&input)) / Double(1 << input.int(in: 0...40)))
    let policy = RefreshPolicy(window: Double(input.int(in: 0...0xFFFF)))
    let template = input.bool()
        ? "{profile} {role_arn} {session} {remaining} {seconds} {expires} {state}"
        : String(decoding: input.take(until: 0) ?? [], as: UTF8.self)
    let bytes = structured ? structuredEntry(&input) : input.rest()

    guard case .success(let parsed) = EntryFormat.parseHeader(bytes) else { return }
    let header = parsed.header
    // Whatever parses, the display code gets: it must neither trap nor leak control codes.
    let prompt = PromptCommand.text(for: header, profile: "prod\u{1b}[31m", template: "{profile} {role_arn} {session} "
                                    + "{remaining} {seconds} {expires} {state}", now: now, policy: policy)
    checkText(prompt, allowing: [], "prompt")
    _ = PromptCommand.text(for: header, profile: "p", template: template, now: now, policy: policy)

    if case .success = EntryFormat.authenticate(bytes, key: key) {
        invariant(!structured, "a header with a junk body authenticated")
    }
    let listing = CacheListing(stem: header.stem, path: "/cache/" + header.stem + ".entry", header: header, problem: nil)
    for verified in [false, true] {
        var shown = listing
        shown.verified = verified
        let row = ListCommand.row(shown, profiles: ["prod", "a\u{7}b"], now: now, policy: policy)
        invariant(verified || row.state == "unverified", "an unverified header shown as \(row.state)")
        let tsv = ListCommand.tabSeparated([row])
        checkText(tsv, allowing: ["\t", "\n"], "list (TSV)")
        invariant(tsv.split(separator: "\n", omittingEmptySubsequences: false).count == 2, "a TSV row split in two")
        invariant(tsv.dropLast().split(separator: "\t", omittingEmptySubsequences: false).count == 6,
                  "a TSV row without six cells")
        checkText(ListCommand.table([row]), allowing: ["\n"], "list (table)")
        checkText(ListCommand.json([row]), allowing: ["\n"], "list --json")
    }
}
