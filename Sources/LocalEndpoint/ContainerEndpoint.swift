#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto
import SigV4
import StscacheSupport

/// The container-credentials protocol every AWS SDK speaks (`AWS_CONTAINER_CREDENTIALS_FULL_URI`
/// with `AWS_CONTAINER_AUTHORIZATION_TOKEN`), as stscache answers it on 127.0.0.1: what a request
/// gets, independent of the HTTP server that carries it. One endpoint token grants one
/// profile's role and nothing else. What the SDKs accept: docs/DESIGN.md, "Serving long jobs".
package struct ContainerEndpoint {
    /// The token clients must send as `Authorization` (hex of 32 random bytes: 256 bits).
    package let token: String
    /// The role's credentials, from the cache (refreshed through the pipeline when fewer than
    /// the callers' refresh window is left): never fetched while a client waits if it can help it.
    package let credentials: () throws -> AWSCredentials
    /// Seconds that must be left on what is handed out: the served session's own refresh window
    /// (the callers' window, capped at half its lifetime), so a session the pipeline would
    /// refresh (one served stale after a failed refresh) is refused, and the client asks again
    /// later instead of keeping credentials it must soon replace.
    package let minimumRemaining: (AWSCredentials) -> Double
    package let now: () -> Date
    /// Told of every answer that carried credentials, with the request it answered (its peer):
    /// `exec --server` records it in the audit log. Runs before the answer is sent, while the
    /// client's socket is still connected (so its owner can be found).
    package var handedOut: ((AWSCredentials, EndpointRequest) -> Void)?

    package init(token: String, minimumRemaining: @escaping (AWSCredentials) -> Double,
                 now: @escaping () -> Date, credentials: @escaping () throws -> AWSCredentials) {
        self.token = token
        self.minimumRemaining = minimumRemaining
        self.now = now
        self.credentials = credentials
    }

    /// A fixed floor (tests).
    package init(token: String, minimumRemaining: Double, now: @escaping () -> Date,
                 credentials: @escaping () throws -> AWSCredentials) {
        self.init(token: token, minimumRemaining: { _ in minimumRemaining }, now: now,
                  credentials: credentials)
    }

    /// A fresh token from the kernel's generator.
    package static func newToken() throws -> String {
        Hex.encode(try SecureRandom.bytes(count: 32))
    }

    /// The answer to one request. Only `GET` is served; the token is compared in constant time
    /// over its full length; a refusal or failure carries no credentials and no part of the token
    /// (the body says `Code`/`Message` for the JS SDK and `code`/`message` for Go).
    package func answer(method: String, authorization: String?) -> EndpointReply {
        answer(EndpointRequest(method: method, target: "/", authorization: authorization))
    }

    /// `answer(method:authorization:)` for a request as the server read it.
    package func answer(_ request: EndpointRequest) -> EndpointReply {
        let (method, authorization) = (request.method, request.authorization)
        guard method == "GET" else { return Self.error(405, "MethodNotAllowed", "only GET is served here") }
        guard let authorization, constantTimeEqual(Array(authorization.utf8), Array(token.utf8)) else {
            return Self.error(403, "AccessDenied", "the Authorization header does not hold this endpoint's token")
        }
        let issued: AWSCredentials
        do {
            issued = try credentials()
        } catch {
            return Self.error(500, "CredentialsUnavailable", describe(error))
        }
        guard let token = issued.sessionToken, let expiration = issued.expiration else {
            return Self.error(500, "CredentialsUnavailable", "the role's credentials have no session token or expiry")
        }
        // Stale-if-error may hand back a session inside the window: refuse it here, so the
        // client retries later instead of caching credentials it will soon have to replace.
        guard expiration.timeIntervalSince(now()) >= minimumRemaining(issued) else {
            return Self.error(503, "CredentialsUnavailable",
                              "the session could not be refreshed and has less than the refresh window left")
        }
        var body = "{\"AccessKeyId\":" + JSONText.quoted(issued.accessKeyId)
            + ",\"SecretAccessKey\":" + JSONText.quoted(issued.secretAccessKey)
            + ",\"Token\":" + JSONText.quoted(token)
            + ",\"Expiration\":" + JSONText.quoted(Timestamps.formatRFC3339(expiration))
        // The credentials' own account (botocore, Go v2 and aws-c-auth read it), as credential-process prints it.
        if let accountId = issued.accountId, AccountID.isValid(accountId) {
            body += ",\"AccountId\":" + JSONText.quoted(accountId)
        }
        handedOut?(issued, request)
        return .json(200, body + "}")
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> EndpointReply {
        let code = JSONText.quoted(code), message = JSONText.quoted(message)
        return .json(status, "{\"Code\":\(code),\"Message\":\(message),\"code\":\(code),\"message\":\(message)}")
    }
}
