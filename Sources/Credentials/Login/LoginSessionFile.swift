#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import SigV4
import STS
import StscacheSupport

/// One session file of the AWS CLI's `aws login` cache (`~/.aws/login/cache/<sha256 hex of
/// login_session>.json`), as botocore's `LoginCredentialFetcher` reads it and writes it back
/// after a refresh:
///
/// ```
/// {"accessToken": {"accessKeyId", "secretAccessKey", "sessionToken", "accountId", "expiresAt"},
///  "tokenType", "clientId", "refreshToken", "idToken", "dpopKey", "signInRegion"?}
/// ```
///
/// Every member is kept (`members`), so a file stscache rewrites still holds whatever the CLI
/// put there. Parsing validates every field botocore uses: what arrives in this file is sent
/// to Sign-In, printed to SDKs and used to sign AssumeRole.
package struct LoginSessionFile: Equatable {
    /// A session file is a few KiB (the tokens, the PEM); anything much larger is not one.
    package static let sizeLimit = 64 * 1024
    /// How long after sign-in a session can be refreshed (the refresh token's life): a file whose
    /// credentials expired longer ago than this belongs to a session that has certainly ended.
    package static let sessionLifetime: Double = 12 * 3600
    /// The model's `RefreshToken` bound.
    package static let refreshTokenLengthLimit = 12_288
    /// The model's `IdToken` bound.
    package static let idTokenLengthLimit = 4096
    /// A P-256 SEC1 PEM is about 230 bytes.
    package static let pemLengthLimit = 4096
    /// botocore's members, in the order it writes them; others follow, sorted.
    static let memberOrder = ["accessToken", "tokenType", "clientId", "refreshToken", "idToken", "dpopKey", "signInRegion"]
    static let accessTokenOrder = ["accessKeyId", "secretAccessKey", "sessionToken", "accountId", "expiresAt"]

    /// The login's credentials; `expiration` is `accessToken.expiresAt`.
    package var credentials: AWSCredentials
    /// `accessToken.accountId`: the signed-in identity's account, 12 digits.
    package var accountId: String
    package var clientId: String
    package var refreshToken: String
    /// `dpopKey`: the SEC1 PEM of the P-256 key the refresh token is bound to.
    package var dpopKey: String
    /// `signInRegion` (newer logins): where Sign-In is called for a refresh, over the profile's
    /// region.
    package var signInRegion: String?
    /// Every member as read (or as a login wrote it), so a rewrite loses nothing.
    package var members: [String: JSONValue]

    /// `<sha256 hex of login_session>.json` (botocore `generate_login_cache_key`).
    package static func fileName(forSession session: String) -> String {
        Hex.encode(SHA256.hash(Array(session.utf8))) + ".json"
    }

    /// `AWS_LOGIN_CACHE_DIRECTORY` (with `$VAR`, `${VAR}` and `~` expanded, as botocore's
    /// `expandvars` and `expanduser` do), else `~/.aws/login/cache`.
    package static func directory(environment: [String: String], homeDirectory: String) -> String {
        guard let configured = environment["AWS_LOGIN_CACHE_DIRECTORY"] else { return homeDirectory + "/.aws/login/cache" }
        var path = expandVariables(configured, environment)
        if path == "~" { path = homeDirectory } else if path.hasPrefix("~/") { path = homeDirectory + path.dropFirst(1) }
        return path
    }

    /// Python's `os.path.expandvars`: `$NAME` and `${NAME}` of set variables replaced, the rest
    /// left as written.
    static func expandVariables(_ text: String, _ environment: [String: String]) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        func isNameByte(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F
        }
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$"), index + 1 < bytes.count else {
                out.append(bytes[index])
                index += 1
                continue
            }
            var nameStart = index + 1
            var nameEnd: Int
            var after: Int
            if bytes[nameStart] == UInt8(ascii: "{") {
                nameStart += 1
                guard let close = bytes[nameStart...].firstIndex(of: UInt8(ascii: "}")) else {
                    out.append(bytes[index])
                    index += 1
                    continue
                }
                nameEnd = close
                after = close + 1
            } else {
                nameEnd = nameStart
                while nameEnd < bytes.count && isNameByte(bytes[nameEnd]) { nameEnd += 1 }
                after = nameEnd
            }
            let name = String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self)
            if nameEnd > nameStart, let value = environment[name] {
                out += Array(value.utf8)
            } else {
                out += bytes[index..<after]
            }
            index = after
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Why a session file cannot be used; the message never holds a value.
    package struct Invalid: Error, Equatable {
        package var reason: String
    }

    /// A new session, as `aws login` writes it after signing in (`stscache login`).
    package init(credentials: AWSCredentials, accountId: String, tokenType: String = "aws_sigv4", clientId: String,
                 refreshToken: String, idToken: String?, dpopKey: String, signInRegion: String?) {
        self.credentials = credentials
        self.accountId = accountId
        self.clientId = clientId
        self.refreshToken = refreshToken
        self.dpopKey = dpopKey
        self.signInRegion = signInRegion
        members = ["tokenType": .string(tokenType)]
        if let idToken { members["idToken"] = .string(idToken) }
        syncMembers()
    }

    private init(credentials: AWSCredentials, accountId: String, clientId: String, refreshToken: String, dpopKey: String,
                 signInRegion: String?, members: [String: JSONValue]) {
        (self.credentials, self.accountId, self.clientId, self.refreshToken, self.dpopKey, self.signInRegion, self.members)
            = (credentials, accountId, clientId, refreshToken, dpopKey, signInRegion, members)
    }

    /// Parses and validates a session file: botocore's required members (`accessToken`,
    /// `refreshToken`, `dpopKey`, `clientId`), the credentials in the shape AWS issues them
    /// (`IssuedCredentialsFormat`), `expiresAt` a timestamp, `accountId` 12 digits, `dpopKey` a
    /// PEM private key, the tokens printable ASCII within the model's bounds, `signInRegion` a
    /// region name (it becomes part of a host name).
    package static func parse(_ bytes: [UInt8]) -> Result<LoginSessionFile, Invalid> {
        func invalid(_ reason: String) -> Result<LoginSessionFile, Invalid> { .failure(Invalid(reason: reason)) }
        guard bytes.count <= sizeLimit else { return invalid("it is larger than \(sizeLimit) bytes") }
        guard let members = JSONValue.parseObject(bytes) else { return invalid("it is not a JSON object") }
        let missing = ["accessToken", "refreshToken", "dpopKey", "clientId"].filter { members[$0] == nil }
        guard missing.isEmpty else { return invalid("it lacks \(missing.joined(separator: ", "))") }
        guard let access = members["accessToken"]?.object else { return invalid("its accessToken is not an object") }
        func string(_ name: String) -> String? { access[name]?.string }
        guard let accessKeyId = string("accessKeyId"), let secret = string("secretAccessKey"),
              let sessionToken = string("sessionToken") else {
            return invalid("its accessToken lacks accessKeyId, secretAccessKey or sessionToken")
        }
        guard let expiresText = string("expiresAt"), let expiresAt = IdentityCenterToken.parseTimestamp(expiresText) else {
            return invalid("its accessToken.expiresAt is not a timestamp")
        }
        let credentials = AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: sessionToken,
                                         expiration: expiresAt)
        if let violation = IssuedCredentialsFormat.violation(in: credentials) {
            return invalid("its accessToken.\(lowerFirst(violation.field)) \(violation.rule)")
        }
        guard let accountId = string("accountId"), isAccountId(accountId) else {
            return invalid("its accessToken.accountId is not a 12-digit account ID")
        }
        guard let clientId = members["clientId"]?.string, isPrintable(clientId, limit: 256) else {
            return invalid("its clientId is not a single line of printable ASCII")
        }
        guard let refreshToken = members["refreshToken"]?.string, isPrintable(refreshToken, limit: refreshTokenLengthLimit) else {
            return invalid("its refreshToken is not printable ASCII of at most \(refreshTokenLengthLimit) bytes")
        }
        guard let dpopKey = members["dpopKey"]?.string, isPrivateKeyPEM(dpopKey) else {
            return invalid("its dpopKey is not a PEM EC private key")
        }
        for name in ["idToken", "tokenType"] {
            switch members[name] {
            case nil, .null?: continue
            case .string(let value)? where isPrintable(value, limit: idTokenLengthLimit): continue
            case _?: return invalid("its \(name) is not printable ASCII of at most \(idTokenLengthLimit) bytes")
            }
        }
        var signInRegion: String?
        switch members["signInRegion"] {
        case nil, .null?: break
        case .string(let region)? where STSEndpoint.isValidRegionName(region): signInRegion = region
        case _?: return invalid("its signInRegion is not a region name")
        }
        return .success(LoginSessionFile(
            credentials: credentials, accountId: accountId, clientId: clientId, refreshToken: refreshToken,
            dpopKey: dpopKey, signInRegion: signInRegion, members: members))
    }

    private static func lowerFirst(_ field: String) -> String { field.prefix(1).lowercased() + field.dropFirst() }

    package static func isAccountId(_ text: String) -> Bool {
        text.utf8.count == 12 && text.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// Printable ASCII, no spaces: nothing that could end a JSON string, a header or a line.
    package static func isPrintable(_ value: String, limit: Int) -> Bool {
        !value.isEmpty && value.utf8.count <= limit && value.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// `-----BEGIN EC PRIVATE KEY-----` (SEC1, what the CLI writes) or `PRIVATE KEY` (PKCS #8),
    /// base64 lines, the matching END line. Only the shape: the key itself is parsed when a
    /// refresh needs it.
    static func isPrivateKeyPEM(_ pem: String) -> Bool {
        guard pem.utf8.count <= pemLengthLimit else { return false }
        let lines = pem.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" })
        guard lines.count >= 3 else { return false }
        let label = lines.first == "-----BEGIN EC PRIVATE KEY-----" ? "EC PRIVATE KEY"
            : lines.first == "-----BEGIN PRIVATE KEY-----" ? "PRIVATE KEY" : nil
        guard let label, lines.last == "-----END \(label)-----" else { return false }
        return lines.dropFirst().dropLast().allSatisfy { line in
            line.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0)
                || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=") }
        }
    }

    /// The DPoP key, parsed for one refresh. The PEM bytes copied for the parse are wiped at once;
    /// the key lives in libcrypto until the returned object goes.
    package func signingKey() -> P256SigningKey? {
        var pem = Array(dpopKey.utf8)
        defer { wipe(&pem) }
        return P256SigningKey(pem: pem)
    }

    /// The file after a refresh, as botocore writes it: new `accessToken` credentials (the
    /// account kept), `expiresAt` = now + `expiresIn` as `YYYY-MM-DDTHH:MM:SSZ`, the rotated
    /// `refreshToken`; every other member as it was.
    package func refreshed(with output: SignInTokenClient.TokenOutput, now: Date) -> LoginSessionFile {
        var copy = self
        // Whole seconds, as botocore's strftime writes them (and reads them back).
        let expiresAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(output.expiresIn)).rounded(.down))
        copy.credentials = AWSCredentials(accessKeyId: output.credentials.accessKeyId,
                                          secretAccessKey: output.credentials.secretAccessKey,
                                          sessionToken: output.credentials.sessionToken, expiration: expiresAt)
        copy.refreshToken = output.refreshToken
        copy.syncMembers()
        return copy
    }

    /// Writes the typed fields into `members` (unknown members of `accessToken` kept).
    private mutating func syncMembers() {
        var access = members["accessToken"]?.object ?? [:]
        access["accessKeyId"] = .string(credentials.accessKeyId)
        access["secretAccessKey"] = .string(credentials.secretAccessKey)
        access["sessionToken"] = .string(credentials.sessionToken ?? "")
        access["accountId"] = .string(accountId)
        access["expiresAt"] = .string(Timestamps.formatRFC3339(credentials.expiration ?? Date(timeIntervalSince1970: 0)))
        members["accessToken"] = .object(access)
        members["clientId"] = .string(clientId)
        members["refreshToken"] = .string(refreshToken)
        members["dpopKey"] = .string(dpopKey)
        if let signInRegion { members["signInRegion"] = .string(signInRegion) }
    }

    /// The JSON written: botocore's `json.dumps` layout, its members first in its order.
    package func encoded() -> [UInt8] {
        Array(JSONValue.object(members).encoded(order: Self.memberOrder,
                                                nestedOrder: ["accessToken": Self.accessTokenOrder]).utf8)
    }
}
