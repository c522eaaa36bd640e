import Foundation
import Testing
import CredentialCache
@testable import Credentials
import StscacheSupport
import TestSupport
@testable import KeepWarm

/// Telling a person before a session that needs them expires: which failures need a person,
/// what the notifier is given (no shell, no markup, one line each), and the cache's mark that
/// `prompt` reads.
@Suite("a person is told")
struct AttentionTests {
    @Test("an MFA refusal (exit 75), an Identity Center or aws login sign-in need a person; other failures do not")
    func classification() {
        let mfa = PersonNeeded.classify(termination: .exited(75), message: "a new MFA code is needed", profile: "prod role")
        #expect(mfa == PersonNeeded(kind: .mfa, command: "stscache exec --profile 'prod role' -- true"))
        let sso = PersonNeeded.classify(
            termination: .exited(1),
            message: "the IAM Identity Center login of session corp expired at 2030-01-01T00:00:00Z; run: stscache login --sso-session corp (or aws sso login --sso-session corp)",
            profile: "dev")
        #expect(sso?.kind == .identityCenter)
        #expect(sso?.command == "stscache login --sso-session corp (or aws sso login --sso-session corp)")
        let login = PersonNeeded.classify(
            termination: .exited(1),
            message: "the aws login session of profile \"dev\" has ended (its credentials expired at 2030-01-01T00:00:00Z, and a session lasts at most 12 hours); sign in again: aws login --profile dev (or stscache login --profile dev)",
            profile: "dev")
        #expect(login == PersonNeeded(kind: .awsLogin, command: "aws login --profile dev (or stscache login --profile dev)"))
        #expect(PersonNeeded.classify(termination: .exited(1), message: "could not reach STS (timed out)", profile: "p") == nil)
        #expect(PersonNeeded.classify(termination: .exited(1), message: nil, profile: "p") == nil)
    }

    @Test("STSCACHE_NOTIFY_LEAD: 10 minutes by default, a duration, 0 for never; junk is an error naming it")
    func lead() throws {
        #expect(try PersonNeeded.lead(environment: [:]) == 600)
        #expect(try PersonNeeded.lead(environment: ["STSCACHE_NOTIFY_LEAD": "15m"]) == 900)
        #expect(try PersonNeeded.lead(environment: ["STSCACHE_NOTIFY_LEAD": "0"]) == 0)
        #expect(throws: UsageError.self) { try PersonNeeded.lead(environment: ["STSCACHE_NOTIFY_LEAD": "soon"]) }
    }

    @Test("the notifier's arguments: after --, one line each, no markup; gdbus gets GVariant literals")
    func notifierArguments() throws {
        let directory = try TemporaryDirectory(prefix: "stscache-notify")
        for name in ["notify-send", "gdbus"] {
            _ = FileManager.default.createFile(atPath: directory.sub(name), contents: Data("#!/bin/sh\n".utf8),
                                           attributes: [.posixPermissions: 0o755])
        }
        let need = PersonNeeded(kind: .mfa, command: "stscache exec --profile '-rf <b>x</b>' -- true")
        let text = need.notification(profile: "-rf\n\u{1B}[2J<b>", remaining: 481)
        #expect(text.summary.contains("expires in 9 min"))
        let notifySend = DesktopNotifier(environment: ["PATH": directory.path])
        #expect(notifySend.channel == .notifySend(directory.sub("notify-send")))
        let (path, argv) = try #require(notifySend.arguments(summary: text.summary, body: text.body))
        #expect(path == directory.sub("notify-send"))
        #expect(Array(argv.prefix(4)) == ["notify-send", "--app-name=stscache", "--urgency=critical", "--"])
        for argument in argv.suffix(2) {
            #expect(!argument.contains("\n") && !argument.contains("\u{1B}") && !argument.contains("<") && !argument.contains("&"))
        }
        try FileManager.default.removeItem(atPath: directory.sub("notify-send"))
        let noBus = DesktopNotifier(environment: ["PATH": directory.path])
        #expect(noBus.channel == .none, "gdbus only with a session bus")
        let gdbus = DesktopNotifier(environment: ["PATH": directory.path, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"])
        let (_, calls) = try #require(gdbus.arguments(summary: "it's", body: "a\\b"))
        #expect(calls.contains("'it\\'s'") && calls.contains("'a\\\\b'"))
        #expect(calls.suffix(3) == ["[]", "{}", "-1"])
        #expect(DesktopNotifier(environment: ["PATH": "/nonexistent"]).arguments(summary: "s", body: "b") == nil)
    }

    @Test("the cache's mark: matched to the session's expiry, cleared with it, and never followed through a link")
    func mark() throws {
        let directory = try TemporaryDirectory(prefix: "stscache-mark")
        let cache = try CredentialCache(directory: CacheDirectory.open(path: directory.sub("cache")))
        let stem = String(repeating: "ab", count: 32)
        let expiration = Date(timeIntervalSince1970: 1_900_000_000)
        #expect(!cache.needsAttention(stem: stem, expiration: expiration))
        cache.markAttention(stem: stem, expiration: expiration)
        #expect(cache.needsAttention(stem: stem, expiration: expiration))
        #expect(!cache.needsAttention(stem: stem, expiration: expiration.addingTimeInterval(3600)), "another session")
        cache.clearAttention(stem: stem)
        #expect(!cache.needsAttention(stem: stem, expiration: expiration))
        let other = String(repeating: "cd", count: 32)
        let target = directory.sub("target")
        _ = FileManager.default.createFile(atPath: target, contents: Data())
        try FileManager.default.createSymbolicLink(atPath: directory.sub("cache/\(other).attention"), withDestinationPath: target)
        cache.markAttention(stem: other, expiration: expiration)
        #expect(!cache.needsAttention(stem: other, expiration: expiration))
        let attributes = try FileManager.default.attributesOfItem(atPath: target)
        #expect((attributes[.modificationDate] as? Date) != expiration, "the link's target was not touched")
        cache.markAttention(stem: stem, expiration: expiration)
        _ = try cache.removeAll()
        #expect(!FileManager.default.fileExists(atPath: directory.sub("cache/\(stem).attention")), "purge takes the mark")
    }
}
