// The signer's URL handling on arbitrary text: RequestTarget(url:), canonicalURI and
// canonicalQueryString must never crash and must always produce what SigV4 allows.
import FuzzSupport
import SigV4

/// `A-Z a-z 0-9 - _ . ~`: the bytes SigV4 leaves unencoded.
func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

func isUpperHex(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
}

/// Unreserved bytes and `%XX` (upper-case hex) only.
func isPercentEncoded(_ bytes: ArraySlice<UInt8>) -> Bool {
    var index = bytes.startIndex
    while index < bytes.endIndex {
        if bytes[index] == UInt8(ascii: "%") {
            guard bytes.endIndex - index >= 3, isUpperHex(bytes[index + 1]), isUpperHex(bytes[index + 2]) else {
                return false
            }
            index += 3
        } else {
            guard isUnreserved(bytes[index]) else { return false }
            index += 1
        }
    }
    return true
}

func checkCanonicalURI(_ uri: String, from path: String) {
    let bytes = Array(uri.utf8)
    invariant(!bytes.isEmpty, "canonicalURI(\(path.debugDescription)) is empty")
    if path.utf8.first == UInt8(ascii: "/") || path.isEmpty {
        invariant(bytes.first == UInt8(ascii: "/"), "canonicalURI(\(path.debugDescription)) = \(uri.debugDescription) lost the leading /")
    }
    if bytes == [UInt8(ascii: "/")] { return }
    let segments = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    for (index, segment) in segments.enumerated() {
        // Only the leading and trailing slash may produce an empty piece: no "//".
        if segment.isEmpty {
            invariant(index == 0 || index == segments.count - 1,
                      "canonicalURI(\(path.debugDescription)) = \(uri.debugDescription) has an empty segment")
            continue
        }
        invariant(!segment.elementsEqual(".".utf8) && !segment.elementsEqual("..".utf8),
                  "canonicalURI(\(path.debugDescription)) = \(uri.debugDescription) kept a dot segment")
        invariant(isPercentEncoded(segment),
                  "canonicalURI(\(path.debugDescription)) = \(uri.debugDescription) has an unencoded byte")
    }
}

func checkCanonicalQuery(_ canonical: String, from query: String) {
    if canonical.isEmpty { return }
    for pair in Array(canonical.utf8).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
        let parts = pair.split(separator: UInt8(ascii: "="), omittingEmptySubsequences: false)
        invariant(parts.count == 2, "canonicalQueryString(\(query.debugDescription)) = \(canonical.debugDescription): a pair without exactly one =")
        invariant(parts.allSatisfy(isPercentEncoded),
                  "canonicalQueryString(\(query.debugDescription)) = \(canonical.debugDescription) has an unencoded byte")
    }
    // Decoding then re-encoding canonical pairs changes nothing, and they are already sorted.
    invariant(SigV4.canonicalQueryString(canonical) == canonical,
              "canonicalQueryString is not idempotent on \(query.debugDescription): \(canonical.debugDescription)")
}

fuzz { input in
    let text = input.text

    let target = SigV4.RequestTarget(url: text)
    for byte in target.host.utf8 {
        invariant(byte != UInt8(ascii: "/") && byte != UInt8(ascii: "?") && byte != UInt8(ascii: "#"),
                  "RequestTarget(url: \(text.debugDescription)).host = \(target.host.debugDescription)")
    }
    invariant(target.path.isEmpty || target.path.utf8.first == UInt8(ascii: "/"),
              "RequestTarget(url: \(text.debugDescription)).path = \(target.path.debugDescription)")
    invariant(!target.path.utf8.contains(UInt8(ascii: "?")) && !target.path.utf8.contains(UInt8(ascii: "#")),
              "RequestTarget(url: \(text.debugDescription)).path = \(target.path.debugDescription)")
    invariant(!target.query.utf8.contains(UInt8(ascii: "#")),
              "RequestTarget(url: \(text.debugDescription)).query = \(target.query.debugDescription)")

    for path in [text, target.path] {
        checkCanonicalURI(SigV4.canonicalURI(path), from: path)
    }
    for query in [text, target.query] {
        checkCanonicalQuery(SigV4.canonicalQueryString(query), from: query)
    }
}
