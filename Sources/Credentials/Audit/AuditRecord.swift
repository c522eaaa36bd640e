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
    package func line() -> [UInt8] {
        var text = encoded(withArguments: true)
        if text.utf8.count > AuditLogFile.lineLimit { text = encoded(withArguments: false) }
        return Array(text.utf8)
    }

    private func encoded(withArguments: Bool) -> String {
        var out = "{\"v\":1,\"time\":\"" + Timestamps.formatRFC3339(time) + "\",\"command\":\"" + command.rawValue
        out += "\",\"profile\":" + Self.string(profile, limit: FieldLimit.profile)
        out += ",\"roleArn\":" + Self.string(roleArn, limit: FieldLimit.roleArn)
        out += ",\"sessionName\":" + Self.string(sessionName, limit: FieldLimit.short)
        out += ",\"accessKeyId\":" + Self.string(accessKeyId, limit: FieldLimit.short)
        if let expiration { out += ",\"expiration\":\"" + Timestamps.formatRFC3339(expiration) + "\"" }
        out += ",\"origin\":\"" + origin.rawValue + "\""
        if let scope { out += ",\"scope\":" + Self.string(scope, limit: FieldLimit.scope) }
        switch caller {
        case .unknown(let reason):
            out += ",\"caller\":{\"unknown\":" + Self.string(reason, limit: FieldLimit.short) + "}"
        case .process(let process):
            out += ",\"caller\":{\"pid\":" + String(process.pid)
            if let executable = process.executable { out += ",\"exe\":" + Self.string(executable, limit: FieldLimit.path) }
            out += ",\"args\":["
            if withArguments {
                for (index, argument) in process.arguments.enumerated() {
                    if index > 0 { out += "," }
                    out += Self.string(argument, limit: FieldLimit.argument)
                }
            }
            out += "],\"argc\":" + String(process.argumentCount)
            if let cwd = process.cwd { out += ",\"cwd\":" + Self.string(cwd, limit: FieldLimit.path) }
            out += "}"
        }
        return out + "}\n"
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
