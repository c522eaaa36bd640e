#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

/// One profile's settings, merged from both files.
public struct Profile: Sendable, Equatable {
    public let name: String
    /// Keys from the config file, overridden key by key by the credentials file (botocore's merge).
    public var values: [String: INIValue]
    /// Where the profile's section starts: the config file's header if it has one, else the
    /// credentials file's.
    public var location: FileLocation
    /// How the section is written in the file `location` points at (`[profile x]`, `[default]`, `[x]`).
    public var header: String

    public init(name: String, values: [String: INIValue], location: FileLocation, header: String) {
        self.name = name
        self.values = values
        self.location = location
        self.header = header
    }

    public subscript(key: String) -> INIValue? { values[key] }

    /// The value of `key` when it is set to something other than the empty string.
    public func string(_ key: String) -> String? {
        guard let value = values[key], !value.text.isEmpty else { return nil }
        return value.text
    }
}

/// The shared config file and the shared credentials file, parsed, with botocore's view of
/// which sections are profiles.
///
/// In the config file a profile is `[profile name]` (the name may be quoted) or `[default]`;
/// other bare sections are not profiles. `[services name]` sections hold per-service settings.
/// In the credentials file every section is a profile, named exactly as written. A profile's
/// keys are the config file's, with the credentials file's winning for a key set in both.
public struct ConfigFiles: Sendable {
    public let configPath: String
    public let credentialsPath: String
    /// nil when the file does not exist.
    public let config: INIDocument?
    /// nil when the file does not exist.
    public let credentials: INIDocument?

    /// Profile name → index of its section in `config.sections`.
    private let configProfiles: [String: Int]
    private let servicesSections: [String: Int]
    /// Every profile name: the config file's in order, then those only in the credentials file.
    public let profileNames: [String]

    public init(config: INIDocument?, credentials: INIDocument?, configPath: String, credentialsPath: String) {
        self.config = config
        self.credentials = credentials
        self.configPath = configPath
        self.credentialsPath = credentialsPath

        var profiles: [String: Int] = [:]
        var services: [String: Int] = [:]
        var names: [String] = []
        for (index, section) in (config?.sections ?? []).enumerated() {
            if let name = Self.profileName(ofConfigSection: section.name) {
                if profiles.updateValue(index, forKey: name) == nil { names.append(name) }
            } else if section.name.hasPrefix("services") {
                if let words = shellWords(section.name), words.count == 2 { services[words[1]] = index }
            }
        }
        for section in credentials?.sections ?? [] where profiles[section.name] == nil {
            names.append(section.name)
        }
        configProfiles = profiles
        servicesSections = services
        profileNames = names
    }

    /// The profile a config-file section defines (`[profile name]`, `[default]`), or nil for
    /// any other section. botocore's build_profile_map: a `profile` prefix, then exactly two
    /// shlex words; a later section for the same profile replaces an earlier one.
    public static func profileName(ofConfigSection name: String) -> String? {
        if name.hasPrefix("profile") {
            guard let words = shellWords(name), words.count == 2 else { return nil }
            return words[1]
        }
        return name == "default" ? "default" : nil
    }

    /// Reads and parses both files. A file that does not exist is simply absent (botocore
    /// ignores missing files); one that exists but cannot be read is an `unreadable-file` error.
    public static func load(configPath: String, credentialsPath: String) throws(ConfigError) -> ConfigFiles {
        let config = try readFile(atPath: configPath).map { bytes throws(ConfigError) in
            try INIDocument.parse(bytes, path: configPath)
        }
        let credentials = try readFile(atPath: credentialsPath).map { bytes throws(ConfigError) in
            try INIDocument.parse(bytes, path: credentialsPath)
        }
        return ConfigFiles(config: config, credentials: credentials, configPath: configPath, credentialsPath: credentialsPath)
    }

