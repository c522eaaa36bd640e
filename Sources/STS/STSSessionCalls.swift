#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SigV4

/// The parameters of one
/// [GetSessionToken](https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html)
/// call: an MFA-authenticated session for an IAM user's long-term keys.
/// `tokenCode` is never shown in `description`.
public struct GetSessionTokenRequest: Sendable, Equatable, CustomStringConvertible {
    /// 900...129600 for IAM users (STS's default is 43200, 12 hours).
    public var durationSeconds: Int?
    /// The MFA device (`mfa_serial`).
    public var serialNumber: String?
    /// The current MFA code.
    public var tokenCode: String?

    public init(durationSeconds: Int? = nil, serialNumber: String? = nil, tokenCode: String? = nil) {
        self.durationSeconds = durationSeconds
        self.serialNumber = serialNumber
        self.tokenCode = tokenCode
    }

    public var description: String {
        "GetSessionTokenRequest(" + [
            durationSeconds.map { "durationSeconds: \($0)" },
            serialNumber.map { "serialNumber: \($0)" },
            tokenCode == nil ? nil : "tokenCode: <redacted>",
        ].compactMap { $0 }.joined(separator: ", ") + ")"
    }

    /// `Action`, `Version`, then the members in the order of the GetSessionToken input shape.
    public var formParameters: [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = [
            ("Action", "GetSessionToken"), ("Version", STSRequestBuilder.apiVersion),
        ]
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        if let serialNumber { parameters.append(("SerialNumber", serialNumber)) }
        if let tokenCode { parameters.append(("TokenCode", tokenCode)) }
        return parameters
    }
}

/// The parameters of one
/// [AssumeRoleWithWebIdentity](https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html)
/// call. The token is a bearer credential: `description` never shows it.
public struct AssumeRoleWithWebIdentityRequest: Sendable, Equatable, CustomStringConvertible {
    public var roleArn: String
    public var roleSessionName: String
    public var webIdentityToken: String
    public var durationSeconds: Int?
    /// Managed and inline session policies (the only session parameters this call takes).
    public var policyArns: [String] = []
    public var policy: String?

    public init(roleArn: String, roleSessionName: String, webIdentityToken: String, durationSeconds: Int? = nil) {
        self.roleArn = roleArn
        self.roleSessionName = roleSessionName
        self.webIdentityToken = webIdentityToken
        self.durationSeconds = durationSeconds
    }

    public var description: String {
        "AssumeRoleWithWebIdentityRequest(roleArn: \(roleArn), roleSessionName: \(roleSessionName)"
            + (durationSeconds.map { ", durationSeconds: \($0)" } ?? "") + ", webIdentityToken: <redacted>)"
    }

    public var formParameters: [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", STSRequestBuilder.apiVersion),
            ("RoleArn", roleArn), ("RoleSessionName", roleSessionName), ("WebIdentityToken", webIdentityToken),
        ]
        parameters += AssumeRoleRequest.policyParameters(policyArns: policyArns, policy: policy)
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        return parameters
    }
}

extension STSClient {
    /// [GetSessionToken](https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html),
    /// signed with an IAM user's long-term `credentials`. Same retries and errors as `assumeRole`.
    public func getSessionToken(_ request: GetSessionTokenRequest, credentials: AWSCredentials,
                                endpoint: STSEndpoint) throws -> STSCredentialsResult {
        try perform(
            action: "GetSessionToken", parameters: request.formParameters, credentials: credentials,
            endpoint: endpoint, decode: STSResponseDecoder.decodeGetSessionToken)
    }

    /// [AssumeRoleWithWebIdentity](https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html):
    /// sent unsigned (the token is the credential), as botocore sends it.
    public func assumeRoleWithWebIdentity(_ request: AssumeRoleWithWebIdentityRequest,
                                          endpoint: STSEndpoint) throws -> STSCredentialsResult {
        try perform(
            action: "AssumeRoleWithWebIdentity", parameters: request.formParameters, credentials: nil,
            endpoint: endpoint, decode: STSResponseDecoder.decodeAssumeRoleWithWebIdentity)
    }
}
