#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import CredentialCache
import STS
import Transport
import StscacheSupport
import Credentials
import LocalEndpoint

/// `stscache login`: an IAM Identity Center sign-in as the AWS CLI does it, leaving the token
/// where `aws` and stscache read it: the authorization code flow with PKCE and a loopback
/// redirect (`aws sso login`'s default for sso-session profiles), or OIDC's device authorization
/// flow (`--use-device-code`, and always for legacy profiles). The client registration is cached
/// beside the tokens, under the CLI's name for it, and reused until it expires by the flow it was
/// made for.
package struct IdentityCenterLogin {
    /// What to sign in to: a session (`--sso-session`) or a legacy profile's start URL.
    package struct Target: Equatable {
        package var startURL: String
        package var region: String
        package var sessionName: String?
        /// `sso_registration_scopes` as listed; nil when the session has no such key.
        package var scopes: [String]?
        package var oidcEndpoint: String?
        /// The profile whose settings are used (legacy), for messages.
        package var profile: String?

        var asSettings: IdentityCenterSettings {
            IdentityCenterSettings(profile: profile ?? "", startURL: startURL, region: region, accountId: "", roleName: "",
                                   sessionName: sessionName, registrationScopes: scopes ?? [], oidcEndpoint: oidcEndpoint)
        }
    }

    /// Which sign-in: the browser comes back to a loopback redirect, or the user confirms a code.
    package enum Flow: Equatable {
        case authorizationCode
        case deviceCode
    }

    package var context: Context
    /// Timeouts and proxies for the OIDC calls.
    package var settings: NetworkSettings
    /// Seconds between polls when OIDC does not say (its default is 5).
    package static let defaultInterval = 5
    /// How long the redirect is waited for (the CLI's `AuthCodeFetcher` waits 10 minutes).
    package static let redirectTimeout: Double = 600

    package init(context: Context) throws(UsageError) {
        self.context = context
        settings = try NetworkSettings(environment: context.environment)
    }

    /// The target for `--sso-session NAME` or `--profile NAME`.
    package static func target(files: ConfigFiles, environment: [String: String], sessionName: String?, profile: String?)
        throws -> Target
    {
        var name = sessionName
        var legacyProfile: Profile?
        var section: Profile?
        if let profile {
            guard let found = files.profile(named: profile) else {
                throw UsageError(.invalidSetting, "profile \"\(profile)\" is not in \(files.configPath); "
                    + (files.profileSuggestion(for: profile).map { "did you mean \"\($0)\"?" }
                        ?? "give --sso-session or another profile."))
            }
            section = found
            if let session = found.string("sso_session") {
                name = session
            } else {
                legacyProfile = found
            }
        }
        // The profile's ignore_configured_endpoint_urls counts as it does for its credentials.
        let ignore = ProfileResolver.ignoresConfiguredEndpoints(environment: environment, profile: section)
        let oidc = ignore ? nil : environment["AWS_ENDPOINT_URL_SSO_OIDC"].flatMap { $0.isEmpty ? nil : $0 }
        if let name {
            guard let section = files.ssoSessionSection(named: name) else {
                throw UsageError(.invalidSetting, "\(files.configPath) has no [sso-session \(name)] section; "
                    + (NameSuggestion.closest(to: name, among: files.ssoSessionNames).map { "did you mean \"\($0)\"?" }
                        ?? "add one with sso_start_url and sso_region."))
            }
            guard let startURL = section["sso_start_url"]?.text, !startURL.isEmpty,
                  let region = section["sso_region"]?.text, !region.isEmpty else {
                throw UsageError(.invalidSetting, "[sso-session \(name)] in \(files.configPath) needs sso_start_url and sso_region.")
            }
            let scopes = section["sso_registration_scopes"].map {
                $0.text.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            }
            return Target(startURL: startURL, region: region, sessionName: name, scopes: scopes, oidcEndpoint: oidc)
        }
        guard let legacyProfile, let startURL = legacyProfile.string("sso_start_url"),
              let region = legacyProfile.string("sso_region") else {
            throw UsageError(.invalidSetting, "profile \"\(profile ?? "")\" has neither sso_session nor sso_start_url and sso_region; it is not "
                + "an IAM Identity Center profile.")
        }
        return Target(startURL: startURL, region: region, sessionName: nil, scopes: nil, oidcEndpoint: oidc,
                      profile: legacyProfile.name)
    }

    /// The CLI's registration cache name (`_registration_cache_key`): SHA-1 of
    /// `json.dumps(args, sort_keys=True)` over `tool`, `startUrl`, `region`, `scopes` and
    /// `session_name`, the last two `null` when not set.
    package static func registrationFileName(_ target: Target) -> String {
        let members: [(String, String)] = [
            ("region", jsonString(target.region)),
            ("scopes", target.scopes.map { "[" + $0.map(jsonString).joined(separator: ", ") + "]" } ?? "null"),
            ("session_name", target.sessionName.map(jsonString) ?? "null"),
            ("startUrl", jsonString(target.startURL)),
            ("tool", jsonString("botocore")),
        ]
        let json = "{" + members.map { jsonString($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
        return IdentityCenterToken.fileName(forKey: json)
    }

    /// Python's `json.dumps` of a string (ASCII-only output, as its default `ensure_ascii`).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// What `signIn` did: signed in, or waited for another login of the same session and took
    /// the token it wrote.
    package enum Outcome: Equatable {
        case signedIn
        case joinedAnotherLogin
    }

    /// `run` under a lock of its own per token file, in the cache directory (not the refresh
    /// lock: a login can wait on a browser for minutes, and callers refreshing a still-valid
    /// token must not wait on it). Logins started together make one sign-in: the others wait
    /// (`waiting` is called once) and use the token it wrote.
    package func signIn(_ target: Target, flow: Flow, cache: CredentialCache, waiting: () -> Void,
                        show: (_ url: String, _ userCode: String?) -> Void) throws -> Outcome {
        let files = IdentityCenterTokenFiles(homeDirectory: context.homeDirectory)
        let settings = target.asSettings
        let before = (try? files.read(settings))?.accessToken
        let refreshable = target.sessionName != nil
        // A token this login did not start with, with time left: another login's.
        let joinable = { () -> Outcome? in
            guard let current = try? files.read(settings), current.accessToken != before,
                  current.plan(now: context.now(), refreshable: refreshable) == .use else { return nil }
            return .joinedAnotherLogin
        }
        let key = CacheKey(roleArn: "the Identity Center login of \(IdentityCenterService.describe(settings))",
                           sessionName: "identity-center-login", sourceIdentity: files.path(for: settings))
        var announced = false
        return try cache.withEntryLock(key, timeout: Self.redirectTimeout + 120, whileWaiting: { () -> Outcome? in
            if !announced {
                announced = true
                waiting()
            }
            return joinable()
        }) {
            if let joined = joinable() { return joined }
            try run(target, flow: flow, show: show)
            return .signedIn
        }
    }

    /// Signs in with `flow` and writes the token file. `show` gets the URL to open and, for the
    /// device flow, the code to confirm there.
    package func run(_ target: Target, flow: Flow, show: (_ url: String, _ userCode: String?) -> Void) throws {
        if context.nonInteractive {
            throw IdentityCenterError(.notLoggedIn, "STSCACHE_NONINTERACTIVE=1: a login needs a person; run stscache login "
                + "from a terminal.")
        }
        let base = try IdentityCenterService.oidcBase(target.asSettings)
        let files = IdentityCenterTokenFiles(homeDirectory: context.homeDirectory)
        try files.createDirectory()
        // The cache's policy before anything is sent: a token or registration file (or the
        // directory) a login would write into or reuse, but that someone else may have put there.
        let login = target.asSettings.loginCommand
        _ = try files.readChecked(IdentityCenterToken.fileName(forKey: target.asSettings.tokenCacheKeyInput), kind: .token,
                                  login: login)
        _ = try files.readChecked(Self.registrationFileName(target), kind: .registration, login: login)
        switch flow {
        case .deviceCode: try deviceCode(target, base: base, files: files, show: show)
        case .authorizationCode: try authorizationCode(target, base: base, files: files, show: show)
        }
    }

    /// Device authorization, then `CreateToken` polled until the user approves, denies or the
    /// code expires.
    private func deviceCode(_ target: Target, base: String, files: IdentityCenterTokenFiles,
                            show: (_ url: String, _ userCode: String?) -> Void) throws {
        let registration = try clientRegistration(target, flow: .deviceCode, base: base, files: files)
        let start = try post(base + "/device_authorization", [
            "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
            "startUrl": .string(target.startURL),
        ])
        guard start.status == 200, let answer = JSONObjectFields.parse(start.body),
              let deviceCode = answer.string("deviceCode"), IdentityCenterToken.isHeaderSafe(deviceCode),
              let userCode = answer.string("userCode"), IdentityCenterToken.isHeaderSafe(userCode), userCode.utf8.count <= 64,
              let url = answer.string("verificationUriComplete") ?? answer.string("verificationUri"),
              IdentityCenterToken.isHeaderSafe(url), url.utf8.count <= 2048,
              url.lowercased().hasPrefix("https://")
              || (url.lowercased().hasPrefix("http://") && !STSEndpoint.isPlainHTTPToAnotherHost(url))
        else {
            throw Self.failure(start, "StartDeviceAuthorization", base: base)
        }
        var interval = answer.integer("interval") ?? Self.defaultInterval
        let deadline = context.now().addingTimeInterval(Double(min(answer.integer("expiresIn") ?? 600, 3600)))
        show(url, userCode)

        while context.now() < deadline {
            context.sleep(Double(max(1, interval)))
            let poll = try post(base + "/token", [
                "grantType": .string("urn:ietf:params:oauth:grant-type:device_code"), "deviceCode": .string(deviceCode),
                "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
            ])
            if poll.status == 200 {
                return try saveToken(poll, target: target, registration: registration, base: base, files: files)
            }
            switch IdentityCenterService.errorType(poll) {
            case "AuthorizationPendingException", "authorization_pending": continue
            case "SlowDownException", "slow_down": interval += 5
            default: throw Self.failure(poll, "CreateToken", base: base)
            }
        }
        throw IdentityCenterError(.loginExpired, "the sign-in code expired before it was approved; run stscache login again.")
    }

    /// The authorization code flow with PKCE: a redirect server on 127.0.0.1, the `/authorize`
    /// URL opened in a browser, the code the browser brings back (with this login's state), then
    /// `CreateToken` with the code and the verifier.
    private func authorizationCode(_ target: Target, base: String, files: IdentityCenterTokenFiles,
                                   show: (_ url: String, _ userCode: String?) -> Void) throws {
        let flow = try AuthorizationCode.generate()
        // Listening before the URL is shown, so the browser cannot come back to a closed port.
        let redirect = try RedirectWait(flow: flow, deadline: monotonicSeconds() + Self.redirectTimeout)
        let registration = try clientRegistration(target, flow: .authorizationCode, base: base, files: files)
        show(flow.authorizeURL(base: base, clientId: registration.clientId, port: redirect.port, scopes: target.scopes ?? []),
             nil)
        let code: String
        switch redirect.wait() {
        case nil:
            throw IdentityCenterError(.loginExpired, "no browser came back to the sign-in within "
                + "\(Int(Self.redirectTimeout / 60)) minutes; run stscache login again (or with --device-code "
                + "to sign in on another device).")
        case .refused(let reason)?:
            throw IdentityCenterError(.loginExpired, "the sign-in was not completed (\(reason)); run stscache login again.")
        case .code(let received)?:
            code = received
        }
        let response = try post(base + "/token", [
            "grantType": .string("authorization_code"), "code": .string(code),
            "codeVerifier": .string(flow.verifier), "redirectUri": .string(AuthorizationCode.redirect(port: redirect.port)),
            "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
        ])
        guard response.status == 200 else { throw Self.failure(response, "CreateToken", base: base) }
        try saveToken(response, target: target, registration: registration, base: base, files: files)
    }

    /// CreateToken's answer, checked, written as the CLI writes it (with the registration, so
    /// the token can be refreshed).
    private func saveToken(_ response: HTTPResponse, target: Target, registration: Registration, base: String,
                           files: IdentityCenterTokenFiles) throws {
        guard let token = IdentityCenterService.RefreshedToken(answer: response.body) else {
            throw Self.failure(response, "CreateToken", base: base)
        }
        var members: [String: JSONObjectFields.Value] = [
            "startUrl": .string(target.startURL), "region": .string(target.region),
            "accessToken": .string(token.accessToken),
            "expiresAt": .string(Timestamps.formatRFC3339(context.now().addingTimeInterval(Double(token.expiresIn)))),
            "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
            "registrationExpiresAt": .string(Timestamps.formatRFC3339(registration.expiresAt)),
        ]
        if let refresh = token.refreshToken { members["refreshToken"] = .string(refresh) }
        try files.write(members: members, name: IdentityCenterToken.fileName(forKey: target.asSettings.tokenCacheKeyInput))
    }

    private struct Registration {
        var clientId: String
        var clientSecret: String
        var expiresAt: Date
    }

    /// The cached registration while it has over a day left and was made for `flow` (the CLI
    /// keeps one file for both flows and re-registers when the flow changes), else a new one
    /// (`RegisterClient`), cached as the CLI caches it.
    private func clientRegistration(_ target: Target, flow: Flow, base: String, files: IdentityCenterTokenFiles) throws
        -> Registration
    {
        let name = Self.registrationFileName(target)
        if let bytes = try files.readChecked(name, kind: .registration, login: target.asSettings.loginCommand)?.bytes,
           let cached = JSONObjectFields.parse(bytes), let id = cached.string("clientId"), IdentityCenterToken.isHeaderSafe(id),
           let secret = cached.string("clientSecret"), IdentityCenterToken.isHeaderSafe(secret),
           let expires = cached.string("expiresAt").flatMap(IdentityCenterToken.parseTimestamp),
           expires > context.now().addingTimeInterval(86_400),
           Self.isForAuthorizationCode(cached) == (flow == .authorizationCode) {
            return Registration(clientId: id, clientSecret: secret, expiresAt: expires)
        }
        var body: [String: JSONObjectFields.Value] = [
            "clientName": .string("botocore-client-\(target.sessionName ?? String(Int(context.now().timeIntervalSince1970)))"),
            "clientType": .string("public"),
        ]
        var scopes = target.scopes.flatMap { $0.isEmpty ? nil : $0 }
        if flow == .authorizationCode {
            scopes = scopes ?? [AuthorizationCode.defaultScope]
            body["grantTypes"] = .strings(AuthorizationCode.grantTypes)
            body["redirectUris"] = .strings([AuthorizationCode.registeredRedirect])
            body["issuerUrl"] = .string(target.startURL)
        }
        if let scopes { body["scopes"] = .strings(scopes) }
        let response = try post(base + "/client/register", body)
        guard response.status == 200, let answer = JSONObjectFields.parse(response.body),
              let id = answer.string("clientId"), IdentityCenterToken.isHeaderSafe(id),
              let secret = answer.string("clientSecret"), IdentityCenterToken.isHeaderSafe(secret),
              let expiresEpoch = answer.integer("clientSecretExpiresAt")
        else { throw Self.failure(response, "RegisterClient", base: base) }
        let registration = Registration(clientId: id, clientSecret: secret,
                                        expiresAt: Date(timeIntervalSince1970: Double(expiresEpoch)))
        var members: [String: JSONObjectFields.Value] = [
            "clientId": .string(id), "clientSecret": .string(secret),
            "expiresAt": .string(Timestamps.formatRFC3339(registration.expiresAt)),
        ]
        if let scopes { members["scopes"] = .strings(scopes) }
        if flow == .authorizationCode { members["grantTypes"] = .strings(AuthorizationCode.grantTypes) }
        try files.write(members: members, name: name)
        return registration
    }

    /// The CLI's `_is_registration_for_auth_code`: `grantTypes` holds `authorization_code`.
    static func isForAuthorizationCode(_ registration: JSONObjectFields) -> Bool {
        switch registration["grantTypes"] {
        case .strings(let list)?: return list.contains("authorization_code")
        case .string(let text)?: return text.contains("authorization_code")
        default: return false
        }
    }

    private func post(_ url: String, _ body: [String: JSONObjectFields.Value]) throws -> HTTPResponse {
        let object = IdentityCenterToken.encode(body)
        var options = settings.httpOptions(for: url, caBundle: context.environment["AWS_CA_BUNDLE"])
        options.maxResponseBytes = 64 * 1024
        do {
            return try context.makeTransport().send(
                HTTPRequest(method: "POST", url: url, headers: [(name: "Content-Type", value: "application/json")], body: object),
                options: options)
        } catch {
            throw IdentityCenterError(.unavailable, "could not reach Identity Center OIDC at \(url) (\(describe(error))).")
        }
    }

    private static func failure(_ response: HTTPResponse, _ operation: String, base: String) -> IdentityCenterError {
        let type = IdentityCenterService.errorType(response)
        if type == "AccessDeniedException" || type == "access_denied" {
            return IdentityCenterError(.loginExpired, "the sign-in was denied; run stscache login again to retry.")
        }
        if type == "ExpiredTokenException" || type == "expired_token" {
            return IdentityCenterError(.loginExpired, "the sign-in code expired before it was approved; run stscache login again.")
        }
        return IdentityCenterError(
            .badResponse, "Identity Center OIDC at \(base) answered \(operation) with HTTP \(response.status)"
                + (type.map { " (\($0))" } ?? "") + "; check AWS_ENDPOINT_URL_SSO_OIDC and the start URL.")
    }
}
