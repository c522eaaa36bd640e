import Foundation
import Testing

import AWSConfig
import StscacheSupport
@testable import Credentials
import TestSupport

private let expiry = Date(timeIntervalSince1970: 1_800_000_600)
private let settings = LoginSessionSettings(profile: "console", session: LoginFixture.session, region: "us-east-1")

/// A home with `~/.aws/login/cache` (0700) holding the fixture's session file.
private final class LoginHome {
    let temporary: TemporaryDirectory
    var files: LoginSessionFiles
    var path: String { files.path(forSession: LoginFixture.session) }

    init(mode: Int = 0o600, json: String = LoginFixture.json(expiresAt: expiry)) throws {
        temporary = try TemporaryDirectory(prefix: "stscache-login")
        files = LoginSessionFiles(environment: [:], homeDirectory: temporary.path)
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(temporary.path + "/.aws", 0o700)
        try write(json, mode: mode)
    }

    func write(_ text: String, mode: Int = 0o600) throws {
        unlink(path)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
    }
}

private func expectRefusal(_ code: LoginSessionError.Code, containing words: String..., in home: LoginHome,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try home.files.read(settings)
        Issue.record("the file was read", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        for word in words { #expect(error.message.contains(word), "\(error.message)", sourceLocation: sourceLocation) }
        // Never a value from the file.
        #expect(!error.message.contains("login-secret") && !error.message.contains("rt-1"), sourceLocation: sourceLocation)
    }
}

@Suite("aws login: the session file on disk (hostile files refused before use)")
struct LoginSessionFilesTests {
    @Test("the user's own 0600 file is read")
    func reads() throws {
        let home = try LoginHome()
        #expect(try home.files.read(settings).refreshToken == "rt-1")
    }

    @Test("no file: sign in, naming the profile and both commands")
    func missing() throws {
        let home = try LoginHome()
        unlink(home.path)
        expectRefusal(.notLoggedIn, containing: "profile \"console\"", "aws login --profile console",
                      "stscache login --profile console", in: home)
    }

    @Test("a file group or others can read or write is refused", arguments: [0o640, 0o604, 0o620, 0o666])
    func modes(mode: Int) throws {
        let home = try LoginHome(mode: mode)
        expectRefusal(.insecureFile, containing: "has mode", "chmod 600", in: home)
    }

    @Test("another user's file is refused")
    func otherOwner() throws {
        try #require(getuid() == 0, "needs root to give the file away")
        let home = try LoginHome()
        chown(home.path, 4242, 4242)
        expectRefusal(.insecureFile, containing: "owned by uid 4242", in: home)
    }

    @Test("a cache directory others can write is refused, even with a 0600 file in it")
    func openDirectory() throws {
        let home = try LoginHome()
        chmod(home.files.directory, 0o777)
        expectRefusal(.insecureFile, containing: "others can put files in it", in: home)
    }

    @Test("a link into a directory others can write (/tmp-like) is refused; a dangling link too")
    func links() throws {
        let home = try LoginHome()
        let shared = try TemporaryDirectory(prefix: "stscache-shared")
        chmod(shared.path, 0o1777)
        let planted = shared.path + "/planted.json"
        try Data(LoginFixture.json(expiresAt: expiry).utf8).write(to: URL(fileURLWithPath: planted))
        chmod(planted, 0o600)
        unlink(home.path)
        symlink(planted, home.path)
        expectRefusal(.insecureFile, containing: "leads into", "remove the link", in: home)
        unlink(home.path)
        symlink(shared.path + "/nothing.json", home.path)
        expectRefusal(.insecureFile, containing: "symbolic link to nothing", in: home)
    }

    @Test("a FIFO is refused without blocking; a directory in its place too")
    func notRegular() throws {
        let home = try LoginHome()
        unlink(home.path)
        mkfifo(home.path, 0o600)
        expectRefusal(.insecureFile, containing: "not a regular file", in: home)
        unlink(home.path)
        mkdir(home.path, 0o700)
        expectRefusal(.insecureFile, containing: "not a regular file", in: home)
    }

    @Test("an oversize file is not read past its bound")
    func oversize() throws {
        let home = try LoginHome(json: "{\"x\": \"" + String(repeating: "a", count: 70_000) + "\"}")
        expectRefusal(.invalidFile, containing: "larger than", in: home)
    }

    @Test("a file with a bad field says which, and to sign in again")
    func badField() throws {
        let home = try LoginHome(json: LoginFixture.json(expiresAt: expiry, accountId: "1234"))
        expectRefusal(.invalidFile, containing: "accountId", "aws login --profile console", in: home)
    }

    @Test("a refresh rewrites the file atomically, keeping 0600 and the CLI's unknown members")
    func rewrite() throws {
        let home = try LoginHome()
        let (session, snapshot) = try home.files.readForRefresh(settings)
        let output = try #require(SignInTokenClient.TokenOutput(body: Array(
            #"{"accessToken":{"accessKeyId":"ASIANEW000000001","secretAccessKey":"s2","sessionToken":"t2"},"expiresIn":900,"refreshToken":"rt-2"}"#.utf8)))
        try home.files.write(session.refreshed(with: output, now: expiry), replacing: snapshot)
        var info = stat()
        stat(home.path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        let again = try home.files.read(settings)
        #expect(again.refreshToken == "rt-2")
        #expect(again.members["cliExtra"] == .object(["nested": .object(["kept": .bool(true)])]))
        // A file changed since it was read is not overwritten: its session wins.
        let (_, stale) = try home.files.readForRefresh(settings)
        try home.write(LoginFixture.json(expiresAt: expiry, refreshToken: "rt-cli"))
        #expect(throws: LoginSessionError.self) { try home.files.write(again, replacing: stale) }
        #expect(try home.files.read(settings).refreshToken == "rt-cli")
    }

    @Test("a sign-in writes a new file 0600 in a new 0700 directory")
    func writeNew() throws {
        let temporary = try TemporaryDirectory(prefix: "stscache-login-new")
        let files = LoginSessionFiles(environment: ["AWS_LOGIN_CACHE_DIRECTORY": temporary.path + "/a/b"],
                                      homeDirectory: "/nonexistent")
        let session = try LoginSessionFile.parse(Array(LoginFixture.json(expiresAt: expiry).utf8)).get()
        try files.writeNew(session, session: LoginFixture.session)
        var info = stat()
        stat(files.path(forSession: LoginFixture.session), &info)
        #expect(info.st_mode & 0o777 == 0o600)
        stat(temporary.path + "/a/b", &info)
        #expect(info.st_mode & 0o777 == 0o700)
        #expect(try files.read(settings).refreshToken == "rt-1")
    }
}
