import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// The commands' side of the audit log and of the agent's mark: a hand-out is recorded (no
/// secret, the right origin), `log` shows and filters it, and `prompt` shows `!` for a session
/// that needs a person within the lead.
@Suite("audit log and attention in the commands", .testHome())
struct AuditCommandTests {
    let home = TestHome.current

    var logPath: String { home.cacheDirectory + "/audit.log" }

    @Test("a credential-process hit is recorded once, as from the cache, with its key id and no secret")
    func hitRecorded() throws {
        let credentials = sampleCredentials(expiration: now.addingTimeInterval(3000), tag: "prod-role")
        try home.cacheSession(for: "prod-role", expiresIn: 3000, credentials: credentials)
        let result = home.run(["credential-process", "--profile", "prod-role"])
        #expect(result.status == 0 && result.stderr == "", "\(result.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: logPath))
        let (entries, skipped) = AuditEntry.parse(Array(bytes))
        #expect(skipped == 0 && entries.count == 1)
        #expect(entries.first?.accessKeyId == credentials.accessKeyId && entries.first?.origin == "cache")
        #expect(entries.first?.caller?.pid == Int(getppid()), "the process that ran it")
        #expect(bytes.range(of: Data(credentials.secretAccessKey.utf8)) == nil)
        #expect(bytes.range(of: Data(credentials.sessionToken.utf8)) == nil)

        let shown = home.run(["log", "--key-id", credentials.accessKeyId])
        #expect(shown.status == 0 && shown.stdout.split(separator: "\n").count == 2, "\(shown.stdout)")
        #expect(home.run(["log", "--key-id", "ASIANOTTHATONE000000"]).stdout == "")
        #expect(home.run(["log", "--since", "soon"]).status != 0)
    }

    @Test("STSCACHE_AUDIT=off records nothing; the agent's --refresh-only records nothing")
    func notRecorded() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 3000)
        #expect(home.run(["credential-process", "--profile", "prod-role"], extra: ["STSCACHE_AUDIT": "off"]).status == 0)
        #expect(home.run(["credential-process", "--profile", "prod-role", "--refresh-only"]).status == 0)
        #expect(!home.exists(logPath))
    }

    @Test("a refused log costs one warning line, and the credentials are still handed out")
    func refusedLog() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 3000)
        try FileManager.default.createSymbolicLink(atPath: logPath, withDestinationPath: home.path("elsewhere"))
        let result = home.run(["credential-process", "--profile", "prod-role"])
        #expect(result.status == 0 && result.stdout.hasPrefix("{\"Version\":1,"))
        #expect(result.stderr.hasPrefix("stscache: warning: audit log ") && result.stderr.split(separator: "\n").count == 1,
                "\(result.stderr)")
        #expect(!home.exists(home.path("elsewhere")))
    }

    @Test("purge --all removes the audit log (it names profiles and roles); purging one profile keeps it")
    func purgeAll() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 3000)
        #expect(home.run(["credential-process", "--profile", "prod-role"]).status == 0)
        #expect(home.run(["purge", "--profile", "prod"]).status == 0)
        #expect(home.exists(logPath), "a one-profile purge leaves the record")
        let dry = home.run(["purge", "--all", "--dry-run"])
        #expect(dry.stdout.contains("the audit log (audit.log in ") && home.exists(logPath), "\(dry.stdout)")
        let purged = home.run(["purge", "--all"])
        #expect(purged.status == 0 && purged.stdout.contains("removed the audit log (audit.log in "), "\(purged.stdout)")
        #expect(!home.exists(logPath))
    }

    @Test("prompt marks a session the agent found needs a person, only within the lead and only that session")
    func promptMark() throws {
        let key = try home.cacheSession(for: "prod-role", expiresIn: 8 * 60 + 30)
        let cache = try CredentialCache.open(environment: home.environment, home: home.root)
        #expect(home.run(["prompt", "--profile", "prod"]).stdout == "prod 8m\n", "control: no mark")
        cache.markAttention(stem: key.stem, expiration: now.addingTimeInterval(8 * 60 + 30))
        #expect(home.run(["prompt", "--profile", "prod"]).stdout == "prod 8m!\n")
        #expect(home.run(["prompt", "--profile", "prod"], extra: ["STSCACHE_NOTIFY_LEAD": "5m"]).stdout == "prod 8m\n",
                "outside a shorter lead")
        #expect(home.run(["prompt", "--profile", "prod", "--format", "{remaining}{attention}"]).stdout == "8m!\n")
        cache.markAttention(stem: key.stem, expiration: now.addingTimeInterval(3600))
        #expect(home.run(["prompt", "--profile", "prod"]).stdout == "prod 8m\n", "a mark of another session")
    }
}
