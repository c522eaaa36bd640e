import Transport

/// The parameters of one `AssumeRole` call, as the profile gives them.
/// `tokenCode` (the MFA code) is never shown in `description`.
public struct AssumeRoleRequest: Sendable, Equatable, CustomStringConvertible {
    public var roleArn: String
    public var roleSessionName: String
    public var durationSeconds: Int?
    public var externalId: String?
    /// The MFA device (`mfa_serial`).
    public var serialNumber: String?
    /// The current MFA code.
    public var tokenCode: String?
    /// Managed session policies (`PolicyArns.member.N.arn`).
    public var policyArns: [String] = []
    /// An inline session policy (JSON).
    public var policy: String?
    /// Session tags, in order (`Tags.member.N.Key` / `.Value`).
    public var tags: [(key: String, value: String)] = []
    /// Tag keys that pass on to chained sessions (`TransitiveTagKeys.member.N`).
    public var transitiveTagKeys: [String] = []
    public var sourceIdentity: String?

    public init(roleArn: String, roleSessionName: String, durationSeconds: Int? = nil, externalId: String? = nil,
                serialNumber: String? = nil, tokenCode: String? = nil) {
        self.roleArn = roleArn
        self.roleSessionName = roleSessionName
        self.durationSeconds = durationSeconds
        self.externalId = externalId
        self.serialNumber = serialNumber
        self.tokenCode = tokenCode
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.roleArn == rhs.roleArn && lhs.roleSessionName == rhs.roleSessionName
            && lhs.durationSeconds == rhs.durationSeconds && lhs.externalId == rhs.externalId
            && lhs.serialNumber == rhs.serialNumber && lhs.tokenCode == rhs.tokenCode && lhs.policyArns == rhs.policyArns
            && lhs.policy == rhs.policy && lhs.tags.map(\.key) == rhs.tags.map(\.key)
            && lhs.tags.map(\.value) == rhs.tags.map(\.value) && lhs.transitiveTagKeys == rhs.transitiveTagKeys
            && lhs.sourceIdentity == rhs.sourceIdentity
    }

    public var description: String {
        "AssumeRoleRequest(roleArn: \(roleArn), roleSessionName: \(roleSessionName)"
            + (durationSeconds.map { ", durationSeconds: \($0)" } ?? "")
            + (externalId.map { ", externalId: \($0)" } ?? "")
            + (serialNumber.map { ", serialNumber: \($0)" } ?? "")
            + (tokenCode == nil ? "" : ", tokenCode: <redacted>")
            + (policyArns.isEmpty ? "" : ", policyArns: \(policyArns.count)") + (policy == nil ? "" : ", policy: <inline>")
            + (tags.isEmpty ? "" : ", tags: \(tags.count)") + (sourceIdentity.map { ", sourceIdentity: \($0)" } ?? "") + ")"
    }

    /// The form parameters in the order botocore sends them (`Action`, `Version`, then the
    /// members in the order of the AssumeRole input shape; lists as the Query protocol's
    /// `Name.member.N`, 1-based).
    public var formParameters: [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = [
            ("Action", "AssumeRole"), ("Version", STSRequestBuilder.apiVersion),
            ("RoleArn", roleArn), ("RoleSessionName", roleSessionName),
        ]
        parameters += Self.policyParameters(policyArns: policyArns, policy: policy)
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        for (index, tag) in tags.enumerated() {
            parameters.append(("Tags.member.\(index + 1).Key", tag.key))
            parameters.append(("Tags.member.\(index + 1).Value", tag.value))
        }
        for (index, key) in transitiveTagKeys.enumerated() {
            parameters.append(("TransitiveTagKeys.member.\(index + 1)", key))
        }
        if let externalId { parameters.append(("ExternalId", externalId)) }
        if let serialNumber { parameters.append(("SerialNumber", serialNumber)) }
        if let tokenCode { parameters.append(("TokenCode", tokenCode)) }
        if let sourceIdentity { parameters.append(("SourceIdentity", sourceIdentity)) }
        return parameters
    }

    /// `PolicyArns.member.N.arn` then `Policy`: AssumeRole's and AssumeRoleWithWebIdentity's.
    static func policyParameters(policyArns: [String], policy: String?) -> [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = []
        for (index, arn) in policyArns.enumerated() { parameters.append(("PolicyArns.member.\(index + 1).arn", arn)) }
        if let policy { parameters.append(("Policy", policy)) }
        return parameters
    }
}

/// Builds unsigned Query-protocol requests: a form-encoded POST to the endpoint.
public enum STSRequestBuilder {
    public static let contentType = "application/x-www-form-urlencoded; charset=utf-8"
    /// The STS Query API version.
    public static let apiVersion = "2011-06-15"

    /// The request before signing. The `Host` header is left to the signer (which signs the URL's
    /// host) and libcurl (which sends the same value: the host, plus the port when it is not
    /// the scheme's default).
    public static func request(parameters: [(name: String, value: String)], endpoint: STSEndpoint) -> HTTPRequest {
        HTTPRequest(
            method: "POST",
            url: endpoint.url,
            headers: [(name: "Content-Type", value: contentType)],
            body: Array(FormURLEncoding.encode(parameters).utf8))
    }

    public static func assumeRole(_ request: AssumeRoleRequest, endpoint: STSEndpoint) -> HTTPRequest {
        self.request(parameters: request.formParameters, endpoint: endpoint)
    }
}
