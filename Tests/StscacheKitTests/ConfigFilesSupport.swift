// The config-file fixtures of Tests/AWSConfigTests/TestSupport.swift, for the profile-resolution
// tests that moved here with stscache's ResolutionPolicy. Both copies go into the shared test
// support target when it exists (issue 11, item 6).
import Foundation
import Testing

import AWSConfig

/// A real temporary directory holding `config` and `credentials`, removed when released.
final class TempAWSDirectory {
    let url: URL
    var configPath: String { url.appendingPathComponent("config").path }
    var credentialsPath: String { url.appendingPathComponent("credentials").path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("awsconfig-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func write(config: String? = nil, credentials: String? = nil) throws {
        if let config { try Data(config.utf8).write(to: URL(fileURLWithPath: configPath)) }
        if let credentials { try Data(credentials.utf8).write(to: URL(fileURLWithPath: credentialsPath)) }
    }

    func writeConfig(bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: configPath))
    }

    func load() throws -> ConfigFiles {
        try ConfigFiles.load(configPath: configPath, credentialsPath: credentialsPath)
    }
}

/// Writes the two files into a fresh directory and loads them (the directory goes away after).
func loadFiles(config: String? = nil, credentials: String? = nil) throws -> ConfigFiles {
    let directory = try TempAWSDirectory()
    try directory.write(config: config, credentials: credentials)
    return try directory.load()
}

/// Runs `body`, requires it to throw a `ConfigError` with `code`, and returns the error.
@discardableResult
func expectConfigError(
    _ code: ConfigError.Code, sourceLocation: Testing.SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ConfigError? {
    do {
        try body()
        Issue.record("expected ConfigError \(code.rawValue), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as ConfigError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ConfigError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

let noEnvironment: [String: String] = [:]