    /// The profile's merged settings, or nil when neither file defines it.
    public func profile(named name: String) -> Profile? {
        let fromConfig = configProfiles[name].flatMap { config?.sections[$0] }
        let fromCredentials = credentials?.section(named: name)
        switch (fromConfig, fromCredentials) {
        case (nil, nil):
            return nil
        case let (configSection?, nil):
            return Profile(name: name, values: configSection.values, location: configSection.location,
                           header: "[\(configSection.name)]")
        case let (nil, credentialsSection?):
            return Profile(name: name, values: credentialsSection.values, location: credentialsSection.location,
                           header: "[\(credentialsSection.name)]")
        case let (configSection?, credentialsSection?):
            return Profile(name: name, values: configSection.values.merging(credentialsSection.values) { _, new in new },
                           location: configSection.location, header: "[\(configSection.name)]")
        }
    }

    /// A `[services name]` section of the config file.
    public func servicesSection(named name: String) -> INISection? {
        servicesSections[name].flatMap { config?.sections[$0] }
    }

    /// The profile's raw `credential_process` line, if it has one.
    public func credentialProcess(forProfile name: String) -> String? {
        profile(named: name)?.string("credential_process")
    }

    /// The names of the config file's `[services NAME]` sections, sorted.
    public var servicesNames: [String] { servicesSections.keys.sorted() }

    /// The profile a typo'd `name` most likely meant (`NameSuggestion`), if one is that close.
    public func profileSuggestion(for name: String) -> String? {
        NameSuggestion.closest(to: name, among: profileNames)
    }

    /// Says which files were looked in, for "profile not found" messages.
    func searchedFilesDescription() -> String {
        func describe(_ path: String, _ document: INIDocument?) -> String {
            document == nil ? "\(path) (does not exist)" : path
        }
        return "\(describe(configPath, config)) or \(describe(credentialsPath, credentials))"
    }
}

/// The profile and sso-session names of both files, read from their section headers alone
/// (`INIDocument.parseHeaders`: no value is decoded or kept): what shell completion offers. A
/// file that is missing, unreadable or malformed adds no names; nothing is reported.
public struct ConfigNames: Sendable, Equatable {
    /// As `ConfigFiles.profileNames`: the config file's in order, then the credentials file's.
    public let profiles: [String]
    public let ssoSessions: [String]

    public static func load(configPath: String, credentialsPath: String) -> ConfigNames {
        func headers(_ path: String) -> INIDocument? {
            guard let bytes = try? readFile(atPath: path) else { return nil }
            return try? INIDocument.parseHeaders(bytes, path: path)
        }
        let files = ConfigFiles(config: headers(configPath), credentials: headers(credentialsPath),
                                configPath: configPath, credentialsPath: credentialsPath)
        return ConfigNames(profiles: files.profileNames, ssoSessions: files.ssoSessionNames)
    }
}

// MARK: - Reading files

/// Files larger than this are refused: real config files are a few KiB, and a limit keeps a
/// mistaken `AWS_CONFIG_FILE` from eating memory.
let maximumConfigFileSize = 64 << 20

/// The file's bytes, or nil when it does not exist.
func readFile(atPath path: String) throws(ConfigError) -> [UInt8]? {
    func unreadable(_ why: String) -> ConfigError {
        ConfigError(.unreadableFile, "cannot read \(path): \(why).", location: nil)
    }
    switch BoundedRead.regularFile(atPath: path, limit: maximumConfigFileSize) {
    case .success(let bytes): return bytes
    case .failure(.missing): return nil
    case .failure(.notRegularFile):
        throw unreadable("it is not a regular file; point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at a file")
    case .failure(.tooLarge(let size?, _)):
        throw unreadable("it is \(size) bytes, larger than the \(maximumConfigFileSize >> 20) MiB allowed for a config file")
    case .failure(.tooLarge(nil, _)):
        throw unreadable("it is larger than the \(maximumConfigFileSize >> 20) MiB allowed for a config file")
    case .failure(.system(let code)):
        throw unreadable(systemMessage(code) + (code == EACCES ? "; check the file's permissions" : ""))
    }
}

private func systemMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
