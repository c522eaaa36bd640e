import StscacheSupport

/// A service as botocore's configured-endpoint rules name it: the snake-case service id
/// (`sts`, `sso_oidc`), which is the key under a `[services NAME]` section, and upper-cased
/// the suffix of `AWS_ENDPOINT_URL_<SERVICE>`.
public struct AWSServiceID: Sendable, Hashable, CustomStringConvertible {
    /// Lower-case, words joined by `_` (botocore's `_get_snake_case_service_id`).
    public let snakeCase: String

    public init(_ snakeCase: String) {
        self.snakeCase = snakeCase
    }

    public static let sts = AWSServiceID("sts")
    public static let iam = AWSServiceID("iam")
    /// The Identity Center portal (GetRoleCredentials).
    public static let sso = AWSServiceID("sso")
    /// Identity Center OIDC (CreateToken, RegisterClient).
    public static let ssoOIDC = AWSServiceID("sso_oidc")
    /// AWS Sign-In (`aws login`'s CreateOAuth2Token).
    public static let signin = AWSServiceID("signin")

    /// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_SSO_OIDC`, ... Upper-cased byte by byte (ASCII):
    /// it runs on every cache hit, and `String.uppercased()` goes through Unicode's tables.
    public var variable: String {
        var bytes = Array("AWS_ENDPOINT_URL_".utf8)
        for byte in snakeCase.utf8 { bytes.append((0x61...0x7A).contains(byte) ? byte - 0x20 : byte) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { snakeCase }
}

/// An endpoint URL the user configured for one service, and where it was found. Plain fields
/// rather than an enum with payloads: it is made on every cache hit, and an Optional of a
/// multi-payload enum has its metadata made at run time there.
public struct ConfiguredEndpoint: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        /// `AWS_ENDPOINT_URL_<SERVICE>` (`name`).
        case serviceVariable
        /// `AWS_ENDPOINT_URL`.
        case globalVariable
        /// `endpoint_url` under the service in `[services <name>]`.
        case servicesSection
        /// The own `endpoint_url` of profile `name`.
        case profile
    }

    public var url: String
    public var origin: Origin
    /// The variable, the services section or the profile.
    public var name: String
    /// The line of the setting, for the two from the config file.
    public var location: FileLocation?

    public init(url: String, origin: Origin, name: String, location: FileLocation? = nil) {
        self.url = url
        self.origin = origin
        self.name = name
        self.location = location
    }

    /// Where the URL came from, for messages: `AWS_ENDPOINT_URL_STS`, `endpoint_url in
    /// [services local] (~/.aws/config:7)`, ...
    public var source: String {
        let at = location.map { " (\($0))" } ?? ""
        switch origin {
        case .serviceVariable, .globalVariable: return name
        case .servicesSection: return "endpoint_url in [services \(name)]" + at
        case .profile: return "endpoint_url of profile \"\(name)\"" + at
        }
    }
}

/// botocore's configured-endpoint rules (`configprovider.py`, `ConfiguredEndpointProvider`, and
/// `args.py`'s `_compute_configured_endpoint_url`), the one implementation every caller uses:
/// role sessions' STS, the Identity Center portal and OIDC, `keys`' STS and IAM, `doctor`,
/// Sign-In, and what `exec` and `export` hand a child.
///
/// Unless ignored, the first of, for service S:
/// 1. `AWS_ENDPOINT_URL_<S>`;
/// 2. `AWS_ENDPOINT_URL`;
/// 3. `endpoint_url` under `S =` in the `[services NAME]` section the profile's `services = NAME`
///    names (a missing or empty section is an error, as in botocore, but only when this step is
///    reached);
/// 4. the profile's `endpoint_url`.
/// Empty values are skipped. All of it is ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
/// (when set at all, even empty), else the profile's `ignore_configured_endpoint_urls`, is
/// `true` in any case (botocore's `ensure_boolean`).
public enum ConfiguredEndpoints {
    public static let ignoreVariable = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
    public static let globalVariable = "AWS_ENDPOINT_URL"

    /// Whether configured endpoints are ignored. botocore's chain: the variable when it is in
    /// the environment (an empty value is `false`, and the profile is not consulted), else the
    /// profile's `ignore_configured_endpoint_urls`.
    public static func ignored(environment: [String: String], profile: Profile?) -> Bool {
        ignored(environment[ignoreVariable] ?? profile?["ignore_configured_endpoint_urls"]?.text)
    }

    private static func ignored(_ value: String?) -> Bool {
        value?.lowercased() == "true"
    }

