// SigV4.sign on arbitrary requests: never crashes, deterministic, and the headers it returns
// are well formed. Input: method line, URL line, `name:value` header lines, an empty line,
// then the body. The date comes from the first bytes; the credentials are fixed.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import FuzzSupport
import SigV4

/// HTTP token characters (RFC 9110 `tchar`).
func isToken(_ bytes: [UInt8]) -> Bool {
    !bytes.isEmpty && bytes.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

func isLowerHex(_ text: Substring) -> Bool {
    text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
}

/// The X-Amz-Date a correct calendar gives (proleptic Gregorian, UTC). Dates from 1970 on, so
/// Foundation's Julian/Gregorian cut-over in 1582 plays no part.
let referenceFormat = Date.ISO8601FormatStyle(dateSeparator: .omitted, dateTimeSeparator: .standard,
                                              timeSeparator: .omitted, timeZone: .gmt)

let unsignedNames: Set<String> = ["authorization", "expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"]

fuzz { input in
    // 1970-01-01 ... 9999-12-31T23:59:59Z, whole seconds plus a fraction the signer must drop.
    var raw: UInt64 = 0
    for _ in 0..<5 { raw = raw << 8 | UInt64(input.byte()) }
    let seconds = Double(raw % 253_402_300_800)
    let date = Date(timeIntervalSince1970: seconds + Double(input.byte()) / 256)
    let withToken = input.bool()

    let method = String(decoding: input.take(until: UInt8(ascii: "\n")) ?? [], as: UTF8.self)
    let url = String(decoding: input.take(until: UInt8(ascii: "\n")) ?? [], as: UTF8.self)
    var headers: [(name: String, value: String)] = []
    var namesAreTokens = true
    while let line = input.take(until: UInt8(ascii: "\n")), !line.isEmpty {
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
        let name = Array(line[..<colon])
        let value = colon < line.count ? Array(line[(colon + 1)...]) : []
        namesAreTokens = namesAreTokens && isToken(name)
        headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }
    let body = input.rest()

    let credentials = AWSCredentials(
        accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        sessionToken: withToken ? "session-token" : nil)
    let signed = SigV4.sign(method: method, url: url, headers: headers, body: body,
                            credentials: credentials, region: "us-east-1", service: "sts", date: date)
    let again = SigV4.sign(method: method, url: url, headers: headers, body: body,
                           credentials: credentials, region: "us-east-1", service: "sts", date: date)
    invariant(signed.map(\.name) == again.map(\.name) && signed.map(\.value) == again.map(\.value),
              "sign is not deterministic")

    let expectedNames = withToken ? ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
                                  : ["X-Amz-Date", "Authorization"]
    invariant(signed.map(\.name) == expectedNames, "sign returned headers \(signed.map(\.name))")

    let amzDate = signed[0].value
    let reference = referenceFormat.format(date)
    invariant(amzDate == reference, "X-Amz-Date \(amzDate) for \(seconds), expected \(reference)")

    let authorization = signed[signed.count - 1].value
    let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\(amzDate.prefix(8))/us-east-1/sts/aws4_request, SignedHeaders="
    invariant(authorization.hasPrefix(prefix), "Authorization \(authorization.debugDescription)")
    guard namesAreTokens else { return }
    // With token names, `SignedHeaders=a;b;c, Signature=<64 hex>` splits unambiguously.
    let rest = authorization.dropFirst(prefix.count)
    let parts = rest.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
    invariant(parts.count == 2 && parts[1].hasPrefix(" Signature="), "Authorization \(authorization.debugDescription)")
    let signature = parts[1].dropFirst(" Signature=".count)
    invariant(signature.utf8.count == 64 && isLowerHex(signature), "signature \(signature.debugDescription)")
    let names = parts[0].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
    invariant(zip(names, names.dropFirst()).allSatisfy { $0.utf8.lexicographicallyPrecedes($1.utf8) },
              "SignedHeaders not sorted and unique: \(names)")
    invariant(names.allSatisfy { $0 == $0.lowercased() && !unsignedNames.contains($0) }, "SignedHeaders \(names)")
    invariant(names.contains("host") && names.contains("x-amz-date"), "SignedHeaders \(names)")
    invariant(names.contains("x-amz-security-token") == withToken, "SignedHeaders \(names)")
}
