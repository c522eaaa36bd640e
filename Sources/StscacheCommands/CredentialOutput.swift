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
import SigV4
import StscacheSupport
import Credentials

/// The Version-1 document `credential_process` consumers read (botocore's
/// `ProcessProvider`, the Go/Java/Rust SDKs). One line, keys in the documented order.
enum CredentialOutput {
    static func json(_ credentials: AWSCredentials) -> String {
        var out = "{\"Version\":1,\"AccessKeyId\":" + quoted(credentials.accessKeyId)
        out += ",\"SecretAccessKey\":" + quoted(credentials.secretAccessKey)
        if let token = credentials.sessionToken {
            out += ",\"SessionToken\":" + quoted(token)
        }
        if let expiration = credentials.expiration {
            out += ",\"Expiration\":" + quoted(Timestamps.formatRFC3339(expiration))
        }
        return out + "}\n"
    }

    /// JSON string literal. AWS values are ASCII, but escape properly anyway; besides what JSON
    /// requires, DEL, C1 controls and bidirectional overrides are written as `\u` escapes, so
    /// `list --json | jq -r` cannot put them on a terminal either.
    static func quoted(_ value: String) -> String {
        // The common case, in one piece: appending a 1 KB session token scalar by scalar was
        // 400K instructions, a tenth of a cache hit.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where TerminalText.needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
