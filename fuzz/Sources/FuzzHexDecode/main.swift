// Hex.decode on arbitrary text: nil or the exact bytes, never a crash; and Hex.encode's output
// always decodes back.
import FuzzSupport
import OpenSSLCrypto

func isHexDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
}

fuzz { input in
    let text = input.text
    let utf8 = Array(text.utf8)
    let wellFormed = utf8.count % 2 == 0 && utf8.allSatisfy(isHexDigit)
    if let decoded = Hex.decode(text) {
        invariant(wellFormed, "decoded \(text.debugDescription)")
        invariant(decoded.count * 2 == utf8.count, "\(text.debugDescription) decoded to \(decoded.count) bytes")
        invariant(Hex.encode(decoded) == text.lowercased(), "\(text.debugDescription) does not re-encode to itself")
    } else {
        invariant(!wellFormed, "rejected well-formed hex \(text.debugDescription)")
    }

    let encoded = Hex.encode(input.bytes)
    invariant(encoded.utf8.count == 2 * input.bytes.count, "encode length")
    invariant(Hex.decode(encoded) == input.bytes, "decode(encode(x)) != x")
}
