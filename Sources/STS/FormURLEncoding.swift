/// `application/x-www-form-urlencoded` bodies for the AWS Query protocol, byte for byte as
/// botocore writes them (`botocore.utils.percent_encode_sequence`): RFC 3986 unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) stay, every other UTF-8 byte becomes `%XX` (upper-case hex),
/// so a space is `%20` (never `+`), and `+`, `=`, `&`, `/` are always escaped.
public enum FormURLEncoding {
    public static func percentEncode(_ string: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `name=value` pairs joined with `&`, in the given order.
    public static func encode(_ parameters: [(name: String, value: String)]) -> String {
        parameters.map { "\(percentEncode($0.name))=\(percentEncode($0.value))" }.joined(separator: "&")
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
