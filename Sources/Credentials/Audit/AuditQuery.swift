#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StscacheSupport

/// A record read back from the audit log (`stscache log`). The log is a file anyone running as
/// the user can write, so a line is input from outside: a line that is not one whole record of
/// a known version (or is longer than any record stscache writes) is skipped, and whoever prints
/// a field escapes it.
package struct AuditEntry: Decodable, Equatable, Sendable {
    package var v: Int
    package var time: String
    package var command: String
    package var profile: String
    package var roleArn: String
    package var sessionName: String?
    package var accessKeyId: String
    package var expiration: String?
    package var origin: String?
    package var scope: String?
    package var caller: Caller?

    package struct Caller: Decodable, Equatable, Sendable {
        package var pid: Int?
        package var exe: String?
        package var args: [String]?
        package var argc: Int?
        package var cwd: String?
        package var unknown: String?
    }

    /// When it happened, from `time`; records whose time does not parse are skipped.
    package var date: Date { Timestamps.parseRFC3339(time) ?? Date(timeIntervalSince1970: 0) }

    /// The records in `bytes` (the log's lines, older first) and how many lines were skipped.
    package static func parse(_ bytes: [UInt8]) -> (entries: [AuditEntry], skipped: Int) {
        let decoder = JSONDecoder()
        var entries: [AuditEntry] = []
        var skipped = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard line.count <= 2 * AuditLogLimits.line,
                  let entry = try? decoder.decode(AuditEntry.self, from: Data(line)),
                  entry.v == 1, Timestamps.parseRFC3339(entry.time) != nil
            else {
                skipped += 1
                continue
            }
            entries.append(entry)
        }
        return (entries, skipped)
    }

    /// The caller as one line of text: `pid 123 /usr/bin/python3 aws s3 ls (in /home/me)`.
    package var callerText: String {
        guard let caller else { return "-" }
        if let unknown = caller.unknown { return "unknown (\(unknown))" }
        var parts: [String] = []
        if let pid = caller.pid { parts.append("pid \(pid)") }
        if let exe = caller.exe { parts.append(exe) }
        let args = caller.args ?? []
        // argv[0] usually repeats the executable: shown from argv[1] on, unless it is all there is.
        let shown = args.count > 1 ? Array(args.dropFirst()) : args
        parts += shown
        if let argc = caller.argc, argc > args.count { parts.append("… (\(argc - args.count) more)") }
        if let cwd = caller.cwd { parts.append("(in \(cwd))") }
        return parts.joined(separator: " ")
    }

    /// The entry as one line of JSON, every string re-escaped (`--json`).
    package var json: String {
        func field(_ name: String, _ value: String?) -> String {
            value.map { ",\"\(name)\":" + JSONText.quoted($0) } ?? ""
        }
        var out = "{\"v\":\(v),\"time\":" + JSONText.quoted(time) + field("command", command) + field("profile", profile)
            + field("roleArn", roleArn) + field("sessionName", sessionName) + field("accessKeyId", accessKeyId)
            + field("expiration", expiration) + field("origin", origin) + field("scope", scope)
        if let caller {
            var inner: [String] = []
            if let pid = caller.pid { inner.append("\"pid\":\(pid)") }
            if let exe = caller.exe { inner.append("\"exe\":" + JSONText.quoted(exe)) }
            if let args = caller.args { inner.append("\"args\":[" + args.map(JSONText.quoted).joined(separator: ",") + "]") }
            if let argc = caller.argc { inner.append("\"argc\":\(argc)") }
            if let cwd = caller.cwd { inner.append("\"cwd\":" + JSONText.quoted(cwd)) }
            if let unknown = caller.unknown { inner.append("\"unknown\":" + JSONText.quoted(unknown)) }
            out += ",\"caller\":{" + inner.joined(separator: ",") + "}"
        }
        return out + "}"
    }
}

/// The limit the reader applies (twice the writer's, so nothing stscache wrote is skipped).
enum AuditLogLimits {
    static let line = 4096
}

/// `stscache log`'s filters; each that is set must match.
package struct AuditQuery: Equatable, Sendable {
    package var since: Date?
    package var profile: String?
    /// Exact (case-insensitive: people retype key ids).
    package var keyId: String?
    /// A substring of the caller's executable or arguments.
    package var caller: String?

    package init(since: Date? = nil, profile: String? = nil, keyId: String? = nil, caller: String? = nil) {
        (self.since, self.profile, self.keyId, self.caller) = (since, profile, keyId, caller)
    }

    package func matches(_ entry: AuditEntry) -> Bool {
        if let since, entry.date < since { return false }
        if let profile, entry.profile != profile { return false }
        if let keyId, entry.accessKeyId.uppercased() != keyId.trimmingWhitespace().uppercased() { return false }
        if let caller {
            let fields = [entry.caller?.exe] + (entry.caller?.args ?? []).map(Optional.some)
            guard fields.contains(where: { $0?.contains(caller) ?? false }) else { return false }
        }
        return true
    }

    /// `--since`: a duration back from `now` (`90s`, `15m`, `2h`, `3d`) or an RFC 3339 time.
    package static func since(_ text: String, now: Date) throws(UsageError) -> Date {
        let trimmed = text.trimmingWhitespace()
        if let date = Timestamps.parseRFC3339(trimmed) { return date }
        var seconds: Double?
        if trimmed.hasSuffix("d"), let days = parseDuration(String(trimmed.dropLast()) + "h") { seconds = days * 24 }
        else { seconds = parseDuration(trimmed) }
        guard let seconds else {
            throw UsageError(.invalidSetting, "--since '\(TerminalText.escaped(oneLine(trimmed)))' is neither a duration "
                                + "(90s, 15m, 2h, 3d) nor a time (2026-01-31T09:00:00Z)")
        }
        return now.addingTimeInterval(-seconds)
    }
}
