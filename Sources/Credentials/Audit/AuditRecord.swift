#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache
import SigV4
import StscacheSupport

/// One hand-out as the audit log keeps it: one JSON line, written by hand (no Foundation
/// encoder on the cache-hit path), every string escaped and bounded so the line stays under
/// `AuditLogFile.lineLimit`. Never a secret: the access key id is the only part of the
/// credentials it holds (CloudTrail shows it, and it is what `stscache log --key-id` finds).
///
/// The format (docs/audit.md) is versioned (`"v":1`); readers ignore fields they do not know,
/// so a later field (the session policy scope of issue 22's scoped sessions) is added, not
/// changed: `scope` is written when set and read back by `stscache log` already.
package struct AuditRecord: Equatable, Sendable {
    package enum Command: String, Sendable, CaseIterable {
        case credentialProcess = "credential-process"
        case export
        case exec
        case endpoint
        case console
    }

    package enum Caller: Equatable, Sendable {
        case process(AuditCaller)
        /// Not found; the reason ("socket owner not found").
        case unknown(String)
    }

    package var time: Date
    package var command: Command
    /// The profile the caller named.
    package var profile: String
    package var roleArn: String
    package var sessionName: String
    package var accessKeyId: String
    package var expiration: Date?
    package var origin: CredentialBroker.Origin
    package var caller: Caller
    /// The session policy the credentials were scoped by, when they were (reserved).
    package var scope: String?

    package init(time: Date, command: Command, profile: String, roleArn: String, sessionName: String,
                 accessKeyId: String, expiration: Date?, origin: CredentialBroker.Origin, caller: Caller,
                 scope: String? = nil) {
        self.time = time
        self.command = command
        self.profile = profile
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.accessKeyId = accessKeyId
        self.expiration = expiration
        self.origin = origin
        self.caller = caller
        self.scope = scope
    }

    /// Escaped bytes per field: with the arguments' share, under `AuditLogFile.lineLimit`.
    enum FieldLimit {
        static let profile = 300
        static let roleArn = 600
        static let short = 150
        static let path = 400
        static let argument = 160
        static let scope = 400
    }

    /// The record as one line of JSON ending in `\n`, at most `AuditLogFile.lineLimit` bytes.
    /// Appended as bytes into one buffer (no string concatenation, no formatter): this runs on
    /// every cache hit.
    package func line() -> [UInt8] {
        let bytes = encoded(withArguments: true)
        return bytes.count > AuditLogFile.lineLimit ? encoded(withArguments: false) : bytes
    }

    private func encoded(withArguments: Bool) -> [UInt8] {
        var out = JSONLine()
        out.raw("{\"v\":1,\"time\":")
        out.time(time)
        out.raw(",\"command\":")
        out.string(command.rawValue, limit: FieldLimit.short)
        out.raw(",\"profile\":")
        out.string(profile, limit: FieldLimit.profile)
        out.raw(",\"roleArn\":")
        out.string(roleArn, limit: FieldLimit.roleArn)
        out.raw(",\"sessionName\":")
        out.string(sessionName, limit: FieldLimit.short)
        out.raw(",\"accessKeyId\":")
        out.string(accessKeyId, limit: FieldLimit.short)
        if let expiration {
            out.raw(",\"expiration\":")
            out.time(expiration)
        }
        out.raw(",\"origin\":")
        out.string(origin.rawValue, limit: FieldLimit.short)
        if let scope {
            out.raw(",\"scope\":")
            out.string(scope, limit: FieldLimit.scope)
        }
        switch caller {
        case .unknown(let reason):
            out.raw(",\"caller\":{\"unknown\":")
            out.string(reason, limit: FieldLimit.short)
            out.raw("}")
        case .process(let process):
            out.raw(",\"caller\":{\"pid\":")
            out.integer(Int64(process.pid))
            if let executable = process.executable {
                out.raw(",\"exe\":")
                out.string(executable, limit: FieldLimit.path)
            }
            out.raw(",\"args\":[")
            if withArguments {
                var first = true
                for argument in process.arguments {
                    if !first { out.raw(",") }
                    first = false
                    out.string(argument, limit: FieldLimit.argument)
                }
            }
            out.raw("],\"argc\":")
            out.integer(Int64(process.argumentCount))
            if let cwd = process.cwd {
                out.raw(",\"cwd\":")
                out.string(cwd, limit: FieldLimit.path)
            }
            out.raw("}")
        }
        out.raw("}\n")
        return out.bytes
    }

    /// One line of JSON under construction, as bytes.
    struct JSONLine {
        var bytes: [UInt8] = []

        init() { bytes.reserveCapacity(1024) }

        mutating func raw(_ text: StaticString) {
            text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }

        mutating func string(_ value: String, limit: Int) {
            var plain = true
            var count = 0
            for byte in value.utf8 {
                if byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    plain = false
                    break
                }
                count += 1
            }
            if plain && count <= limit {
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: value.utf8)
                bytes.append(UInt8(ascii: "\""))
            } else {
                bytes.append(contentsOf: AuditRecord.string(value, limit: limit).utf8)
            }
        }

        mutating func integer(_ value: Int64) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            var magnitude = value.magnitude
            var digits: [UInt8] = []
            repeat {
                digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: digits.reversed())
        }

        /// `"2026-12-07T16:41:07Z"`, as `Timestamps.formatRFC3339` writes it.
        mutating func time(_ date: Date) {
            let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
            let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
            let secondOfDay = seconds - days * 86_400
            let (year, month, day) = civilDate(daysSinceEpoch: days)
            guard (0...9999).contains(year) else {
                bytes.append(contentsOf: ("\"" + Timestamps.formatRFC3339(date) + "\"").utf8)
                return
            }
            func two(_ value: Int64) {
                bytes.append(UInt8(ascii: "0") + UInt8(value / 10))
                bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
            }
            bytes.append(UInt8(ascii: "\""))
            two(year / 100)
            two(year % 100)
            bytes.append(UInt8(ascii: "-"))
            two(month)
            bytes.append(UInt8(ascii: "-"))
            two(day)
            bytes.append(UInt8(ascii: "T"))
            two(secondOfDay / 3600)
            bytes.append(UInt8(ascii: ":"))
            two(secondOfDay % 3600 / 60)
            bytes.append(UInt8(ascii: ":"))
            two(secondOfDay % 60)
            bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
        }
    }

    /// A JSON string literal of `value` (escaped as `JSONText.quoted` does: quotes, backslashes,
    /// controls, DEL, C1 and bidi controls), cut to `limit` bytes with `…` when longer.
    package static func string(_ value: String, limit: Int) -> String {
        let utf8 = value.utf8
        if utf8.count <= limit,
           !utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        var out = "\""
        var bytes = 0
        for scalar in value.unicodeScalars {
            var piece: String
            switch scalar {
            case "\"": piece = "\\\""
            case "\\": piece = "\\\\"
            case "\n": piece = "\\n"
            case "\r": piece = "\\r"
            case "\t": piece = "\\t"
            case _ where TerminalText.needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                piece = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                piece = String(scalar)
            }
            bytes += piece.utf8.count
            if bytes > limit {
                out += "…"
                break
            }
            out += piece
        }
        return out + "\""
    }
}
