import Foundation
import Testing
@testable import Credentials
import TestSupport
@testable import Setup

@Suite("keys import: the credentials file edit")
struct CredentialsFileEditTests {
    let original = """
        # my credentials\r
        [other]
        aws_access_key_id = AKIAOTHER0000000
        aws_secret_access_key = other/secret

        ; the base account
        [base]
        # rotated by hand in May
        aws_access_key_id = AKIABASE00000000
        aws_secret_access_key = base/secret+value
        region = eu-west-1

        [last]
        aws_access_key_id=AKIALAST00000000
        aws_secret_access_key=last/secret
        """

    @Test("removes exactly the profile's two key lines; everything else stays byte for byte")
    func removesKeyLines() throws {
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: Array(original.utf8), path: "c"))
        #expect(edit.accessKeyId == "AKIABASE00000000")
        #expect(edit.secretAccessKey == "base/secret+value")
        let expected = original.replacingOccurrences(of: "aws_access_key_id = AKIABASE00000000\n", with: "")
            .replacingOccurrences(of: "aws_secret_access_key = base/secret+value\n", with: "")
        #expect(String(decoding: edit.edited, as: UTF8.self) == expected)
        let backup = String(decoding: edit.backup, as: UTF8.self)
        #expect(!backup.contains("base/secret+value"))
        #expect(backup.contains("AKIABASE00000000") && backup.contains("other/secret"))
    }

    @Test("a section left with nothing but comments loses its header too; a last line without a newline is kept so")
    func emptySectionHeaderRemoved() throws {
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "last", from: Array(original.utf8), path: "c"))
        let text = String(decoding: edit.edited, as: UTF8.self)
        #expect(!text.contains("[last]") && !text.contains("last/secret"))
        #expect(text.hasPrefix("# my credentials\r\n[other]"))
        #expect(text.contains("[base]\n# rotated by hand in May\n"))
    }

    @Test("keys as botocore reads them: indented key lines, bare CR line ends")
    func readerRules() throws {
        let indented = "[base]\n  aws_access_key_id = AKIAINDENT000000\n  aws_secret_access_key = indented/secret\n[next]\nx = 1\n"
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: Array(indented.utf8), path: "c"))
        #expect(edit.accessKeyId == "AKIAINDENT000000" && edit.secretAccessKey == "indented/secret")
        #expect(String(decoding: edit.edited, as: UTF8.self) == "[next]\nx = 1\n")

        let carriageReturns = "[a]\rx = 1\r[base]\raws_access_key_id = AKIACR0000000000\raws_secret_access_key = cr/secret\r"
        let third = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: Array(carriageReturns.utf8), path: "c"))
        #expect(third.secretAccessKey == "cr/secret")
        #expect(String(decoding: third.edited, as: UTF8.self) == "[a]\rx = 1\r")
    }

    @Test("no keys for the profile is nil; temporary keys are refused")
    func nothingOrTemporary() throws {
        #expect(try CredentialsFileEdit.removingKeys(of: "missing", from: Array(original.utf8), path: "c") == nil)
        let temporary = "[tmp]\naws_access_key_id = ASIA0000000000000\naws_secret_access_key = s\naws_session_token = t\n"
        #expect(throws: KeysError.self) {
            _ = try CredentialsFileEdit.removingKeys(of: "tmp", from: Array(temporary.utf8), path: "c")
        }
    }

    @Test("replace writes a 0600 backup without the secret, and refuses a file that changed meanwhile")
    func replaceRefusesChangedFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("credentials")
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        let bytes = try CredentialsFileEdit.read(path)
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: bytes, path: path))
        try (original + "\n[new]\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: KeysError.self) { _ = try CredentialsFileEdit.replace(path, original: bytes, with: edit) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original + "\n[new]\n")
        // Control: unchanged, it is replaced.
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        let backup = try CredentialsFileEdit.replace(path, original: bytes, with: edit)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == edit.edited)
        #expect(!(try String(contentsOfFile: backup, encoding: .utf8)).contains("base/secret+value"))
        var info = stat()
        #expect(stat(backup, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }
}
