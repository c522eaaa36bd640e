import Foundation
import Testing

@testable import AWSConfig
import TestSupport

@Suite("Config files")
struct ConfigFilesTests {
    @Test("config profiles are [default] and [profile x]; other bare sections are not profiles")
    func configProfileSections() throws {
        let files = try loadFiles(config: """
            [default]
            region = us-east-1
            [profile dev]
            region = eu-west-1
            [base]
            region = ignored
            [profile "with space"]
            region = ap-south-1
            [profile a b]
            region = three-words
            [profile]
            region = no-name
            [sso-session corp]
            sso_region = us-east-1
            [services local]
            sts =
              endpoint_url = http://localhost:4566
            """)
        #expect(files.profileNames == ["default", "dev", "with space"])
        #expect(files.profile(named: "dev")?.string("region") == "eu-west-1")
        #expect(files.profile(named: "with space")?.string("region") == "ap-south-1")
        #expect(files.profile(named: "base") == nil)
        #expect(files.profile(named: "corp") == nil)
        #expect(files.profile(named: "local") == nil)
        #expect(files.servicesSection(named: "local")?["sts"]?.subValues?["endpoint_url"]?.text == "http://localhost:4566")
        #expect(files.profile(named: "dev")?.header == "[profile dev]")
    }

    @Test("credentials sections are profiles named exactly as written")
    func credentialsProfileSections() throws {
        let files = try loadFiles(credentials: """
            [base]
            aws_access_key_id = AKIDBASE
            [profile odd]
            aws_access_key_id = AKIDODD
            """)
        #expect(files.profileNames == ["base", "profile odd"])
        #expect(files.profile(named: "base")?.string("aws_access_key_id") == "AKIDBASE")
        #expect(files.profile(named: "profile odd")?.string("aws_access_key_id") == "AKIDODD")
        #expect(files.profile(named: "odd") == nil)
        #expect(files.profile(named: "base")?.header == "[base]")
    }

    @Test("the credentials file's value wins over the config file's for the same key")
    func credentialsTakePrecedence() throws {
        let directory = try TempAWSDirectory()
        try directory.write(
            config: """
                [profile base]
                region = eu-west-1
                aws_access_key_id = AKIDFROMCONFIG
                aws_secret_access_key = config-secret
                """,
            credentials: """
                [base]
                aws_access_key_id = AKIDFROMCREDENTIALS
                """)
        let files = try directory.load()
        let base = try #require(files.profile(named: "base"))
        #expect(base.string("aws_access_key_id") == "AKIDFROMCREDENTIALS")
        #expect(base["aws_access_key_id"]?.location == FileLocation(file: directory.credentialsPath, line: 2))
        #expect(base.string("aws_secret_access_key") == "config-secret")
        #expect(base.string("region") == "eu-west-1")
        #expect(base.location == FileLocation(file: directory.configPath, line: 1))
        #expect(files.profileNames == ["base"])
    }

    @Test("[default] and [profile default] name one profile; the later section replaces the earlier")
    func defaultTwice() throws {
        let files = try loadFiles(config: """
            [default]
            region = first
            output = json
            [profile default]
            region = second
            """)
        let profile = try #require(files.profile(named: "default"))
        #expect(profile.string("region") == "second")
        #expect(profile.string("output") == nil)
        #expect(files.profileNames == ["default"])
    }

    @Test("missing files load as empty")
    func missingFiles() throws {
        let directory = try TempAWSDirectory()
        let files = try directory.load()
        #expect(files.config == nil)
        #expect(files.credentials == nil)
        #expect(files.profileNames.isEmpty)
        #expect(files.profile(named: "default") == nil)
    }

    @Test("a directory where the config file should be is an unreadable-file error")
    func directoryIsUnreadable() throws {
        let directory = try TempAWSDirectory()
        try FileManager.default.createDirectory(atPath: directory.configPath, withIntermediateDirectories: false)
        let error = expectConfigError(.unreadableFile) { _ = try directory.load() }
        #expect(error?.message.contains(directory.configPath) == true)
    }

    @Test("a FIFO is refused without blocking")
    func fifoIsUnreadable() throws {
        let directory = try TempAWSDirectory()
        #expect(mkfifo(directory.credentialsPath, 0o600) == 0)
        let error = expectConfigError(.unreadableFile) { _ = try directory.load() }
        #expect(error?.message.contains("not a regular file") == true)
    }

    @Test("a parse error in the file names the real path and line")
    func parseErrorNamesPath() throws {
        let directory = try TempAWSDirectory()
        try directory.write(config: "[default]\nregion = x\nbroken line\n")
        let error = expectConfigError(.malformedLine) { _ = try directory.load() }
        #expect(error?.message.hasPrefix("\(directory.configPath):3:") == true)
    }

    @Test("non-UTF-8 bytes in a file on disk are an invalid-encoding error")
    func invalidEncodingOnDisk() throws {
        let directory = try TempAWSDirectory()
        try directory.writeConfig(bytes: Array("[default]\n".utf8) + [0xFF, 0xFE, 0x0A])
        let error = expectConfigError(.invalidEncoding) { _ = try directory.load() }
        #expect(error?.location == FileLocation(file: directory.configPath, line: 2))
    }

    @Test("reads the raw credential_process line")
    func credentialProcessLine() throws {
        let files = try loadFiles(config: delegatingConfig)
        #expect(files.credentialProcess(forProfile: "prod") == "stscache credential-process --profile prod-role")
        #expect(files.credentialProcess(forProfile: "other") == "/opt/bin/helper --json")
        #expect(files.credentialProcess(forProfile: "prod-role") == nil)
        #expect(files.credentialProcess(forProfile: "missing") == nil)
    }
}
