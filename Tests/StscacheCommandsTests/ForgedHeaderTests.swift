import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// Cache files someone else wrote (a process of the same user, a restored backup): headers are
/// plaintext, so anything in them may be hostile.
@Suite("Forged entry headers in list and prompt", .testHome())
struct ForgedHeaderTests {
    let home = TestHome.current

    static let hostileRole = "arn:aws:iam::123456789012:role/Admin\u{1b}]0;owned\u{07}\u{1b}[2J\u{202e}nimda"

    /// A version-2 header claiming `roleArn`, valid for a year, with the key id of a genuine
    /// entry (so only the tag can tell), followed by a body that is not a real ciphertext.
    static func forgedEntry(stem: String, keyIdFrom genuine: [UInt8], roleArn: String, session: String = "alice",
                            expiration: Int64 = 1_931_536_000) -> [UInt8] {
        func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        let role = Array(roleArn.utf8), name = Array(session.utf8)
        let digest = stride(from: 0, to: 64, by: 2).map { i -> UInt8 in
            let start = stem.index(stem.startIndex, offsetBy: i)
            return UInt8(stem[start ..< stem.index(start, offsetBy: 2)], radix: 16)!
        }
        var header = Array("STSCACHE".utf8) + [2]
        let length = 8 + 1 + 2 + 32 + 8 + 8 + 8 + 32 + 2 + role.count + 2 + name.count
        header += be(UInt16(length)) + digest + Array(genuine[43..<51]) + be(Int64(1_899_996_400)) + be(expiration)
        header += [UInt8](repeating: 0, count: 32) + be(UInt16(role.count)) + role + be(UInt16(name.count)) + name
        return header + [UInt8](repeating: 0x41, count: 12 + 40 + 16)
    }

    /// Caches prod-role's session and writes a forged entry beside it; returns the forgery's path.
    func forge() throws -> String {
        let key = try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        let genuine = Array(try Data(contentsOf: URL(fileURLWithPath: home.entryPath(key))))
        let stem = String(repeating: "cd", count: 32)
        let forged = home.cacheDirectory + "/" + stem + ".entry"
        try Data(Self.forgedEntry(stem: stem, keyIdFrom: genuine, roleArn: Self.hostileRole)).write(to: URL(fileURLWithPath: forged))
        return forged
    }

    func hasControlOrBidi(_ text: String) -> Bool {
        text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
            || (0x202A...0x202E).contains($0.value) }
    }

    @Test("with the key at hand a forged header fails authentication: unreadable, never valid, its text not shown")
    func forgedWithKey() throws {
        let forged = try forge()
        for terminal in [true, false] {
            let result = home.run(["list"], terminal: terminal)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!hasControlOrBidi(result.stdout))
            #expect(!result.stdout.contains("owned"))
            let line = try #require(result.stdout.split(separator: "\n").first { $0.contains(forged) })
            #expect(line.contains("unreadable (entry failed authentication (altered))"))
        }
        let array = try #require(JSONSerialization.jsonObject(with: Data(home.run(["list", "--json"]).stdout.utf8)) as? [[String: Any]])
        let genuine = try #require(array.first { $0["roleArn"] as? String == prodRoleArn })
        #expect(genuine["state"] as? String == "valid" && genuine["verified"] as? Bool == true)
        let fake = try #require(array.first { $0["file"] as? String == forged })
        #expect(fake["state"] as? String == "unreadable" && fake["verified"] as? Bool == false)
    }

    @Test("without the key every entry is unverified, and the forged text is shown escaped")
    func forgedWithoutKey() throws {
        let forged = try forge()
        home.environment["STSCACHE_CACHE_KEY"] = nil
        home.environment["STSCACHE_KEY_STORE"] = "env"
        let table = home.run(["list"], terminal: true)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(!hasControlOrBidi(table.stdout))
        #expect(table.stdout.contains(#"Admin\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}nimda"#), "\(table.stdout)")
        #expect(!table.stdout.contains("valid ") && !table.stdout.hasSuffix("valid\n"))
        #expect(table.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.hasSuffix("unverified") })
        let tsv = home.run(["list"])
        // One line per entry: an escaped header cannot split a row or add a column.
        #expect(tsv.stdout.split(separator: "\n").count == 2)
        #expect(tsv.stdout.split(separator: "\n").allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 6 })
        let json = home.run(["list", "--json"]).stdout
        #expect(!hasControlOrBidi(json))
        let array = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(array.first { $0["file"] as? String == forged }?["roleArn"] as? String == Self.hostileRole)
        #expect(array.allSatisfy { $0["state"] as? String == "unverified" && $0["verified"] as? Bool == false })
    }

    @Test("a header claiming an expiry of 2^63-1 (or before 1970) is silence for prompt and unreadable for list, not a trap",
          arguments: [Int64.max, Int64.min, -1, 253_402_300_800])
    func outOfRangeExpiry(expiration: Int64) throws {
        let key = try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: home.entryPath(key))))
        bytes.replaceSubrange(59..<67, with: withUnsafeBytes(of: expiration.bigEndian) { Array($0) })
        try Data(bytes).write(to: URL(fileURLWithPath: home.entryPath(key)))
        let prompt = home.run(["prompt", "--profile", "prod"])
        #expect(prompt.status == 0 && prompt.stdout == "")
        #expect(home.run(["prompt", "--profile", "prod", "--verbose"]).stderr.contains("no readable cached session"))
        let list = home.run(["list"])
        #expect(list.status == 0 && list.stdout.contains("unreadable (entry malformed)"), "\(list.stdout)")
    }

    @Test("prompt escapes control characters in the profile name it shows")
    func promptEscapes() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        let text = PromptCommand.text(
            for: EntryHeader(formatVersion: 2, roleArn: Self.hostileRole, sessionName: "a\u{1b}[0m", expiration: now + 60,
                             issuedAt: now - 60, keyId: "", stem: "", principal: []),
            profile: "p\u{7}", template: "{profile} {role_arn} {session} {remaining}", now: now, policy: RefreshPolicy())
        #expect(!hasControlOrBidi(text))
        #expect(text.hasPrefix(#"p\u{7} "#) && text.hasSuffix(#"a\u{1b}[0m 1m"#), "\(text)")
    }
}
