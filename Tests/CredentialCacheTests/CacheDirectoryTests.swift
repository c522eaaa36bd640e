import Foundation
import Testing
@testable import CredentialCache
import TestSupport

@Suite("Cache directory", .permissiveTemporaryDirectory)
struct CacheDirectoryTests {
    let temp = TemporaryDirectory.current

    @Test("resolves STSCACHE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache")
    func resolvesPath() {
        let home = "/home/alice"
        #expect(CacheDirectory.resolvePath(environment: [:], home: home) == "/home/alice/.cache/stscache")
        #expect(CacheDirectory.resolvePath(environment: ["XDG_CACHE_HOME": "/xdg/cache/"], home: home)
                == "/xdg/cache/stscache")
        #expect(CacheDirectory.resolvePath(environment: ["XDG_CACHE_HOME": "/xdg", "STSCACHE_CACHE_DIR": "/explicit/"],
                                           home: home) == "/explicit")
        #expect(CacheDirectory.resolvePath(environment: ["STSCACHE_CACHE_DIR": "~/c"], home: home) == "/home/alice/c")
        // Empty means unset; a relative XDG_CACHE_HOME is ignored (XDG Base Directory spec).
        #expect(CacheDirectory.resolvePath(environment: ["STSCACHE_CACHE_DIR": "", "XDG_CACHE_HOME": ""], home: home)
                == "/home/alice/.cache/stscache")
        #expect(CacheDirectory.resolvePath(environment: ["XDG_CACHE_HOME": "relative/cache"], home: home)
                == "/home/alice/.cache/stscache")
    }

    @Test("creates the directory and missing parents with mode 0700 under umask 000")
    func createsPrivateDirectory() throws {
        let path = temp.sub("home/.cache/stscache")
        let directory = try CacheDirectory.open(path: path)
        #expect(directory.path == path)
        #expect(modeOf(path) == 0o700)
        #expect(modeOf(temp.sub("home/.cache")) == 0o700)
        #expect(modeOf(temp.sub("home")) == 0o700)
        // Opening again accepts what it made.
        _ = try CacheDirectory.open(path: path)
    }

    @Test("does not create the directory when asked not to")
    func missingWithoutCreate() throws {
        let path = temp.sub("absent")
        let error = expectCacheError("cache.dir-missing") { _ = try CacheDirectory.open(path: path, create: false) }
        #expect(error?.message.contains(path) == true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("refuses a symlinked cache directory, naming it")
    func refusesSymlink() throws {
        let real = temp.sub("real")
        #expect(mkdir(real, 0o700) == 0)
        let link = temp.sub("link")
        #expect(symlink(real, link) == 0)
        let error = expectCacheError("cache.dir-symlink") { _ = try CacheDirectory.open(path: link) }
        #expect(error?.message.contains(link) == true)
    }

    @Test("refuses a directory group or others can reach", arguments: [0o770, 0o750, 0o701, 0o707, 0o755])
    func refusesPermissiveModes(mode: Int) throws {
        let path = temp.sub("cache")
        #expect(mkdir(path, 0o700) == 0)
        #expect(chmod(path, mode_t(mode)) == 0)
        let error = expectCacheError("cache.dir-permissions") { _ = try CacheDirectory.open(path: path) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("chmod 700") == true)
    }

    @Test("refuses a file where the directory should be")
    func refusesFile() throws {
        let path = temp.sub("cache")
        writeBytes(path, [1, 2, 3])
        expectCacheError("cache.dir-not-directory") { _ = try CacheDirectory.open(path: path) }
    }

    @Test("refuses a directory owned by another user", .enabled(if: geteuid() == 0, "chown needs root"))
    func refusesOtherOwner() throws {
        let path = temp.sub("cache")
        #expect(mkdir(path, 0o700) == 0)
        #expect(chown(path, 4242, 4242) == 0)
        let error = expectCacheError("cache.dir-not-owned") { _ = try CacheDirectory.open(path: path) }
        #expect(error?.message.contains("4242") == true)
        #expect(error?.message.contains(path) == true)
    }
}
