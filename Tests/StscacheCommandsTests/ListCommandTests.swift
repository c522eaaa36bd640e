import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

@Suite("stscache list", .testHome())
struct ListCommandTests {
    let home = TestHome.current

    /// Caches prod-role valid (profiles prod, prod-role), dev-role inside its refresh window
    /// (profiles default, dev-role), and a damaged file, whose path it returns.
    @discardableResult
    func populate() throws -> String {
        try home.cacheSession(for: "prod-role", expiresIn: 42 * 60, lifetime: 3600)
        try home.cacheSession(for: "dev-role", expiresIn: 5 * 60, lifetime: 3600)
        let damaged = home.cacheDirectory + "/" + String(repeating: "ab", count: 32) + ".entry"
        try Data("STSCACHE garbage".utf8).write(to: URL(fileURLWithPath: damaged))
        return damaged
    }

    @Test("--json: one object per entry with the profiles that use it, unreadable ones included")
    func json() throws {
        let damaged = try populate()

        let result = home.run(["list", "--json"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        let array = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 3)
        let prod = try #require(array.first { $0["roleArn"] as? String == prodRoleArn })
        #expect(prod["sessionName"] as? String == "alice")
        #expect(prod["profiles"] as? [String] == ["prod", "prod-role"])
        #expect(prod["expiration"] as? String == "2030-03-17T18:28:40Z")
        #expect(prod["remainingSeconds"] as? Int == 2520)
        #expect(prod["state"] as? String == "valid")
        let dev = try #require(array.first { $0["roleArn"] as? String == devRoleArn })
        #expect(dev["profiles"] as? [String] == ["default", "dev-role"])
        #expect(dev["state"] as? String == "refresh-due")
        #expect(dev["remainingSeconds"] as? Int == 300)
        let broken = try #require(array.last)
        #expect(broken["state"] as? String == "unreadable")
        #expect(broken["file"] as? String == damaged)
        #expect(broken["roleArn"] is NSNull)
        #expect(broken["remainingSeconds"] is NSNull)
        #expect(result.stdout.hasSuffix("]\n"))
    }

    @Test("expired entries say so, with 0 seconds left")
    func expired() throws {
        try home.cacheSession(for: "prod-role", expiresIn: -30)
        let array = try #require(JSONSerialization.jsonObject(with: Data(home.run(["list", "--json"]).stdout.utf8))
            as? [[String: Any]])
        #expect(array.first?["state"] as? String == "expired")
        #expect(array.first?["remainingSeconds"] as? Int == 0)
    }

    @Test("a table with a header on a terminal")
    func table() throws {
        let damaged = try populate()

        let result = home.run(["list"], terminal: true)

        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("ROLE"))
        for column in ["SESSION", "PROFILES", "EXPIRES", "LEFT", "STATE"] { #expect(lines[0].contains(column)) }
        // Columns line up: every row starts its SESSION cell where the header does.
        let sessionColumn = lines[0].range(of: "SESSION")!.lowerBound.utf16Offset(in: lines[0])
        let prodLine = try #require(lines.first { $0.hasPrefix(prodRoleArn) })
        #expect(prodLine.dropFirst(sessionColumn).hasPrefix("alice"))
        // The profile a user selects, not the role half it delegates to (issue 23).
        #expect(prodLine.contains(" prod "))
        #expect(!prodLine.contains("prod-role"))
        #expect(prodLine.contains("2030-03-17T18:28:40Z"))
        #expect(prodLine.contains("42m"))
        #expect(prodLine.hasSuffix("valid"))
        #expect(lines.contains { $0.hasPrefix(devRoleArn) && $0.hasSuffix("refresh-due") })
        #expect(lines[3].hasPrefix(damaged) && lines[3].contains("unreadable"))
        #expect(!result.stdout.contains("\t"))
    }

    @Test("tab-separated lines without a header when stdout is not a terminal")
    func plain() throws {
        try populate()

        let result = home.run(["list"], terminal: false)

        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.count == 6 })
        #expect(lines[0].map(String.init) == [devRoleArn, "alice", "default", "2030-03-17T17:51:40Z", "5m", "refresh-due"]
            || lines[1].map(String.init) == [devRoleArn, "alice", "default", "2030-03-17T17:51:40Z", "5m", "refresh-due"])
        #expect(!result.stdout.contains("ROLE"))
    }

    @Test("an empty or missing cache: [] for scripts, a sentence on a terminal, nothing in a pipe")
    func empty() throws {
        #expect(home.run(["list", "--json"]).stdout == "[]\n")
        #expect(home.run(["list"], terminal: true).stdout == "No cached sessions.\n")
        let piped = home.run(["list"])
        #expect(piped.status == 0 && piped.stdout == "" && piped.stderr == "")
        #expect(!home.exists(home.cacheDirectory), "list must not create the cache directory")
    }

    @Test("a broken config still lists the entries, without profile names, and warns")
    func brokenConfig() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        try FileManager.default.removeItem(atPath: home.configPath)
        try FileManager.default.createDirectory(atPath: home.configPath, withIntermediateDirectories: false)

        let result = home.run(["list", "--json"])

        #expect(result.status == 0)
        #expect(result.stderr.hasPrefix("stscache: warning: "))
        let array = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 1)
        #expect(array.first?["profiles"] as? [String] == [])
    }

    @Test("an unsafe cache directory is an error, not an empty list")
    func unsafeDirectory() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        chmod(home.cacheDirectory, 0o777)
        expectCleanFailure(home.run(["list", "--json"]), mentioning: ["chmod 700"])
    }
}
