import Foundation
import Testing
@testable import CredentialCache
import TestSupport

/// The whole test process runs under umask 000, the most permissive one, so every mode the
/// tests assert (0700 directories, 0600 files) comes from the code, not from a kind umask.
/// Set once and never restored, so parallel tests never see it change under them.
let permissiveUmask: Void = { _ = umask(0) }()

extension Trait where Self == FreshForEachTestCase<TemporaryDirectory> {
    /// `.temporaryDirectory()` made after the umask is set: a fresh directory under /tmp for each
    /// test case, `TemporaryDirectory.current`, removed with everything in it when the case ends.
    static var permissiveTemporaryDirectory: Self {
        .temporaryDirectory {
            _ = permissiveUmask
            return try TemporaryDirectory(prefix: "stscache-cache-tests")
        }
    }
}

/// A cache in `cache` of the test case's directory (`.permissiveTemporaryDirectory`).
func temporaryCache() throws -> CredentialCache {
    try CredentialCache(directory: CacheDirectory.open(path: TemporaryDirectory.current.sub("cache")))
}

/// Credentials whose every secret is easy to search for in bytes on disk.
func sampleCredentials(expiration: Date = Date(timeIntervalSince1970: 1_900_000_000),
                       tag: String = "A") -> CachedCredentials {
    CachedCredentials(
        accessKeyId: "ASIASAMPLEACCESSKEY\(tag)",
        secretAccessKey: "sEcReT/sample+secret+access+key+\(tag)0123456789abcd",
        sessionToken: "SESSIONTOKEN" + String(repeating: "Zm9vYmFy\(tag)", count: 80),
        expiration: expiration)
}

let issued = Date(timeIntervalSince1970: 1_899_996_400)

let prodKey = CacheKey(roleArn: "arn:aws:iam::123456789012:role/Admin", sessionName: "alice",
                       sourceIdentity: "profile:base", externalId: nil)
let devKey = CacheKey(roleArn: "arn:aws:iam::210987654321:role/Dev", sessionName: "alice",
                      sourceIdentity: "profile:base", externalId: nil)

func randomKey() -> [UInt8] { (0..<32).map { _ in UInt8.random(in: 0...255) } }

func modeOf(_ path: String) -> UInt32 {
    var info = stat()
    precondition(lstat(path, &info) == 0, "lstat \(path)")
    return UInt32(info.st_mode) & 0o7777
}

func readBytes(_ path: String) -> [UInt8] {
    Array(FileManager.default.contents(atPath: path) ?? Data())
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let ok = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    precondition(ok, "write \(path)")
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start ..< start + needle.count]) == needle { return true }
    }
    return false
}

/// Expects `body` to throw a `CacheError` with `code`; returns it for further checks.
@discardableResult
func expectCacheError(_ code: String, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> CacheError? {
    do {
        try body()
        Issue.record("expected CacheError \(code), nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as CacheError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected CacheError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Runs a command line, returning exit status, stdout and stderr.
@discardableResult
func run(_ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
}