    /// The configured endpoint for `service`, or nil for the service's default endpoint.
    /// `profile` is the profile the call is made for (nil: none, only the environment counts).
    public static func endpoint(for service: AWSServiceID, profile: Profile?, files: ConfigFiles,
                                environment: [String: String]) throws(ConfigError) -> ConfiguredEndpoint? {
        try find(service, profile: profile, files: files, environment: environment, ConfiguredEndpoint.init)
    }

    /// Only the URL: what the cache-hit path needs (no `ConfiguredEndpoint` to build and destroy
    /// there: an Optional of it costs a run-time metadata instantiation).
    public static func url(for service: AWSServiceID, profile: Profile, files: ConfigFiles,
                           environment: [String: String]) throws(ConfigError) -> String? {
        try find(service, profile: profile, files: files, environment: environment) { url, _, _, _ in url }
    }

    /// The rule itself, once: `make` gets the URL, its origin, the name of the variable, section
    /// or profile, and the setting's line.
    private static func find<Found>(
        _ service: AWSServiceID, profile: Profile?, files: ConfigFiles, environment: [String: String],
        _ make: (String, ConfiguredEndpoint.Origin, String, FileLocation?) -> Found
    ) throws(ConfigError) -> Found? {
        if ignored(environment[ignoreVariable] ?? profile?["ignore_configured_endpoint_urls"]?.text) { return nil }
        let name = service.variable
        if let url = environment[name], !url.isEmpty { return make(url, .serviceVariable, name, nil) }
        if let url = environment[globalVariable], !url.isEmpty { return make(url, .globalVariable, globalVariable, nil) }
        guard let profile else { return nil }
        if let services = try servicesSection(of: profile, files: files),
           let value = services.section[service.snakeCase]?.subValues?["endpoint_url"], !value.text.isEmpty {
            return make(value.text, .servicesSection, services.name, value.location)
        }
        if let value = profile["endpoint_url"], !value.text.isEmpty {
            return make(value.text, .profile, profile.name, value.location)
        }
        return nil
    }

    /// The variables a child process needs to reach the endpoints `profile` configures once it
    /// no longer reads that profile (`exec`, `export`): the profile's `endpoint_url` as
    /// `AWS_ENDPOINT_URL`, each service's `endpoint_url` in its `[services]` section as
    /// `AWS_ENDPOINT_URL_<SERVICE>`, and `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` when the
    /// profile ignores them. Only what would win in this environment and is not already in it
    /// (the child inherits the environment): a service URL below a set `AWS_ENDPOINT_URL` stays
    /// out, since the child would otherwise rank it above that variable. Sorted by name.
    public static func childVariables(profile: Profile?, files: ConfigFiles, environment: [String: String])
        throws(ConfigError) -> [(name: String, value: String)]
    {
        guard let profile else { return [] }
        func isSet(_ name: String) -> Bool { !(environment[name] ?? "").isEmpty }
        if ignored(environment: environment, profile: profile) {
            return environment[ignoreVariable] == nil ? [(ignoreVariable, "true")] : []
        }
        if isSet(globalVariable) { return [] }
        var variables: [(name: String, value: String)] = []
        if let services = try servicesSection(of: profile, files: files) {
            for (key, value) in services.section.values {
                let service = AWSServiceID(key)
                guard let url = value.subValues?["endpoint_url"]?.text, !url.isEmpty, isSafeVariableSuffix(key),
                      !isSet(service.variable) else { continue }
                variables.append((service.variable, url))
            }
        }
        if let url = profile.string("endpoint_url") { variables.append((globalVariable, url)) }
        return variables.sorted { $0.name < $1.name }
    }

    /// The `[services NAME]` section the profile's `services = NAME` names, nil when it names
    /// none. botocore's `_get_services_config`: a `services` key naming no section, or an empty
    /// one, is an error.
    /// A struct, not a tuple: a tuple's metadata is made at run time, on the cache-hit path.
    struct ServicesSection {
        var name: String
        var section: INISection
    }

    static func servicesSection(of profile: Profile, files: ConfigFiles) throws(ConfigError) -> ServicesSection? {
        guard let reference = profile["services"] else { return nil }
        guard let section = files.servicesSection(named: reference.text), !section.values.isEmpty else {
            let fix = NameSuggestion.closest(to: reference.text, among: files.servicesNames)
                .map { "did you mean \"\($0)\"? Correct the services line." }
                ?? "add it (e.g. sts =, then an indented endpoint_url = URL) or remove the services line."
            throw ConfigError(.unknownServicesSection, at: reference.location, of: profile,
                "profile \"\(profile.name)\" has services = \(reference.text), but \(files.configPath) has no "
                    + "[services \(reference.text)] section with settings; " + fix)
        }
        return ServicesSection(name: reference.text, section: section)
    }

    /// A service key that makes a plain variable name (`s3`, `sso_oidc`): letters, digits, `_`.
    private static func isSafeVariableSuffix(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}
