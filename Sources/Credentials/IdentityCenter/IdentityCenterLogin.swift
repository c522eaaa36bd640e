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
import Transport
import StscacheSupport

/// `stscache login`: an IAM Identity Center sign-in with OIDC's device authorization flow, as the
/// AWS CLI does it (`aws sso login --use-device-code`), leaving the token where `aws` and
/// stscache read it. The client registration is cached beside the tokens, under botocore's
/// name for it, and reused until it expires.
package struct IdentityCenterLogin {
    /// What to sign in to: a session (`--sso-session`) or a legacy profile's start URL.
    package struct Target: Equatable {
        package var startURL: String
        package var region: String
        package var sessionName: String?
        package var scopes: [String]
        package var oidcEndpoint: String?
        /// The profile whose settings are used (legacy), for messages.
        package var profile: String?

        var asSettings: IdentityCenterSettings {
            IdentityCenterSettings(profile: profile ?? "", startURL: startURL, region: region, accountId: "", roleName: "",
                                   sessionName: sessionName, registrationScopes: scopes, oidcEndpoint: oidcEndpoint)
        }
    }

    package var context: Context
    /// Seconds between polls when OIDC does not say (its default is 5).
    package static let defaultInterval = 5

    package init(context: Context) { self.context = context }

    /// The target for `--sso-session NAME` or `--profile NAME`.
    package static func target(files: ConfigFiles, environment: [String: String], sessionName: String?, profile: String?)
        throws -> Target
    {
        let ignore = environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() == "true"
        let oidc = ignore ? nil : environment["AWS_ENDPOINT_URL_SSO_OIDC"].flatMap { $0.isEmpty ? nil : $0 }
        var name = sessionName
        var legacyProfile: Profile?
        if let profile {
            guard let section = files.profile(named: profile) else {
                throw UsageError("profile \"\(profile)\" is not in \(files.configPath); give --sso-session or another profile.")
            }
            if let session = section.string("sso_session") {
                name = session
            } else {
                legacyProfile = section
            }
        }
        if let name {
            guard let section = files.ssoSessionSection(named: name) else {
                throw UsageError("\(files.configPath) has no [sso-session \(name)] section; add one with sso_start_url and sso_region.")
            }
            guard let startURL = section["sso_start_url"]?.text, !startURL.isEmpty,
                  let region = section["sso_region"]?.text, !region.isEmpty else {
                throw UsageError("[sso-session \(name)] in \(files.configPath) needs sso_start_url and sso_region.")
            }
            let scopes = (section["sso_registration_scopes"]?.text ?? "").split(separator: ",")
                .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            return Target(startURL: startURL, region: region, sessionName: name, scopes: scopes, oidcEndpoint: oidc)
        }
        guard let legacyProfile, let startURL = legacyProfile.string("sso_start_url"),
              let region = legacyProfile.string("sso_region") else {
            throw UsageError("profile \"\(profile ?? "")\" has neither sso_session nor sso_start_url and sso_region; it is not "
                + "an IAM Identity Center profile.")
        }
        return Target(startURL: startURL, region: region, sessionName: nil, scopes: [], oidcEndpoint: oidc,
                      profile: legacyProfile.name)
    }

    /// botocore's registration cache name: SHA-1 of `json.dumps(args, sort_keys=True)` over
    /// `tool`, `startUrl`, `region`, and `session_name` / `scopes` when set.
    package static func registrationFileName(_ target: Target) -> String {
        var members: [(String, String)] = [("region", jsonString(target.region))]
        if !target.scopes.isEmpty { members.append(("scopes", "[" + target.scopes.map(jsonString).joined(separator: ", ") + "]")) }
        if let sessionName = target.sessionName { members.append(("session_name", jsonString(sessionName))) }
        members.append(("startUrl", jsonString(target.startURL)))
        members.append(("tool", jsonString("botocore")))
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

    /// Signs in: registration (cached), device authorization, then `CreateToken` polled until
    /// the user approves, denies or the code expires. `show` gets the URL and the user code.
    package func run(_ target: Target, show: (_ url: String, _ userCode: String) -> Void) throws {
        if context.environment["STSCACHE_NONINTERACTIVE"] == "1" {
            throw IdentityCenterError(.notLoggedIn, "STSCACHE_NONINTERACTIVE=1: a login needs a person; run stscache login "
                + "from a terminal.")
        }
        let base = try IdentityCenterService.oidcBase(target.asSettings)
        let files = IdentityCenterTokenFiles(homeDirectory: context.homeDirectory)
        try files.createDirectory()
        let registration = try clientRegistration(target, base: base, files: files)

        let start = try post(base + "/device_authorization", [
            "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
            "startUrl": .string(target.startURL),
        ])
        guard start.status == 200, let answer = JSONObjectFields.parse(start.body),
              let deviceCode = answer.string("deviceCode"), IdentityCenterToken.isHeaderSafe(deviceCode),
              let userCode = answer.string("userCode"), IdentityCenterToken.isHeaderSafe(userCode), userCode.utf8.count <= 64,
              let url = answer.string("verificationUriComplete") ?? answer.string("verificationUri"),
              IdentityCenterToken.isHeaderSafe(url), url.utf8.count <= 2048,
              url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://127.0.0.1")
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
                guard let token = JSONObjectFields.parse(poll.body), let accessToken = token.string("accessToken"),
                      IdentityCenterToken.isHeaderSafe(accessToken), let expiresIn = token.integer("expiresIn"),
                      (1...7 * 86_400).contains(expiresIn),
                      token.string("refreshToken").map(IdentityCenterToken.isHeaderSafe) ?? true
                else { throw Self.failure(poll, "CreateToken", base: base) }
                var members: [String: JSONObjectFields.Value] = [
                    "startUrl": .string(target.startURL), "region": .string(target.region),
                    "accessToken": .string(accessToken),
                    "expiresAt": .string(Timestamps.formatRFC3339(context.now().addingTimeInterval(Double(expiresIn)))),
                    "clientId": .string(registration.clientId), "clientSecret": .string(registration.clientSecret),
                    "registrationExpiresAt": .string(Timestamps.formatRFC3339(registration.expiresAt)),
                ]
                if let refresh = token.string("refreshToken") { members["refreshToken"] = .string(refresh) }
                try files.write(members: members, name: IdentityCenterToken.fileName(forKey: target.sessionName ?? target.startURL))
                return
            }
            switch IdentityCenterService.errorType(poll) {
            case "AuthorizationPendingException", "authorization_pending": continue
            case "SlowDownException", "slow_down": interval += 5
            default: throw Self.failure(poll, "CreateToken", base: base)
            }
        }
        throw IdentityCenterError(.loginExpired, "the sign-in code expired before it was approved; run stscache login again.")
    }

    private struct Registration {
        var clientId: String
        var clientSecret: String
        var expiresAt: Date
    }

    /// The cached registration while it has over a day left, else a new one (`RegisterClient`).
    private func clientRegistration(_ target: Target, base: String, files: IdentityCenterTokenFiles) throws -> Registration {
        let name = Self.registrationFileName(target)
        if case .success(let bytes) = BoundedRead.regularFile(atPath: files.directory + "/" + name, limit: 64 * 1024),
           let cached = JSONObjectFields.parse(bytes), let id = cached.string("clientId"), IdentityCenterToken.isHeaderSafe(id),
           let secret = cached.string("clientSecret"), IdentityCenterToken.isHeaderSafe(secret),
           let expires = cached.string("expiresAt").flatMap(IdentityCenterToken.parseTimestamp),
           expires > context.now().addingTimeInterval(86_400) {
            return Registration(clientId: id, clientSecret: secret, expiresAt: expires)
        }
        let body: [String: JSONObjectFields.Value] = [
            "clientName": .string("botocore-client-\(target.sessionName ?? String(Int(context.now().timeIntervalSince1970)))"),
            "clientType": .string("public"),
        ]
        let response = try post(base + "/client/register", body, scopes: target.scopes)
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
        if !target.scopes.isEmpty { members["scopes"] = .string(target.scopes.joined(separator: ",")) }
        try files.write(members: members, name: name)
        return registration
    }

    private func post(_ url: String, _ body: [String: JSONObjectFields.Value], scopes: [String] = []) throws -> HTTPResponse {
        var object = IdentityCenterToken(accessToken: "", expiresAt: Date(), members: body).encoded()
        if !scopes.isEmpty {
            // The one list member (RegisterClient's scopes), spliced in before the closing brace.
            let list = "\"scopes\": [" + scopes.map(Self.jsonString).joined(separator: ", ") + "]"
            object.removeLast()
            object += Array(((object.count > 1 ? ", " : "") + list + "}").utf8)
        }
        var options = NetworkSettings.httpOptions(for: url, caBundle: context.environment["AWS_CA_BUNDLE"],
                                                  environment: context.environment)
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

extension JSONObjectFields {
    /// A whole-number member.
    package func integer(_ name: String) -> Int? {
        guard case .number(let value)? = self[name], value == value.rounded(), abs(value) < 1e15 else { return nil }
        return Int(value)
    }
}

extension IdentityCenterTokenFiles {
    /// `~/.aws/sso/cache`, 0700 like the CLI's, when it does not exist yet.
    package func createDirectory() throws(IdentityCenterError) {
        var path = ""
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw IdentityCenterError(.tokenWriteFailed, "cannot create \(path): \(String(cString: strerror(errno))).")
            }
        }
    }

    /// Writes a token or registration file (0600, atomically) with these members.
    package func write(members: [String: JSONObjectFields.Value], name: String) throws(IdentityCenterError) {
        let token = IdentityCenterToken(accessToken: "", expiresAt: Date(), members: members)
        try write(bytes: token.encoded(), name: name)
    }
}
