#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import SigV4
import STS
import StscacheSupport
import Transport
import Credentials

/// Failures of `console`. Messages never hold the session, the sign-in token or the URL.
package typealias ConsoleError = CodedError<ConsoleErrorCode>

/// The codes of `ConsoleError`: `console.<code>`.
package enum ConsoleErrorCode: String, ErrorCode {
    package static let domain = "console"

    /// `STSCACHE_FEDERATION_ENDPOINT` is malformed or plain http to another host.
    case invalidEndpoint = "invalid-endpoint"
    /// The region's partition has no console sign-in stscache knows.
    case unsupportedPartition = "unsupported-partition"
    /// `--destination` or `--region` is not usable.
    case invalidDestination = "invalid-destination"
    /// The session has no session token (only role sessions can sign in).
    case notASession = "not-a-session"
    /// The federation endpoint answered with an error status.
    case refused = "refused"
    /// The answer is not a sign-in token (not JSON, no token, odd bytes).
    case badAnswer = "bad-answer"
    /// The network failed.
    case transport = "transport"
}

/// Console sign-in through the AWS federation endpoint, from a role session: `getSigninToken`
/// with the session, then a `login` URL with that token and a console destination.
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-custom-url.html
///
/// The login URL is a bearer secret for as long as the token lives (15 minutes): whoever opens
/// it is signed in as the role. It is never logged, never in a message.
package enum ConsoleSignIn {
    /// Overrides the federation endpoint (tests; a private sign-in proxy). https, or http to
    /// this machine only, as for STS endpoints.
    package static let endpointVariable = "STSCACHE_FEDERATION_ENDPOINT"
    /// Answers larger than this are refused (a token answer is a few KiB).
    package static let maximumAnswerBytes = 64 << 10
    /// Sign-in tokens longer than this are refused.
    package static let maximumTokenLength = 16 << 10

    /// The federation endpoint and the default console page for a region.
    package struct Endpoints: Equatable {
        package var federation: String
        package var consoleHome: String
    }

    package static func endpoints(region: String, environment: [String: String]) throws(ConsoleError) -> Endpoints {
        guard !region.isEmpty, region.utf8.allSatisfy({
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: "-")
        }) else {
            throw ConsoleError(.invalidDestination, "region \"\(TerminalText.escaped(region))\" is not a region name "
                + "(like eu-west-1); fix --region or the profile's region.")
        }
        let hosts: (signin: String, console: String)
        switch STSEndpoint.partition(ofRegion: region) {
        case "aws": hosts = ("signin.aws.amazon.com", "console.aws.amazon.com")
        case "aws-cn": hosts = ("signin.amazonaws.cn", "console.amazonaws.cn")
        case "aws-us-gov": hosts = ("signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com")
        case let other:
            throw ConsoleError(.unsupportedPartition, "region \(region) is in partition \(other), which has no console "
                + "sign-in stscache knows; set \(endpointVariable) to its federation endpoint.")
        }
        var federation = "https://\(hosts.signin)/federation"
        if let override = environment[endpointVariable], !override.isEmpty {
            do {
                federation = try STSEndpoint.normalizeExplicit(override)
                try STSEndpoint(url: federation, signingRegion: region).requireTransportSecurity(environment: environment)
            } catch {
                throw ConsoleError(.invalidEndpoint, "\(endpointVariable): \(describe(error))")
            }
        }
        return Endpoints(federation: federation,
                         consoleHome: "https://\(hosts.console)/console/home?region=\(region)")
    }

    /// The `Session` parameter: the session's keys as the federation endpoint wants them.
    package static func sessionJSON(_ credentials: AWSCredentials) throws(ConsoleError) -> String {
        guard let token = credentials.sessionToken, !token.isEmpty else {
            throw ConsoleError(.notASession, "the credentials have no session token; console sign-in needs a role "
                + "session (a profile with role_arn).")
        }
        return "{\"sessionId\":\(JSONText.quoted(credentials.accessKeyId)),"
            + "\"sessionKey\":\(JSONText.quoted(credentials.secretAccessKey)),"
            + "\"sessionToken\":\(JSONText.quoted(token))}"
    }

    /// `getSigninToken`. `sessionDuration` (900...43200) is how long the console session lasts;
    /// nil leaves it out, as a role session made by role chaining requires.
    package static func tokenRequestURL(federation: String, sessionJSON: String, sessionDuration: Int?) -> String {
        var parameters: [(name: String, value: String)] = [("Action", "getSigninToken")]
        if let sessionDuration { parameters.append(("SessionDuration", String(sessionDuration))) }
        parameters.append(("Session", sessionJSON))
        return federation + (federation.contains("?") ? "&" : "?") + FormURLEncoding.encode(parameters)
    }

    /// The `SigninToken` of a 200 answer. Refuses an error status, an answer that is not a JSON
    /// object, and a token that is empty, too long or has bytes outside base64url/base64 and `%`.
    package static func signinToken(from response: HTTPResponse, host: String) throws(ConsoleError) -> String {
        guard response.status == 200 else {
            throw ConsoleError(.refused, "the federation endpoint (\(host)) answered HTTP \(response.status); the "
                + "role's session may not allow console sign-in (a chained role, or a session without permission). "
                + "Check the role, or try again after stscache credential-process --force-refresh.")
        }
        guard response.body.count <= maximumAnswerBytes, let fields = JSONObjectFields.parse(response.body),
              let token = fields.string("SigninToken") else {
            throw ConsoleError(.badAnswer, "the federation endpoint (\(host)) did not answer with a sign-in token; "
                + "check \(endpointVariable) if you set it.")
        }
        let allowed = token.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
                || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "%")
        }
        guard allowed, token.utf8.count <= maximumTokenLength else {
            throw ConsoleError(.badAnswer, "the federation endpoint (\(host)) answered with a sign-in token stscache "
                + "does not accept (too long, or characters a token does not have); check \(endpointVariable) if you set it.")
        }
        return token
    }

    /// The sign-in URL: opening it signs the browser in and goes to `destination`.
    package static func loginURL(federation: String, destination: String, token: String) -> String {
        federation + (federation.contains("?") ? "&" : "?") + FormURLEncoding.encode([
            ("Action", "login"), ("Issuer", "stscache"), ("Destination", destination), ("SigninToken", token),
        ])
    }

    /// A `--destination`: an https URL without spaces or control characters.
    package static func checkDestination(_ destination: String) throws(ConsoleError) -> String {
        guard destination.lowercased().hasPrefix("https://"),
              !destination.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw ConsoleError(.invalidDestination, "--destination must be an https:// URL of a console page, e.g. "
                + "https://console.aws.amazon.com/s3/home.")
        }
        return destination
    }

    /// The host of a URL, for messages.
    package static func host(of url: String) -> String {
        let rest = url.split(separator: "://", maxSplits: 1).last.map(String.init) ?? url
        return String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }

    /// The sign-in URL for `role`'s session `credentials`: asks the federation endpoint for a
    /// token (with a session duration matching what is left of the session, unless the role is
    /// chained; once more without it if the endpoint refuses it) and builds the login URL.
    package static func signInURL(role: RoleProfile, credentials: AWSCredentials, region: String?, destination: String?,
                                  settings: NetworkSettings, context: Context) throws -> String {
        let endpoints = try endpoints(region: region ?? role.region, environment: context.environment)
        let target = try destination.map { (url: String) throws(ConsoleError) in try checkDestination(url) }
            ?? endpoints.consoleHome
        let session = try sessionJSON(credentials)
        var duration: Int?
        if role.isChained {
            duration = nil
        } else if let expiration = credentials.expiration {
            let left = Int(expiration.timeIntervalSince(context.now()))
            duration = min(max(left, 900), 43200)
        }
        let transport = context.makeTransport()
        let host = host(of: endpoints.federation)
        var options = settings.httpOptions(for: endpoints.federation, caBundle: role.caBundle)
        options.maxResponseBytes = maximumAnswerBytes
        func ask(_ duration: Int?) throws -> HTTPResponse {
            let request = HTTPRequest(method: "GET", url: tokenRequestURL(
                federation: endpoints.federation, sessionJSON: session, sessionDuration: duration))
            do {
                return try transport.send(request, options: options)
            } catch let error as TransportError {
                throw ConsoleError(.transport, "cannot reach the federation endpoint (\(host)): \(error.message).")
            }
        }
        var response = try ask(duration)
        if response.status == 400, duration != nil {
            // A session from a role assumed by another role session refuses SessionDuration.
            response = try ask(nil)
        }
        let token = try signinToken(from: response, host: host)
        return loginURL(federation: endpoints.federation, destination: target, token: token)
    }
}
