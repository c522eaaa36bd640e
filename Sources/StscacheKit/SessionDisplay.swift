#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache

/// How `prompt` and `list` describe a cached session's lifetime.
enum SessionDisplay {
    /// Whole seconds left, never negative, never trapping (a clock or a header far off).
    static func remainingSeconds(until expiration: Date, now: Date) -> Int {
        let left = expiration.timeIntervalSince(now).rounded(.down)
        guard left > 0 else { return 0 }
        return left < 1e15 ? Int(left) : 1_000_000_000_000_000
    }

    /// `1h05m`, `42m`, `59s`, `expired`: short enough for a prompt, rounded down so it never
    /// promises more time than there is.
    static func remaining(_ seconds: Int) -> String {
        if seconds <= 0 { return "expired" }
        if seconds < 60 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 60 { return "\(minutes)m" }
        let rest = minutes % 60
        return "\(minutes / 60)h" + (rest < 10 ? "0" : "") + "\(rest)m"
    }

    /// `valid`, `refresh-due` or `expired`, as the broker would judge the entry now: an entry
    /// within a minute of its expiry is already `expired` (stscache will not hand it out).
    static func state(of header: EntryHeader, now: Date, policy: RefreshPolicy) -> String {
        switch policy.decide(now: now, issuedAt: header.issuedAt, expiration: header.expiration) {
        case .fresh: return "valid"
        case .refreshDue: return "refresh-due"
        case .expired: return "expired"
        }
    }

    /// The refresh window `list` and `prompt` judge states with: `STSCACHE_REFRESH_WINDOW`, else
    /// the default. (A `--refresh-window` on a credential_process line is not visible here.)
    static func policy(environment: [String: String]) throws -> RefreshPolicy {
        RefreshPolicy(window: try RefreshWindow.parse(environment["STSCACHE_REFRESH_WINDOW"]))
    }
}

/// Text from files (cache headers, config names, paths) made safe to show on a terminal.
enum TerminalText {
    /// Control characters (C0, DEL, C1), and the bidirectional overrides and isolates that can
    /// make a line read differently from what it holds, as `\u{...}`; a backslash as `\\`, so
    /// the escaping is unambiguous. Everything else is kept, non-ASCII letters included.
    static func escaped(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") || $0 >= 0xC2 }) {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out += "\\\\"
            } else if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}

extension CredentialCache {
    /// The cache directory if it exists (checked as always), nil if nothing was ever cached.
    /// Reading commands never create it.
    static func openExisting(context: Context) throws(CacheError) -> CredentialCache? {
        do {
            return try CredentialCache.open(environment: context.environment, home: context.homeDirectory, create: false)
        } catch {
            if case .directoryMissing = error { return nil }
            throw error
        }
    }
}
