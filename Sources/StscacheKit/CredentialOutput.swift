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
            out += ",\"Expiration\":" + quoted(RFC3339.format(expiration))
        }
        return out + "}\n"
    }

    /// JSON string literal. AWS values are ASCII, but escape properly anyway.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// RFC 3339 in UTC with a `Z`, second precision: what the SDKs parse in `Expiration`.
enum RFC3339 {
    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
            + "T" + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + "Z"
    }
}
