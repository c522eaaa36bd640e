import Foundation
import Testing
import SigV4
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

    @Test("replace writes a 0600 stamped backup without the secret, and refuses a file that changed meanwhile")
    func replaceRefusesChangedFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("credentials")
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        let snapshot = try CredentialsFileEdit.read(path)
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: snapshot.bytes, path: path))
        try (original + "\n[new]\n").write(toFile: path, atomically: false, encoding: .utf8)
        do {
            _ = try CredentialsFileEdit.replace(snapshot, with: edit, profile: "base", stamp: "20261201T000000Z")
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .credentialsFileChanged)
            #expect(error.message.contains("run 'stscache keys import base' again"))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original + "\n[new]\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["credentials"])
        // Control: unchanged, it is replaced.
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        let fresh = try CredentialsFileEdit.read(path)
        let replaced = try CredentialsFileEdit.replace(fresh, with: edit, profile: "base", stamp: "20261201T000000Z")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == edit.edited)
        let backup = try #require(replaced.backupPath)
        #expect(backup == directory.sub("credentials.stscache-backup-20261201T000000Z"))
        #expect(!(try String(contentsOfFile: backup, encoding: .utf8)).contains("base/secret+value"))
        var info = stat()
        #expect(stat(backup, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test("a credentials file that is a symbolic link stays one and keeps its mode (both changed: it was refused, and made 0600)")
    func linkAndModeKept() throws {
        let directory = try TemporaryDirectory()
        let target = directory.sub("dotfiles-credentials")
        let link = directory.sub("credentials")
        try original.write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o640)
        symlink(target, link)
        let snapshot = try CredentialsFileEdit.read(link)
        let edit = try #require(try CredentialsFileEdit.removingKeys(of: "base", from: snapshot.bytes, path: link))
        let replaced = try CredentialsFileEdit.replace(snapshot, with: edit, profile: "base", stamp: "20261201T000000Z")
        var info = stat()
        #expect(lstat(link, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
        #expect(stat(target, &info) == 0 && info.st_mode & 0o777 == 0o640)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: target))) == edit.edited)
        #expect(replaced.backupPath == target + ".stscache-backup-20261201T000000Z")
    }

    @Test("importing one profile, then another: no backup is left holding the second one's secret")
    func noBackupKeepsALaterImportsSecret() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("credentials")
        try original.write(toFile: path, atomically: false, encoding: .utf8)
        for (profile, stamp) in [("base", "20261201T000000Z"), ("other", "20261202T000000Z")] {
            let snapshot = try CredentialsFileEdit.read(path)
            let edit = try #require(try CredentialsFileEdit.removingKeys(of: profile, from: snapshot.bytes, path: path))
            _ = try CredentialsFileEdit.replace(snapshot, with: edit, profile: profile, stamp: stamp)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(left == ["credentials", "credentials.stscache-backup-20261202T000000Z"])
        for name in left {
            let text = try String(contentsOfFile: directory.sub(name), encoding: .utf8)
            #expect(!text.contains("base/secret+value") && !text.contains("other/secret"), "\(name)")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("last/secret"))
    }
}

@Suite("keys export: the keys back into the credentials file")
struct CredentialsFileAddTests {
    let keys = AWSCredentials(accessKeyId: "AKIABASE00000000", secretAccessKey: "base/secret+value")

    @Test("under the profile's existing header, everything else byte for byte")
    func intoSection() throws {
        let original = "# mine\r\n[other]\r\nregion = x\r\n[base]\r\nregion = eu-west-1\r\n"
        let edited = String(decoding: try CredentialsFileEdit.addingKeys(keys, of: "base", to: Array(original.utf8), path: "c"),
                            as: UTF8.self)
        #expect(edited == "# mine\r\n[other]\r\nregion = x\r\n[base]\r\naws_access_key_id = AKIABASE00000000\r\n"
            + "aws_secret_access_key = base/secret+value\r\nregion = eu-west-1\r\n")
    }

    @Test("a new section at the end, after a blank line; an empty file gets just the section")
    func newSection() throws {
        let edited = try CredentialsFileEdit.addingKeys(keys, of: "base", to: Array("[other]\nregion = x".utf8), path: "c")
        #expect(String(decoding: edited, as: UTF8.self)
            == "[other]\nregion = x\n\n[base]\naws_access_key_id = AKIABASE00000000\naws_secret_access_key = base/secret+value\n")
        let fresh = try CredentialsFileEdit.addingKeys(keys, of: "base", to: [], path: "c")
        #expect(String(decoding: fresh, as: UTF8.self)
            == "[base]\naws_access_key_id = AKIABASE00000000\naws_secret_access_key = base/secret+value\n")
    }

    @Test("a section that already holds keys is refused, without quoting them")
    func refusesPresentKeys() throws {
        do {
            _ = try CredentialsFileEdit.addingKeys(keys, of: "base", to: Array("[base]\naws_access_key_id = AKIAOTHER\n".utf8),
                                                   path: "c")
            Issue.record("expected a refusal")
        } catch {
            #expect(error.code == .plaintextPresent)
            #expect(!error.message.contains("AKIAOTHER"))
        }
    }
}
