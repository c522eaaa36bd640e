#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import OpenSSLCrypto
import STS
import StscacheSupport
import Credentials

/// Why a `login_session` sign-in (`stscache login` for an `aws login` profile) did not end with
/// a session: `login-flow.<code>`.
package typealias LoginFlowError = CodedError<LoginFlowErrorCode>

/// The codes of `LoginFlowError`.
package enum LoginFlowErrorCode: String, ErrorCode {
    package static let domain = "login-flow"

    /// The profile cannot take a `login_session` (it has other credentials, or a different
    /// identity), or the region or endpoint is missing or unusable.
    case profileUnusable = "profile-unusable"
    /// The redirect or the pasted code did not bring a usable answer for this sign-in (wrong
    /// state, no code, a refusal, nothing before the deadline).
    case notCompleted = "not-completed"
    /// AWS Sign-In refused the code, or answered something that is not a session.
    case refused
    /// A person is needed and none is there (`STSCACHE_NONINTERACTIVE=1`, stdin closed).
    case noPerson = "no-person"
}

/// `aws login`'s sign-in (AWS CLI 2.32, `awscli/customizations/login/utils.py`): the
/// authorization code flow with PKCE at AWS Sign-In's `/v1/authorize`, `scope=openid`, the
/// code exchanged by `CreateOAuth2Token` with a DPoP proof of a key made for this login. The
/// same device gets the code on a loopback redirect; another device (`--remote`) shows a code
/// the user pastes here. The identity (`login_session`) is the id token's `sub`.
package enum LoginSessionSignIn {
    /// Where the browser is: this machine (a loopback redirect) or another one (a pasted code).
    package enum Device: Equatable, Sendable {
        case same
        case cross
    }

    /// The client id of each flow, as the CLI sends them.
    package static func clientId(_ device: Device) -> String {
        switch device {
        case .same: return "arn:aws:signin:::devtools/same-device"
        case .cross: return "arn:aws:signin:::devtools/cross-device"
        }
    }

    /// The page Sign-In shows the code on, for the cross-device flow: its `redirect_uri`.
    package static let confirmationPath = "/v1/sessions/confirmation"

    /// The secrets of one sign-in: the PKCE verifier (64 characters of `[A-Za-z0-9-._~]`, as the
    /// CLI's) and the state (a random UUID, as the CLI's `uuid4`).
    package struct Authorization: Equatable, Sendable {
        package let verifier: String
        package let state: String

        package init(verifier: String, state: String) {
            self.verifier = verifier
            self.state = state
        }

        package static func generate() throws -> Authorization {
            let verifier = try AuthorizationCode.generate().verifier
            var bytes = try SecureRandom.bytes(count: 16)
            bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
            bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
            let hex = Hex.encode(bytes)
            let cuts = [8, 12, 16, 20]
            var state = ""
            for (index, character) in hex.enumerated() {
                if cuts.contains(index) { state.append("-") }
                state.append(character)
            }
            return Authorization(verifier: verifier, state: state)
        }

        /// `BASE64URL(SHA256(verifier))` without padding (RFC 7636 S256).
        package var challenge: String { AuthorizationCode.challenge(for: verifier) }

        /// `<base>/v1/authorize?...` exactly as the CLI builds it (`_get_authorization_uri`): its
        /// parameters in its order, percent-encoded as botocore does, the challenge last. The CLI
        /// names the S256 transform `SHA-256` in `code_challenge_method`, and Sign-In takes that.
        package func url(base: String, device: Device, redirect: String) -> String {
            base + "/v1/authorize?" + FormURLEncoding.encode([
                ("response_type", "code"), ("client_id", LoginSessionSignIn.clientId(device)), ("state", state),
                ("code_challenge_method", "SHA-256"), ("scope", "openid"), ("redirect_uri", redirect),
            ]) + "&code_challenge=" + challenge
        }

        /// The loopback redirect's checks (`GET /oauth/callback`, this state, one usable code),
        /// shared with Identity Center's login.
        package var redirectCheck: AuthorizationCode { AuthorizationCode(verifier: verifier, state: state) }

        /// The code in what the user pasted from Sign-In's confirmation page: base64 of
        /// `state=...&code=...` (the CLI's `parse_verification_code`). The state must be this
        /// sign-in's (compared in constant time); nothing of the text is ever echoed.
        package func pastedCode(_ text: String) throws(LoginFlowError) -> String {
            let trimmed = text.trimmingWhitespace()
            guard !trimmed.isEmpty else {
                throw LoginFlowError(.notCompleted, "no authorization code was entered; run stscache login --remote again and "
                    + "paste the code Sign-In shows after you sign in.")
            }
            guard trimmed.utf8.count <= 4096, let decoded = Self.base64Decode(trimmed),
                  let query = String(validating: decoded, as: UTF8.self),
                  let parameters = AuthorizationCode.parameters(query)
            else {
                throw LoginFlowError(.notCompleted, "the pasted text is not a Sign-In authorization code; copy the whole code "
                    + "from the page shown after signing in, and run stscache login --remote again.")
            }
            guard let states = parameters["state"], states.count == 1,
                  constantTimeEqual(Array(states[0].utf8), Array(state.utf8))
            else {
                throw LoginFlowError(.notCompleted, "the pasted code belongs to another sign-in (its state does not match this "
                    + "one); nothing was saved. Run stscache login --remote again and use the URL it prints.")
            }
            guard let codes = parameters["code"], codes.count == 1, IdentityCenterToken.isHeaderSafe(codes[0]),
                  codes[0].utf8.count <= 2048
            else {
                throw LoginFlowError(.notCompleted, "the pasted code holds no usable authorization code; run stscache login "
                    + "--remote again.")
            }
            return codes[0]
        }

        /// Standard base64, padding optional (what a terminal paste of the page's code gives).
        static func base64Decode(_ text: String) -> [UInt8]? {
            var padded = text
            guard padded.utf8.allSatisfy({ isBase64Byte($0) || $0 == UInt8(ascii: "=") }) else { return nil }
            while padded.utf8.count % 4 != 0 { padded += "=" }
            return Data(base64Encoded: padded).map { Array($0) }
        }

        private static func isBase64Byte(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
        }
    }

    /// `http://127.0.0.1:PORT/oauth/callback` (the CLI's `AuthCodeFetcher`), or Sign-In's
    /// confirmation page for another device.
    package static func redirect(_ device: Device, base: String, port: UInt16) -> String {
        switch device {
        case .same: return AuthorizationCode.redirect(port: port)
        case .cross: return base + confirmationPath
        }
    }

    /// The signed-in identity: the id token's `sub`, an IAM or STS ARN, and its account.
    package struct Identity: Equatable, Sendable {
        package var arn: String
        package var accountId: String
    }

    /// `login_session` from the id token CreateOAuth2Token returned. The token arrived over TLS
    /// from the endpoint the code was sent to; its signature is not what is trusted here, but
    /// its `sub` becomes a file name's hash input, a value in the user's config file and text in
    /// messages, so it must be an ARN of an identity that can sign in to the console:
    /// `arn:<partition>:iam::<account>:user/...` or `:root`, or `arn:<partition>:sts::<account>:
    /// assumed-role/...` (a federated console session), in ARN characters only, no empty, `.`
    /// or `..` path segment.
    package static func identity(idToken: String) throws(LoginFlowError) -> Identity {
        func bad(_ why: String) -> LoginFlowError {
            LoginFlowError(.refused, "AWS Sign-In answered with an id token \(why); nothing was saved. Run stscache login "
                + "again; if it persists, check AWS_ENDPOINT_URL_SIGNIN and the profile's endpoint_url.")
        }
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard idToken.utf8.count <= 16384, parts.count == 3,
              let payload = Base64URL.decode(String(parts[1])), let claims = JSONObjectFields.parse(payload)
        else { throw bad("that is not a JSON Web Token") }
        guard let subject = claims.string("sub") else { throw bad("without a subject") }
        guard let identity = parseIdentityARN(subject) else {
            throw bad("whose subject is not the ARN of an IAM identity")
        }
        return identity
    }

    /// `arn:aws:iam::123456789012:user/alice` → the ARN and `123456789012`; nil for anything else.
    package static func parseIdentityARN(_ arn: String) -> Identity? {
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        guard arn.utf8.count <= 2048, fields.count == 6, fields[0] == "arn", isPartition(fields[1]),
              fields[3].isEmpty, fields[4].utf8.count == 12, fields[4].utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else { return nil }
        let resource = fields[5]
        let resourceBytes = resource.utf8
        guard !resource.isEmpty, resourceBytes.allSatisfy(isARNResourceByte),
              resource.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ !["", ".", ".."].contains($0) })
        else { return nil }
        switch fields[2] {
        case "iam":
            guard resource == "root" || resource.hasPrefix("user/") else { return nil }
        case "sts":
            guard resource.hasPrefix("assumed-role/"), resource.split(separator: "/").count >= 3 else { return nil }
        default:
            return nil
        }
        return Identity(arn: arn, accountId: fields[4])
    }

    /// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`...: lower-case words joined by hyphens.
    private static func isPartition(_ text: String) -> Bool {
        let words = text.split(separator: "-", omittingEmptySubsequences: false)
        return words.first == "aws" && text.utf8.count <= 32
            && words.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (0x61...0x7A).contains($0) } }
    }

    /// IAM's name and path characters (`[\w+=,.@-]` and `/`).
    private static func isARNResourceByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || "_+=,.@-/".utf8.contains(byte)
    }
}
