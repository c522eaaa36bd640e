#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SigV4
import StscacheSupport

/// `<AssumedRoleUser>`: who the new session is.
public struct AssumedRoleUser: Sendable, Equatable {
    /// `arn:aws:sts::123456789012:assumed-role/Admin/alice`
    public var arn: String
    /// `AROA...:alice`
    public var assumedRoleId: String

    public init(arn: String, assumedRoleId: String) {
        self.arn = arn
        self.assumedRoleId = assumedRoleId
    }
}

/// What AssumeRole, AssumeRoleWithWebIdentity and GetSessionToken return: temporary credentials
/// (with their expiration always set) and, for the role calls, the assumed role.
/// `description` never shows the secret key or the session token.
public struct STSCredentialsResult: Sendable, Equatable, CustomStringConvertible {
    public var credentials: AWSCredentials
    public var expiration: Date
    public var assumedRoleUser: AssumedRoleUser?
    public var requestId: String?

    public init(credentials: AWSCredentials, expiration: Date, assumedRoleUser: AssumedRoleUser? = nil, requestId: String? = nil) {
        self.credentials = credentials
        self.expiration = expiration
        self.assumedRoleUser = assumedRoleUser
        self.requestId = requestId
    }

    public var description: String {
        "STSCredentialsResult(credentials: \(credentials), expiration: \(expiration.timeIntervalSince1970), "
            + "assumedRoleArn: \(assumedRoleUser?.arn ?? "nil"), requestId: \(requestId ?? "nil"))"
    }
}

/// `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`
public struct STSErrorDocument: Sendable, Equatable {
    /// `Sender` or `Receiver`.
    public var type: String?
    public var code: String
    public var message: String?
    public var requestId: String?

    public init(type: String? = nil, code: String, message: String? = nil, requestId: String? = nil) {
        self.type = type
        self.code = code
        self.message = message
        self.requestId = requestId
    }
}

/// Decodes STS's XML answers (Query protocol, API version 2011-06-15).
/// Failures are `STSError` with code `sts.malformed-response`, naming what is missing or broken.
public enum STSResponseDecoder {
    /// `<AssumeRoleResponse><AssumeRoleResult>` — credentials and the assumed role user.
    public static func decodeAssumeRole(_ body: [UInt8]) throws -> STSCredentialsResult {
        try decodeCredentials(body, action: "AssumeRole", requireAssumedRoleUser: true)
    }

    /// `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>`.
    public static func decodeAssumeRoleWithWebIdentity(_ body: [UInt8]) throws -> STSCredentialsResult {
        try decodeCredentials(body, action: "AssumeRoleWithWebIdentity", requireAssumedRoleUser: true)
    }

    /// `<GetSessionTokenResponse><GetSessionTokenResult>` — credentials only.
    public static func decodeGetSessionToken(_ body: [UInt8]) throws -> STSCredentialsResult {
        try decodeCredentials(body, action: "GetSessionToken", requireAssumedRoleUser: false)
    }

    /// An `<ErrorResponse>` document. Also accepts a bare `<Error>` root, which some
    /// STS-compatible endpoints send.
    public static func decodeError(_ body: [UInt8]) throws -> STSErrorDocument {
        let root = try parse(body, action: nil)
        let error: XMLElement
        if root.name == "ErrorResponse" || root.name == "Response" {
            // Query APIs answer <ErrorResponse><Error>; the EC2-style <Errors><Error> wrapping
            // also occurs (moto's IAM authorisation errors, some proxies), and botocore's query
            // parser accepts both.
            guard let inner = root.child("Error") ?? root.child("Errors")?.child("Error") else {
                throw malformed(nil, "<\(root.name)> has no <Error>")
            }
            error = inner
        } else if root.name == "Error" {
            error = root
        } else {
            throw malformed(nil, "expected <ErrorResponse>, found <\(root.name)>")
        }
        guard let code = nonEmpty(error.childText("Code")) else {
            throw malformed(nil, "<Error> has no <Code>")
        }
        return STSErrorDocument(
            type: nonEmpty(error.childText("Type")),
            code: code,
            message: nonEmpty(error.childText("Message")),
            requestId: nonEmpty(root.childText("RequestId")) ?? nonEmpty(error.childText("RequestId")))
    }

    static func decodeCredentials(_ body: [UInt8], action: String, requireAssumedRoleUser: Bool) throws -> STSCredentialsResult {
        let root = try parse(body, action: action)
        guard root.name == "\(action)Response" else {
            throw malformed(action, "expected <\(action)Response>, found <\(root.name)>")
        }
        guard let result = root.child("\(action)Result") else {
            throw malformed(action, "<\(action)Response> has no <\(action)Result>")
        }
        guard let credentials = result.child("Credentials") else {
            throw malformed(action, "<\(action)Result> has no <Credentials>")
        }
        func field(_ parent: XMLElement, _ name: String) throws -> String {
            guard let value = nonEmpty(parent.childText(name)) else {
                throw malformed(action, "<\(parent.name)> has no <\(name)>")
            }
            return value
        }
        let accessKeyId = try field(credentials, "AccessKeyId")
        let secretAccessKey = try field(credentials, "SecretAccessKey")
        let sessionToken = try field(credentials, "SessionToken")
        let expirationText = try field(credentials, "Expiration")
        guard let expiration = Timestamps.parseRFC3339(expirationText) else {
            throw malformed(action, "<Expiration> '\(expirationText)' is not an RFC 3339 timestamp")
        }

        var assumedRoleUser: AssumedRoleUser?
        if let user = result.child("AssumedRoleUser") {
            assumedRoleUser = AssumedRoleUser(arn: try field(user, "Arn"), assumedRoleId: try field(user, "AssumedRoleId"))
        } else if requireAssumedRoleUser {
            throw malformed(action, "<\(action)Result> has no <AssumedRoleUser>")
        }
        return STSCredentialsResult(
            credentials: AWSCredentials(
                accessKeyId: accessKeyId, secretAccessKey: secretAccessKey,
                sessionToken: sessionToken, expiration: expiration),
            expiration: expiration,
            assumedRoleUser: assumedRoleUser,
            requestId: nonEmpty(root.child("ResponseMetadata")?.childText("RequestId")))
    }

    private static func parse(_ body: [UInt8], action: String?) throws -> XMLElement {
        do {
            return try XMLScanner.parse(body)
        } catch {
            throw malformed(action, "invalid XML: \(error.message)")
        }
    }

    private static func malformed(_ action: String?, _ reason: String) -> STSError {
        STSError(.malformedResponse(action: action, reason: reason))
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}
