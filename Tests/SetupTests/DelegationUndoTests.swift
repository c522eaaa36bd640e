import Foundation
import Testing

import AWSConfig
import StscacheSupport
@testable import Credentials
import TestSupport
@testable import Setup

private let program = "/usr/bin/stscache"

private func files(_ config: String, credentials: String? = nil) throws -> ConfigFiles {
    let directory = try TempAWSDirectory()
    try directory.writeConfig(bytes: Array(config.utf8))
    try directory.write(credentials: credentials)
    return try directory.load()
}

private func setUp(_ config: String, _ profiles: [String]) throws -> String {
    let plan = try DelegationSetup.plan(configBytes: Array(config.utf8), files: try files(config), profiles: profiles,
                                        programPath: program)
    return String(decoding: plan.bytes, as: UTF8.self)
}

private func undo(_ config: String, _ profiles: [String], credentials: String? = nil) throws -> String {
    let plan = try DelegationUndo.plan(configBytes: Array(config.utf8), files: try files(config, credentials: credentials),
                                       profiles: profiles)
    return String(decoding: plan.bytes, as: UTF8.self)
}

private func expectUndoError(_ code: SetupError.Code, sourceLocation: Testing.SourceLocation = #_sourceLocation,
                             _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected SetupError \(code.rawValue)", sourceLocation: sourceLocation)
    } catch let error as SetupError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.contains("\n"), sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SetupError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Setup: undoing one pair")
struct DelegationUndoTests {
    let original = """
        # my AWS config
        [default]
        region = us-east-1

        [profile prod]
        region = eu-west-1
        role_arn = arn:aws:iam::123456789012:role/Admin
        source_profile = base
        role_session_name = alice
        output = json

        [profile dev]
        role_arn = arn:aws:iam::123456789012:role/Dev
        source_profile = base

        """

    @Test("setup then undo of the pair gives the original file back, byte for byte")
    func roundTrip() throws {
        let after = try setUp(original, ["prod"])
        #expect(after.contains("[profile prod-role]"))
        #expect(try undo(after, ["prod"]) == original)
    }

    @Test("after later edits of other lines, the pair is put back and every edit is kept")
    func afterLaterEdits() throws {
        var after = try setUp(original, ["prod", "dev"])
        after = after.replacingOccurrences(of: "output = json", with: "output = table\ncli_pager =")
        after += "[profile added-later]\nregion = eu-west-2\n"
        let undone = try undo(after, ["prod"])
        let parsed = try files(undone)
        #expect(parsed.profile(named: "prod-role") == nil)
        let prod = try #require(parsed.profile(named: "prod"))
        #expect(prod.string("role_arn") == "arn:aws:iam::123456789012:role/Admin")
        #expect(prod.string("source_profile") == "base")
        #expect(prod.string("role_session_name") == "alice")
        #expect(prod.string("credential_process") == nil)
        #expect(prod.string("output") == "table")
        #expect(parsed.profile(named: "added-later")?.string("region") == "eu-west-2")
        // dev was not named: still a pair.
        #expect(parsed.delegatedProfile(forProfile: "dev") == "dev-role")
        #expect(parsed.profile(named: "dev-role")?.string("role_arn") == "arn:aws:iam::123456789012:role/Dev")
    }

    @Test("a role half another profile uses, settings undo would lose, or differing regions are refused")
    func refusals() throws {
        let after = try setUp(original, ["prod"])
        expectUndoError(.cannotUndo) {
            _ = try undo(after + "[profile child]\nrole_arn = arn:aws:iam::1:role/C\nsource_profile = prod-role\n", ["prod"])
        }
        expectUndoError(.cannotUndo) {
            _ = try undo(after.replacingOccurrences(of: "[profile prod-role]\n", with: "[profile prod-role]\nmfa_thing = 1\n"), ["prod"])
        }
        expectUndoError(.cannotUndo) {
            _ = try undo(after.replacingOccurrences(of: "[profile prod]\nregion = eu-west-1", with: "[profile prod]\nregion = us-west-2"),
                         ["prod"])
        }
        expectUndoError(.cannotUndo) { _ = try undo(original, ["dev"]) }
        expectUndoError(.unknownProfile) { _ = try undo(after, ["prdo"]) }
    }

    @Test("the pairs a setup made are the profiles delegating in what it wrote whose role half it added")
    func pairsMade() throws {
        let once = try setUp(original, ["prod"])
        let twice = try setUp(once, ["dev"])
        #expect(DelegationUndo.pairsMade(before: Array(once.utf8), written: Array(twice.utf8), configPath: "c") == ["dev"])
        #expect(DelegationUndo.pairsMade(before: Array(original.utf8), written: Array(twice.utf8), configPath: "c").sorted()
            == ["dev", "prod"])
        #expect(DelegationUndo.undoablePairs(in: try files(twice)).sorted() == ["dev", "prod"])
    }

    @Test("a whole-file change as an edit: applied it gives the new bytes; its diff masks secrets on both sides")
    func replacingEdit() throws {
        let old = "[a]\nx = 1\naws_secret_access_key = old\n\n[b]\ny = 2\n"
        let new = "[a]\nx = 1\n\n[b]\ny = 3\naws_secret_access_key = new\n[c]\n"
        let text = ConfigText(Array(old.utf8))
        let edit = ConfigTextEdit.replacing(text, with: Array(new.utf8))
        #expect(String(decoding: edit.apply(to: text), as: UTF8.self) == new)
        let diff = edit.unifiedDiff(of: text, oldName: "a", newName: "b", maskedKeys: ["aws_secret_access_key"])
        #expect(!diff.contains("old") && !diff.contains("= new"))
        #expect(diff.contains("+aws_secret_access_key = ****"))
        #expect(diff.contains("-y = 2") && diff.contains("+y = 3"))
    }
}
