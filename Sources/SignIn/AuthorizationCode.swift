#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import STS
import StscacheSupport
import Credentials
import LocalEndpoint

/// The pieces of OIDC's authorization code flow with PKCE (RFC 7636) that `stscache login` uses
/// by default, as the AWS CLI does for sso-session profiles (aws-cli's `SSOTokenFetcherAuth`):
/// the verifier and its S256 challenge, the `/authorize` URL, and what the loopback redirect
/// accepts.
package struct AuthorizationCode {
    /// The CLI's default scope when the session names none.
    package static let defaultScope = "sso:account:access"
    /// The grant types a registration for this flow asks for (a device flow registration has none).
    package static let grantTypes = ["authorization_code", "refresh_token"]
    /// The redirect registered with the client: the port is not part of it (RFC 8252 §7.3).
    package static let registeredRedirect = "http://127.0.0.1/oauth/callback"
    package static let callbackPath = "/oauth/callback"

    /// 64 characters of `[A-Za-z0-9-._~]`, each drawn uniformly from the kernel's generator.
    package let verifier: String
    /// Unguessable; the redirect must bring it back.
    package let state: String

    package init(verifier: String, state: String) {
        self.verifier = verifier
        self.state = state
    }

    package static func generate() throws -> AuthorizationCode {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        var verifier: [UInt8] = []
        while verifier.count < 64 {
            // Rejection sampling: 66 symbols, so bytes from 198 up would bias the first few.
            for byte in try SecureRandom.bytes(count: 96) where Int(byte) < alphabet.count * 3 && verifier.count < 64 {
                verifier.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return AuthorizationCode(verifier: String(decoding: verifier, as: UTF8.self),
                                 state: Hex.encode(try SecureRandom.bytes(count: 16)))
    }

    /// `BASE64URL(SHA256(verifier))` without padding (RFC 7636 §4.2, method S256).
    package static func challenge(for verifier: String) -> String {
        let base64 = Data(SHA256.hash(Array(verifier.utf8))).base64EncodedString()
        return String(base64.compactMap { character -> Character? in
            switch character {
            case "+": return "-"
            case "/": return "_"
            case "=": return nil
            default: return character
            }
        })
    }

    package var challenge: String { Self.challenge(for: verifier) }

    /// `http://127.0.0.1:PORT/oauth/callback`: where the browser is sent back to.
    package static func redirect(port: UInt16) -> String { "http://127.0.0.1:\(port)\(callbackPath)" }

    /// `<oidc base>/authorize?...`, the parameters in the CLI's order; scopes space-separated.
    package func authorizeURL(base: String, clientId: String, port: UInt16, scopes: [String]) -> String {
        let parameters: [(name: String, value: String)] = [
            ("response_type", "code"), ("client_id", clientId), ("redirect_uri", Self.redirect(port: port)),
            ("state", state), ("code_challenge_method", "S256"),
            ("scopes", scopes.isEmpty ? Self.defaultScope : scopes.joined(separator: " ")),
            ("code_challenge", challenge),
        ]
        return base + "/authorize?" + FormURLEncoding.encode(parameters)
    }

    /// What one request to the redirect server brought: nothing yet (a stray request, a wrong
    /// state), the code, or the sign-in's refusal.
    package enum Outcome: Equatable {
        case code(String)
        case refused(String)
    }

    /// The answer to one request on the redirect server. Only `GET /oauth/callback` with this
    /// login's `state` (compared in constant time) ends the wait; a request without it, or with
    /// another, is refused and the wait goes on, so a local process that guesses the port cannot
    /// end the login or inject a code. The page never echoes what the request carried.
    package func callback(_ request: EndpointRequest) -> (reply: EndpointReply, outcome: Outcome?) {
        func page(_ status: Int, _ text: String, stop: Bool = false) -> EndpointReply {
            .html(status, "<!DOCTYPE html><html><head><title>stscache login</title></head><body><p>"
                + text + "</p></body></html>\n", stop: stop)
        }
        let (path, query) = Self.split(request.target)
        guard path == Self.callbackPath else { return (page(404, "Not found."), nil) }
        guard request.method == "GET" else { return (page(405, "Method not allowed."), nil) }
        guard let parameters = Self.parameters(query),
              let states = parameters["state"], states.count == 1,
              constantTimeEqual(Array(states[0].utf8), Array(state.utf8))
        else {
            return (page(400, "This is not the sign-in stscache is waiting for. Start it again from the terminal."), nil)
        }
        if let errors = parameters["error"] {
            let name = errors.first.flatMap { $0.utf8.count <= 64 && $0.utf8.allSatisfy(Self.isNameByte) ? $0 : nil }
                ?? "an unnamed error"
            return (page(200, "The sign-in was not completed. Return to the terminal.", stop: true), .refused(name))
        }
        guard let codes = parameters["code"], codes.count == 1, IdentityCenterToken.isHeaderSafe(codes[0]) else {
            return (page(400, "The sign-in sent no usable authorization code. Start it again from the terminal."), nil)
        }
        return (page(200, "Signed in. You can close this tab and return to the terminal.", stop: true), .code(codes[0]))
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    static func split(_ target: String) -> (path: String, query: String) {
        guard let mark = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }

    /// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte); nil when an
    /// escape is malformed or a value is not UTF-8.
    static func parameters(_ query: String) -> [String: [String]]? {
        var out: [String: [String]] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { return nil }
            out[name, default: []].append(value)
        }
        return out
    }

    private static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(nibble), let low = iterator.next().flatMap(nibble) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}

/// The redirect server of one authorization code login (Identity Center's or a `login_session`'s)
/// and what it received. It serves on a thread of its own from before the URL is shown, so a
/// browser that comes back while the opener still runs is answered at once.
final class RedirectWait {
    private final class Received: @unchecked Sendable { var outcome: AuthorizationCode.Outcome? }
    private let received: Received
    private let running: EndpointServer.Running
    private var waited = false
    let port: UInt16

    init(flow: AuthorizationCode, deadline: Double) throws {
        let received = Received()
        let server = try EndpointServer(purpose: "the sign-in redirect") { request in
            let (reply, outcome) = flow.callback(request)
            if let outcome { received.outcome = outcome }
            return reply
        }
        self.received = received
        port = server.port
        running = try server.startThread(until: deadline)
    }

    /// The code or the refusal the browser brought back; nil when none came by the deadline.
    /// (The thread wrote it before it ended; joining it orders that write before this read.)
    func wait() -> AuthorizationCode.Outcome? {
        running.wait()
        waited = true
        return received.outcome
    }

    /// A login that failed before waiting (registration refused) closes the port now.
    deinit {
        if !waited { running.stop() }
    }
}
