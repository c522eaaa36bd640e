import Testing

@testable import AWSConfig
import TestSupport

/// A typo'd name gets the one near name as its fix, never the advice to create something under
/// the typo; when nothing is near, the message keeps its list or pointer.
@Suite("Did you mean: config errors")
struct DidYouMeanTests {
    static func resolver(_ files: ConfigFiles) -> ProfileResolver {
        ProfileResolver(files: files, environment: noEnvironment, policy: ResolutionPolicyTests.policy())
    }

    @Test("an unknown profile: the near name instead of the list and instead of adding [profile TYPO]")
    func unknownProfile() throws {
        let files = try loadFiles(config: "[profile prod]\nregion = x\n[profile dev]\nregion = x\n", credentials: "[base]\n")
        let near = expectConfigError(.unknownProfile) { _ = try Self.resolver(files).resolve(profile: "prdo") }
        #expect(near?.message.hasSuffix("; did you mean \"prod\"?") == true, "\(near?.message ?? "")")
        #expect(near?.message.contains("[profile prdo]") == false)
        #expect(near?.message.contains("dev") == false)
        // Control: nothing near keeps the pointer and the short list.
        let far = expectConfigError(.unknownProfile) { _ = try Self.resolver(files).resolve(profile: "staging") }
        #expect(far?.message.contains("add a [profile staging] section") == true)
        #expect(far?.message.contains("use one of: prod, dev, base.") == true, "\(far?.message ?? "")")
        #expect(far?.message.contains("did you mean") == false)
    }

    @Test("source_profile = bsae (the tool's own resolution, no key store): correct it to base")
    func sourceProfile() throws {
        let files = try loadFiles(config: "[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = bsae\n",
                                  credentials: "[base]\naws_access_key_id = AKID\naws_secret_access_key = SECRETMARK\n")
        let error = expectConfigError(.unknownProfile) { _ = try Self.resolver(files).resolve(profile: "r") }
        #expect(error?.message.contains("did you mean \"base\"? Correct source_profile.") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("add it") == false)
        #expect(error?.location?.line == 3)
    }

    @Test("services = and sso_session = name a section: the near section's name")
    func sections() throws {
        let files = try loadFiles(config: """
            [profile r]
            role_arn = arn:aws:iam::1:role/A
            credential_source = Ec2InstanceMetadata
            services = loaclstack
            [services localstack]
            sts =
              endpoint_url = http://127.0.0.1:4566
            [profile s]
            sso_session = crop
            sso_account_id = 111122223333
            sso_role_name = Dev
            [sso-session corp]
            sso_start_url = https://x.example/start
            sso_region = eu-west-1
            """)
        let services = expectConfigError(.unknownServicesSection) { _ = try Self.resolver(files).resolve(profile: "r") }
        #expect(services?.message.hasSuffix("did you mean \"localstack\"? Correct the services line.") == true,
                "\(services?.message ?? "")")
        let session = expectConfigError(.unknownSSOSession) { _ = try Self.resolver(files).resolve(profile: "s") }
        #expect(session?.message.hasSuffix("did you mean \"corp\"? Correct sso_session.") == true, "\(session?.message ?? "")")
        #expect(files.ssoSessionNames == ["corp"])
        #expect(files.servicesNames == ["localstack"])
    }
}

@Suite("Section names without values (completion)")
struct HeaderNamesTests {
    @Test("parseHeaders keeps every section parse finds, and no value")
    func headersOnly() throws {
        let text = """
            [default]
            aws_secret_access_key = SECRETMARK1
            [profile a]
            key =
              [not-a-header] = continuation
            note = first
              SECRETMARK2
              [also-not-a-header]
            [profile b]
              [c]
            x = 1
            """
        let full = try parse(text)
        let headers = try INIDocument.parseHeaders(Array(text.utf8), path: "/fake/config")
        #expect(headers.sections.map(\.name) == full.sections.map(\.name))
        #expect(headers.sections.map(\.name) == ["default", "profile a", "profile b", "c"])
        #expect(headers.sections.allSatisfy { $0.values.isEmpty })
    }

    @Test("ConfigNames reads the profile and sso-session names of both files, and no secret")
    func configNames() throws {
        let directory = try TempAWSDirectory()
        try directory.write(
            config: "[profile dev]\nregion = x\n[sso-session corp]\nsso_region = x\n[profile prod]\nrole_arn = r\n",
            credentials: "[base]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = SECRETMARK\n[dev]\n")
        let names = ConfigNames.load(configPath: directory.configPath, credentialsPath: directory.credentialsPath)
        #expect(names.profiles == ["dev", "prod", "base"])
        #expect(names.ssoSessions == ["corp"])
        #expect(!"\(names)".contains("SECRETMARK") && !"\(names)".contains("AKIDEXAMPLE"))
        // Missing files add no names, and say nothing.
        #expect(ConfigNames.load(configPath: "/nonexistent/c", credentialsPath: "/nonexistent/k").profiles == [])
    }
}
