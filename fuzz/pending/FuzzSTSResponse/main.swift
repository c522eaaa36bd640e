// PENDING (not built yet): needs STS's response decoder —
//   STSResponseDecoder.decodeAssumeRole / .decodeAssumeRoleWithWebIdentity /
//     .decodeGetSessionToken (_ body: [UInt8]) throws -> STSCredentialsResult
//   STSResponseDecoder.decodeError(_ body: [UInt8]) throws -> STSErrorDocument
//   STSError (code, message, description) as the only error thrown
// Wiring it in: fuzz/README.md, "Wiring in a pending target".
//
// Any bytes as an STS response body: each decoder returns a result or throws
// STSError `sts.malformed-response` — no crash, bounded time and memory (XML bombs, deep
// nesting, huge text) — and neither the error message nor a result's description shows the
// secret access key or session token that was in the body.
//
// The secret check is differential, so a secret that happens to equal words of a message
// template (`AssumeRoleWithWebIdentity`) is no false alarm: the body is decoded twice, the
// second time with each secret replaced by a different string of the same length and
// alphabet, and a message leaks only if it carries whichever secret its body held.
import FuzzSupport
import STS

/// Base64 characters, the alphabet of real secret keys and session tokens: swapping one such
/// string for another never changes how the XML around it parses.
func isSecretCharacter(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
}

/// Where `pattern` starts in `body` at or after `from` (a plain loop: the generic collection
/// search costs a tenth of the fuzzer's speed here).
func find(_ pattern: some Collection<UInt8>, in body: [UInt8], from: Int = 0) -> Int? {
    let pattern = Array(pattern)
    guard !pattern.isEmpty, body.count >= pattern.count, from <= body.count - pattern.count else { return nil }
    outer: for start in from...(body.count - pattern.count) {
        for offset in 0..<pattern.count where body[start + offset] != pattern[offset] { continue outer }
        return start
    }
    return nil
}

/// Every `<SecretAccessKey>` / `<SessionToken>` text of 16 or more base64 characters that
/// occurs once in the body: (its range, its replacement).
func secrets(in body: [UInt8]) -> [(range: Range<Int>, replacement: [UInt8])] {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var found: [(range: Range<Int>, replacement: [UInt8])] = []
    for tag in ["SecretAccessKey", "SessionToken"] {
        let open = Array("<\(tag)>".utf8), close = Array("</\(tag)>".utf8)
        var from = 0
        while let openAt = find(open, in: body, from: from), let end = find(close, in: body, from: openAt + open.count) {
            let start = openAt + open.count
            from = end
            let value = body[start..<end]
            guard value.count >= 16, value.allSatisfy(isSecretCharacter),
                  let first = find(value, in: body), find(value, in: body, from: first + 1) == nil else { continue }
            // A → B, ..., z → 0, ..., 9 → +, + → /, / → A: every byte changes, the alphabet stays.
            let replacement = value.map { alphabet[(alphabet.firstIndex(of: $0)! + 1) % alphabet.count] }
            found.append((start..<end, replacement))
        }
    }
    return found
}

/// What a decoder shows for a body: the error's message and description, or the result's description.
func shown(_ decode: ([UInt8]) throws -> Any, _ body: [UInt8], _ action: String) -> String {
    do {
        let result = try decode(body)
        if let credentials = result as? STSCredentialsResult {
            invariant(!credentials.credentials.accessKeyId.isEmpty && !credentials.credentials.secretAccessKey.isEmpty
                      && !(credentials.credentials.sessionToken ?? "").isEmpty, "\(action) decoded empty credentials")
            return credentials.description
        }
        if let document = result as? STSErrorDocument {
            invariant(!document.code.isEmpty, "decodeError returned an empty code")
        }
        return ""
    } catch let error as STSError {
        invariant(error.code == "sts.malformed-response", "\(action) threw \(error.code) for a body")
        return error.message + "\n" + error.description
    } catch {
        invariant(false, "\(action) threw \(type(of: error)), not STSError")
        return ""
    }
}

let decoders: [(String, ([UInt8]) throws -> Any)] = [
    ("AssumeRole", STSResponseDecoder.decodeAssumeRole),
    ("AssumeRoleWithWebIdentity", STSResponseDecoder.decodeAssumeRoleWithWebIdentity),
    ("GetSessionToken", STSResponseDecoder.decodeGetSessionToken),
    ("decodeError", STSResponseDecoder.decodeError),
]

fuzz { input in
    let body = input.bytes
    let hidden = secrets(in: body)
    var swapped = body
    for secret in hidden { swapped.replaceSubrange(secret.range, with: secret.replacement) }
    for (action, decode) in decoders {
        let text = shown(decode, body, action)
        guard !hidden.isEmpty else { continue }
        let swappedText = shown(decode, swapped, action)
        for secret in hidden {
            let original = String(decoding: body[secret.range], as: UTF8.self)
            let replacement = String(decoding: secret.replacement, as: UTF8.self)
            invariant(!(text.contains(original) && swappedText.contains(replacement)),
                      "\(action) shows a secret: \(text)")
        }
    }
}
