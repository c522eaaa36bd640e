import Foundation
import StscacheSupport
import Testing
import TestSupport

@Suite("Support: exclusive creation and private files")
struct FileSystemTests {
    private func openDirectory(_ path: String) throws -> Int32 {
        try FileSystem.open(at: AT_FDCWD, path, O_RDONLY | O_DIRECTORY).get()
    }

    @Test("createExclusively makes a 0600 file once; a taken name is false and keeps its bytes; no temp file stays")
    func exclusive() throws {
        let directory = try TemporaryDirectory()
        let fd = try openDirectory(directory.path)
        defer { close(fd) }
        #expect(try FileSystem.createExclusively(directory: fd, directoryPath: directory.path, name: "f", bytes: [1, 2]))
        #expect(try FileSystem.createExclusively(directory: fd, directoryPath: directory.path, name: "f", bytes: [3]) == false)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory.sub("f")))) == [1, 2])
        #expect(try FileSystem.linkStatus(directory.sub("f")).get().permissionBits == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["f"])
    }

    @Test("openPrivateFile: missing, a link, a FIFO, group bits and another owner are told apart; ours at 0600 opens")
    func privateFile() throws {
        let directory = try TemporaryDirectory()
        let fd = try openDirectory(directory.path)
        defer { close(fd) }
        func reason(_ name: String) -> FileSystem.PrivateFileFailure? {
            switch FileSystem.openPrivateFile(at: fd, name) {
            case .success(let opened):
                close(opened.fd)
                return nil
            case .failure(let failure): return failure
            }
        }
        #expect(reason("missing") == .missing)
        #expect(FileManager.default.createFile(atPath: directory.sub("key"), contents: Data([7]),
                                               attributes: [.posixPermissions: 0o600]))
        #expect(reason("key") == nil)
        #expect(symlink(directory.sub("key"), directory.sub("link")) == 0)
        #expect(reason("link") == .insecure(reason: "is a symbolic link"))
        #expect(mkfifo(directory.sub("fifo"), 0o600) == 0)
        #expect(reason("fifo") == .insecure(reason: "is not a regular file"))
        chmod(directory.sub("key"), 0o640)
        #expect(reason("key") == .insecure(reason: "has mode 0640 (group or others can reach it)"))
        chmod(directory.sub("key"), 0o600)
        if geteuid() == 0 {
            #expect(chown(directory.sub("key"), 65534, 65534) == 0)
            #expect(reason("key") == .insecure(reason: "is owned by uid 65534, not by you"))
        }
    }
}
