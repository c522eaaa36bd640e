import Foundation
import Testing

import OpenSSLCrypto
import SigV4
import StscacheSupport
@testable import Credentials
import TestSupport
import Transport

/// The DPoP key of the fixtures' sessions (SEC1, as `aws login` writes it) and its public point.
enum LoginFixture {
    static let pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEII6bEJ5xkJi/mASH3x9dd+nC8kLR+ML8bBhwo+ixlGIRoAoGCCqGSM49\n"
        + "AwEHoUQDQgAEchLrHRs7PUQTa9Z+j+L9LXh1KBtkLPG37AP7OkPwEIf3HJhEs+Cf\nc8WoMsh/1+0NwKuuW654aAWHiziSEXdU1g==\n"
        + "-----END EC PRIVATE KEY-----\n"
    static let x = "chLrHRs7PUQTa9Z-j-L9LXh1KBtkLPG37AP7OkPwEIc"
    static let y = "9xyYRLPgn3PFqDLIf9ftDcCrrluueGgFh4s4khF3VNY"
    static let session = "arn:aws:iam::123456789012:user/alice"
    static let clientId = "arn:aws:signin:::devtools/same-device"

    /// A session file as the CLI writes it (json.dumps layout), with an unknown member of the
    /// CLI's at the top and inside accessToken.
    static func json(expiresAt: Date, refreshToken: String = "rt-1", keyId: String = "ASIALOGIN0000001",
                     signInRegion: String? = nil, accountId: String = "123456789012", dpopKey: String = pem) -> String {
        var object: [String: Any] = [
            "accessToken": [
                "accessKeyId": keyId, "secretAccessKey": "login-secret-1", "sessionToken": "login-token-1",
                "accountId": accountId, "expiresAt": Timestamps.formatRFC3339(expiresAt), "futureField": [1, 2],
            ] as [String: Any],
            "tokenType": "aws_sigv4", "clientId": clientId, "refreshToken": refreshToken, "idToken": "id.token.sig",
            "dpopKey": dpopKey, "cliExtra": ["nested": ["kept": true]],
        ]
        if let signInRegion { object["signInRegion"] = signInRegion }
        let data = try! JSONSerialization.data(withJSONObject: object)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A fake AWS Sign-In (`CreateOAuth2Token` of botocore's `signin` model) that fails closed: it
/// checks every request as the service must (the DPoP proof's header, signature under the
/// session's key, `htm`, `htu`, `iat` within a minute, a `jti` never seen before; the body's
/// `tokenInput`), accepts each refresh token once and rotates it, and answers anything wrong with
/// a ValidationException and a recorded test failure.
final class FakeSignIn: @unchecked Sendable {
    let base: String
    var now: Date
    private(set) var calls = 0
    private(set) var issued = 0
    private var validRefreshToken: String
    private var seenJTIs: Set<String> = []
    /// Answers for the next calls, instead of checking: (status, __type, error).
    var scripted: [(Int, String, String)] = []
    /// Refused requests are expected (a reused refresh token, say): do not record an issue.
    var expectRefusals = false
    var lastProof: String?
    var lastBody: [UInt8] = []

    init(base: String = "https://us-east-1.signin.aws.amazon.com", now: Date, refreshToken: String = "rt-1") {
        self.base = base
        self.now = now
        validRefreshToken = refreshToken
    }

    var route: RoutedTransport.Route {
        { [self] request in answer(request) }
    }

    private func refuse(_ status: Int, _ type: String, _ error: String, _ why: String) -> Result<HTTPResponse, TransportError> {
        if !expectRefusals { Issue.record("fake Sign-In refused a request: \(why)") }
        return .success(HTTPResponse(status: status, headers: [(name: "x-amzn-ErrorType", value: type)],
                                     body: Array(#"{"error":"\#(error)","message":"\#(why)"}"#.utf8)))
    }

    func answer(_ request: HTTPRequest) -> Result<HTTPResponse, TransportError>? {
        calls += 1
        guard request.method == "POST", request.url == base + "/v1/token" else { return nil }
        if !scripted.isEmpty {
            let (status, type, error) = scripted.removeFirst()
            return .success(HTTPResponse(status: status, headers: [(name: "x-amzn-ErrorType", value: type)],
                                         body: Array(#"{"error":"\#(error)","message":"scripted"}"#.utf8)))
        }
        guard request.headers.contains(where: { $0.name == "Content-Type" && $0.value == "application/json" }) else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "no JSON content type")
        }
        guard let proof = request.headers.first(where: { $0.name == "DPoP" })?.value else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "no DPoP header")
        }
        lastProof = proof
        lastBody = request.body
        let parts = proof.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let header = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof is not a compact JWS")
        }
        let expectedHeader = #"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","x":"\#(LoginFixture.x)","y":"\#(LoginFixture.y)","crv":"P-256"}}"#
        guard String(decoding: header, as: UTF8.self) == expectedHeader else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof's header is not the session key's JWK")
        }
        guard ES256.verify(x: Base64URL.decode(LoginFixture.x)!, y: Base64URL.decode(LoginFixture.y)!,
                           message: Array((parts[0] + "." + parts[1]).utf8), signature: signature) else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof's signature does not verify")
        }
        guard let claims = JSONValue.parseObject(payload), claims["htm"]?.string == "POST",
              claims["htu"]?.string == request.url, let iat = claims["iat"]?.integer,
              let jti = claims["jti"]?.string else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof's claims are wrong")
        }
        guard abs(Double(iat) - now.timeIntervalSince1970) <= 60 else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof's iat is off by more than a minute")
        }
        guard seenJTIs.insert(jti).inserted else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the proof's jti was used before")
        }
        guard let input = JSONValue.parseObject(request.body), input["clientId"]?.string == LoginFixture.clientId,
              input["grantType"]?.string == "refresh_token", let token = input["refreshToken"]?.string else {
            return refuse(400, "ValidationException", "INVALID_REQUEST", "the tokenInput is wrong")
        }
        guard token == validRefreshToken else {
            return refuse(400, "AccessDeniedException", "TOKEN_EXPIRED", "the refresh token is not the current one")
        }
        issued += 1
        validRefreshToken = "rt-\(issued + 1)"
        let body = #"{"accessToken":{"accessKeyId":"ASIAREFRESHED000\#(issued)","secretAccessKey":"refreshed-secret-\#(issued)","sessionToken":"refreshed-token-\#(issued)"},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"\#(validRefreshToken)"}"#
        return .success(HTTPResponse(status: 200, headers: [(name: "Content-Type", value: "application/json")],
                                     body: Array(body.utf8)))
    }
}
