import Testing

import AWSConfig
@testable import SignIn
import TestSupport

@Suite("login: the OIDC endpoint override follows ignore_configured_endpoint_urls as the credentials do")
struct LoginTargetSettingsTests {
    static let config = """
        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1

        [profile via-session]
        sso_session = corp
        ignore_configured_endpoint_urls = true

        [profile legacy]
        sso_start_url = https://old.awsapps.com/start
        sso_region = eu-west-1
        ignore_configured_endpoint_urls = true

        [profile plain]
        sso_session = corp

        [profile corp-network]
        sso_session = corp
        services = corp
        ca_bundle = /etc/corp/ca.pem

        [services corp]
        sso_oidc =
          endpoint_url = https://oidc.corp.example

        """
    static let override = ["AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:9/oidc"]

    func target(_ profile: String?, session: String? = nil, _ environment: [String: String]) throws -> IdentityCenterLogin.Target {
        try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: environment,
                                       sessionName: session, profile: profile)
    }

    @Test("the profile's ignore_configured_endpoint_urls = true drops the override; the variable decides first")
    func profileSetting() throws {
        #expect(try target("via-session", Self.override).oidcEndpoint == nil)
        #expect(try target("legacy", Self.override).oidcEndpoint == nil)
        #expect(try target("plain", Self.override).oidcEndpoint == "http://127.0.0.1:9/oidc")
        #expect(try target(nil, session: "corp", Self.override).oidcEndpoint == "http://127.0.0.1:9/oidc")
        var overruled = Self.override
        overruled["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "false"
        #expect(try target("legacy", overruled).oidcEndpoint == "http://127.0.0.1:9/oidc")
        overruled["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try target(nil, session: "corp", overruled).oidcEndpoint == nil)
    }

    @Test("the profile's [services] sso_oidc endpoint_url and its ca_bundle reach the login; AWS_CA_BUNDLE wins")
    func servicesAndCABundle() throws {
        let login = try target("corp-network", [:])
        #expect(login.oidcEndpoint == "https://oidc.corp.example")
        #expect(login.caBundle == "/etc/corp/ca.pem")
        #expect(login.asSettings.caBundle == "/etc/corp/ca.pem")
        #expect(try target("corp-network", ["AWS_CA_BUNDLE": "/env/ca.pem"]).caBundle == "/env/ca.pem")
        #expect(try target("corp-network", Self.override).oidcEndpoint == "http://127.0.0.1:9/oidc")
        #expect(try target("plain", [:]).caBundle == nil)
    }
}
