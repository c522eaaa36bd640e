import Foundation
import StscacheSupport
import Testing
import TestSupport

/// The policy of the one writer of the user's AWS files, point by point; each test changes
/// something the policy speaks about and checks both what happened and what did not.
@Suite("The AWS file writer")
struct AWSFileWriterTests {
    private func write(_ text: String, _ path: String, mode: mode_t = 0o600) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, mode) == 0)
    }

    private func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    private func linkStatus(_ path: String) -> stat? { try? FileSystem.linkStatus(path).get() }

    private func names(_ directory: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// A regular file someone else owns: ours given away when we are root, else a system file.
    private func othersFile(in directory: TemporaryDirectory) throws -> String {
        guard geteuid() == 0 else { return "/etc/passwd" }
        let path = directory.sub("someone-elses")
        try write("[default]\n", path, mode: 0o644)
        #expect(chown(path, 65534, 65534) == 0)
        return path
    }

    private func expectFailure(_ kind: AWSFileWriter.Failure.Kind, containing words: String,
                               _ body: () throws(AWSFileWriter.Failure) -> Void) {
        do {
            try body()
            Issue.record("expected \(kind)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.message.contains(words), "\(error.message)")
        }
    }

    // MARK: Links

    @Test("a link to a regular file of ours is followed and stays a link; the target keeps its mode and gets the backup")
    func linkFollowedAndKept() throws {
        let directory = try TemporaryDirectory()
        let target = directory.sub("dotfiles-credentials")
        let link = directory.sub("credentials")
        try write("old\n", target, mode: 0o640)
        #expect(symlink(target, link) == 0)
        let snapshot = try AWSFileWriter.read(link, limit: 1024)
        #expect(snapshot.realPath == target)
        let replaced = try AWSFileWriter.replace(snapshot, with: Array("new\n".utf8),
                                                 backup: .init(stamp: "20261201T000000Z", bytes: snapshot.bytes))
        #expect(linkStatus(link)?.isSymlink == true)
        #expect(try text(link) == "new\n")
        #expect(linkStatus(target)?.permissionBits == 0o640)
        #expect(replaced.backupPath == target + ".stscache-backup-20261201T000000Z")
        // A whole-file write (a token) goes through the link too.
        try AWSFileWriter.write(Array("newer\n".utf8), to: link)
        #expect(linkStatus(link)?.isSymlink == true)
        #expect(try text(target) == "newer\n")
        #expect(linkStatus(target)?.permissionBits == 0o640)
    }

    @Test("a link to another user's file, or such a file itself, is refused before anything is written")
    func othersFileRefused() throws {
        let directory = try TemporaryDirectory()
        let foreign = try othersFile(in: directory)
        let before = try text(foreign)
        let link = directory.sub("config")
        #expect(symlink(foreign, link) == 0)
        for path in [link, foreign] {
            expectFailure(.refused, containing: "not to you") { () throws(AWSFileWriter.Failure) in
                _ = try AWSFileWriter.read(path, limit: 1 << 20)
            }
            expectFailure(.refused, containing: "regular file you own") { () throws(AWSFileWriter.Failure) in
                try AWSFileWriter.write(Array("x".utf8), to: path)
            }
        }
        // Read without the check (a token refresh), the write is refused all the same.
        let snapshot = try AWSFileWriter.read(link, limit: 1 << 20, requiringEditable: false)
        expectFailure(.refused, containing: "which leads to \(foreign)") { () throws(AWSFileWriter.Failure) in
            _ = try AWSFileWriter.replace(snapshot, with: Array("x".utf8), backup: .init(stamp: "S", bytes: []))
        }
        #expect(try text(foreign) == before)
        #expect(linkStatus(link)?.isSymlink == true)
        #expect(try names(directory).allSatisfy { !$0.contains("stscache-backup") && !$0.hasSuffix(".tmp") })
    }

    @Test("a dangling link, a link to a FIFO and a link to a directory are refused; the links stay")
    func oddTargetsRefused() throws {
        let directory = try TemporaryDirectory()
        #expect(mkfifo(directory.sub("fifo"), 0o600) == 0)
        #expect(mkdir(directory.sub("dir"), 0o700) == 0)
        let cases = [("nothing", directory.sub("gone"), "a symbolic link to nothing"),
                     ("fifo", directory.sub("fifo"), "is not a regular file"),
                     ("dir", directory.sub("dir"), "is not a regular file")]
        for (name, target, words) in cases {
            let link = directory.sub("link-to-" + name)
            #expect(symlink(target, link) == 0)
            expectFailure(.refused, containing: words) { () throws(AWSFileWriter.Failure) in
                _ = try AWSFileWriter.read(link, limit: 1024)
            }
            expectFailure(.refused, containing: words) { () throws(AWSFileWriter.Failure) in
                try AWSFileWriter.write(Array("x".utf8), to: link)
            }
            #expect(linkStatus(link)?.isSymlink == true)
        }
        #expect(linkStatus(directory.sub("gone")) == nil)
    }

    // MARK: Modes

    @Test("a replaced file keeps its mode, whatever it is; a new file is 0600")
    func modes() throws {
        let directory = try TemporaryDirectory()
        for mode: mode_t in [0o644, 0o600, 0o640, 0o400] {
            let path = directory.sub("file-\(String(mode, radix: 8))")
            try write("old", path, mode: mode)
            _ = try AWSFileWriter.replace(try AWSFileWriter.read(path, limit: 64), with: Array("new".utf8))
            #expect(linkStatus(path)?.permissionBits == UInt32(mode))
            try AWSFileWriter.write(Array("newer".utf8), to: path)
            #expect(linkStatus(path)?.permissionBits == UInt32(mode))
            #expect(try text(path) == "newer")
        }
        let fresh = directory.sub("token.json")
        try AWSFileWriter.write(Array("{}".utf8), to: fresh)
        #expect(linkStatus(fresh)?.permissionBits == 0o600)
        #expect(try text(fresh) == "{}")
    }

    // MARK: Changed underneath

    @Test("a change between the read and the rename is refused, the file keeps it, and the backups go",
          arguments: ["bytes", "same bytes, new inode", "same bytes and times", "mode", "link re-pointed"])
    func changedUnderneath(change: String) throws {
        let directory = try TemporaryDirectory()
        let target = directory.sub("real-config")
        let other = directory.sub("other-config")
        let link = directory.sub("config")
        try write("one\n", target)
        try write("one\n", other)
        #expect(symlink(target, link) == 0)
        let snapshot = try AWSFileWriter.read(link, limit: 1024)
        var expected = "one\n"
        expectFailure(.changedUnderneath, containing: "Run the command again") { () throws(AWSFileWriter.Failure) in
            _ = try AWSFileWriter.replace(
                snapshot, with: Array("setup\n".utf8),
                backup: .init(stamp: "20261201T000000Z", bytes: snapshot.bytes, keepsWritten: true)
            ) {
                switch change {
                case "bytes":
                    expected = "two\n"
                    try? write(expected, target)
                case "same bytes, new inode":
                    try? write("one\n", directory.sub("copy"))
                    rename(directory.sub("copy"), target)
                case "same bytes and times":
                    // Same size, then the old times put back: only the bytes tell.
                    let before = linkStatus(target)!
                    expected = "two\n"
                    try? write(expected, target)
                    var times = [before.st_atim, before.st_mtim]
                    utimensat(AT_FDCWD, target, &times, 0)
                case "mode":
                    chmod(target, 0o644)
                default:
                    unlink(link)
                    symlink(other, link)
                }
            }
        }
        #expect(try text(target) == expected)
        #expect(try text(other) == "one\n")
        #expect(try names(directory) == ["config", "other-config", "real-config"])
    }

    @Test("control: the same replace with no change in between goes through")
    func unchangedGoesThrough() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("config")
        try write("one\n", path)
        let replaced = try AWSFileWriter.replace(try AWSFileWriter.read(path, limit: 1024), with: Array("two\n".utf8),
                                                 backup: .init(stamp: "20261201T000000Z", bytes: Array("one\n".utf8),
                                                               keepsWritten: true))
        #expect(try text(path) == "two\n")
        #expect(try names(directory) == ["config", "config.stscache-backup-20261201T000000Z",
                                         "config.stscache-backup-20261201T000000Z.written"])
        #expect(replaced.backupPath.flatMap { linkStatus($0)?.permissionBits } == 0o600)
    }

    // MARK: Backups

    @Test("a backup that still holds the secret the change removes is refused, and nothing is written")
    func backupWithSecretRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("credentials")
        try write("[a]\nkey = SECRET-A\n", path)
        let snapshot = try AWSFileWriter.read(path, limit: 1024)
        expectFailure(.failed, containing: "would still hold the secret") { () throws(AWSFileWriter.Failure) in
            _ = try AWSFileWriter.replace(snapshot, with: [], backup: .init(stamp: "S", bytes: snapshot.bytes,
                                                                            removedSecrets: [Array("SECRET-A".utf8)]))
        }
        #expect(try text(path) == "[a]\nkey = SECRET-A\n")
        #expect(try names(directory) == ["credentials"])
        // A secret the new bytes still hold (another profile with the same key) is not removed.
        let kept = try AWSFileWriter.replace(snapshot, with: Array("[b]\nkey = SECRET-A\n".utf8),
                                             backup: .init(stamp: "S", bytes: snapshot.bytes,
                                                           removedSecrets: [Array("SECRET-A".utf8)]))
        #expect(kept.backupPath != nil && kept.deletedBackups.isEmpty)
    }

    @Test("after a change that removes a secret, older backups holding it are deleted; others stay; names never clash")
    func olderBackupsWithSecretDeleted() throws {
        let directory = try TemporaryDirectory()
        let path = directory.sub("credentials")
        let start = "[a]\nkey = SECRET-A\n[b]\nkey = SECRET-B\n"
        try write(start, path)
        // Removing A: its backup holds B's secret (not removed by this change).
        var snapshot = try AWSFileWriter.read(path, limit: 1024)
        let first = try AWSFileWriter.replace(snapshot, with: Array("[b]\nkey = SECRET-B\n".utf8),
                                              backup: .init(stamp: "20261201T000000Z", bytes: Array("[a]\n[b]\nkey = SECRET-B\n".utf8),
                                                            removedSecrets: [Array("SECRET-A".utf8)]))
        try write("legacy without secrets\n", path + ".stscache-backup")
        try write("unrelated SECRET-B\n", directory.sub("notes"))
        // Removing B in the same second: a numbered backup, and the first one (holding B) goes.
        snapshot = try AWSFileWriter.read(path, limit: 1024)
        let second = try AWSFileWriter.replace(snapshot, with: [],
                                               backup: .init(stamp: "20261201T000000Z", bytes: Array("[b]\n".utf8),
                                                             removedSecrets: [Array("SECRET-B".utf8)]))
        #expect(second.backupPath == path + ".stscache-backup-20261201T000000Z-2")
        #expect(second.deletedBackups == [try #require(first.backupPath)])
        #expect(try names(directory) == ["credentials", "credentials.stscache-backup",
                                         "credentials.stscache-backup-20261201T000000Z-2", "notes"])
    }
}
