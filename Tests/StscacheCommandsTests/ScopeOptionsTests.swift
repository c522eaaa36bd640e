import Foundation
import Testing
@testable import StscacheCommands
import StscacheSupport
import TestSupport

@Suite("exec --policy-arn / --policy-file, checked before anything runs")
struct ScopeOptionsTests {
    static let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#

    func write(_ text: String, mode: Int) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("policy.json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        // Explicit: suites elsewhere set umask 000 while this one runs.
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func refusal(_ text: String, mode: Int = 0o644) throws -> String? {
        let path = try write(text, mode: mode)
        do {
            _ = try ScopeOptions.readPolicy(path)
            return nil
        } catch let error as CommandError {
            #expect(error.code == .invalidScope)
            // The document is never quoted back.
            #expect(!error.message.contains("GetObject") && !error.message.contains("xxxx") && !error.message.contains("\n"),
                    "\(error.message)")
            #expect(error.message.hasPrefix("--policy-file \(path) "))
            return error.message
        }
    }

    @Test("a policy file of yours, not writable by others, is read trimmed")
    func accepted() throws {
        #expect(try ScopeOptions.readPolicy(try write("\n" + Self.policy + "\n", mode: 0o644)) == Self.policy)
        #expect(try ScopeOptions.readPolicy(try write(Self.policy, mode: 0o600)) == Self.policy)
    }

    @Test("a file others can write, a bad document, a file past STS's limit: refused with the reason", arguments: [
        (policy, 0o666, "writable by others"), (policy, 0o646, "writable by others"), (policy, 0o664, "writable by others"),
        (policy + " ;", 0o644, "not valid JSON"), ("[1]", 0o644, "not a JSON object"), ("", 0o644, "0 characters"),
        ("{\"a\": \"" + String(repeating: "x", count: 5000) + "\"}", 0o644, "larger than STS's limit"),
        ("{\"a\": \"" + String(repeating: "x", count: 2100) + "\"}", 0o644, "2109 characters"),
    ])
    func refused(_ text: String, _ mode: Int, _ needle: String) throws {
        let message = try refusal(text, mode: mode)
        #expect(message?.contains(needle) == true, "\(message ?? "accepted")")
    }

    @Test("not UTF-8, a directory, a missing file: refused")
    func notAFile() throws {
        let path = try write("x", mode: 0o644)
        try Data([0x7B, 0xFF, 0x7D]).write(to: URL(fileURLWithPath: path))
        #expect(throws: CommandError.self) { try ScopeOptions.readPolicy(path) }
        #expect(throws: CommandError.self) { try ScopeOptions.readPolicy((path as NSString).deletingLastPathComponent) }
        #expect(throws: CommandError.self) { try ScopeOptions.readPolicy(path + ".missing") }
    }

    @Test("a bad --policy-arn is refused naming the flag; more than 10 too")
    func arns() throws {
        var options = try ScopeOptions.parse(["--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"])
        #expect(try options.scope().policyArns == ["arn:aws:iam::aws:policy/ReadOnlyAccess"])
        options = try ScopeOptions.parse(["--policy-arn", "ReadOnlyAccess"])
        #expect(throws: CommandError.self) { try options.scope() }
        options = try ScopeOptions.parse(Array(repeating: ["--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"], count: 11).flatMap { $0 })
        #expect(throws: CommandError.self) { try options.scope() }
        #expect(try ScopeOptions.parse([]).scope().isEmpty)
    }
}
