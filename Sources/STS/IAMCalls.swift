#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SigV4
import StscacheSupport

/// Who a set of credentials belongs to:
/// [GetCallerIdentity](https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
public struct CallerIdentity: Sendable, Equatable {
    /// `arn:aws:iam::123456789012:user/alice`
    public var arn: String
    public var account: String
    public var userId: String

    public init(arn: String, account: String, userId: String) {
        self.arn = arn
        self.account = account
        self.userId = userId
    }
}

/// One IAM access key as ListAccessKeys describes it: its id (rotation needs nothing else).
public struct AccessKeyMetadata: Sendable, Equatable {
    public var accessKeyId: String

    public init(accessKeyId: String) {
        self.accessKeyId = accessKeyId
    }
}

/// IAM's Query API: the same protocol as STS's (form-encoded POST, XML answers, the same error
/// document), version 2010-05-08, signed for the `iam` service. Global: one endpoint per
/// partition, signed for its home region.
public enum IAMService {
    public static let apiVersion = "2010-05-08"

    /// IAM's endpoint for the partition of `region`, or `explicitURL` (`AWS_ENDPOINT_URL_IAM`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`). Signed for us-east-1 in `aws`, as
    /// botocore signs IAM; cn-north-1 and us-gov-west-1 in those partitions.
    public static func endpoint(region: String, explicitURL: String?) throws -> STSEndpoint {
        let partition = STSEndpoint.partition(ofRegion: region)
        let signingRegion: String
        let url: String
        switch partition {
        case "aws-cn": (signingRegion, url) = ("cn-north-1", "https://iam.cn-north-1.amazonaws.com.cn/")
        case "aws-us-gov": (signingRegion, url) = ("us-gov-west-1", "https://iam.us-gov.amazonaws.com/")
        default: (signingRegion, url) = ("us-east-1", "https://iam.amazonaws.com/")
        }
        if let explicitURL { return STSEndpoint(url: try STSEndpoint.normalizeExplicit(explicitURL), signingRegion: signingRegion) }
        return STSEndpoint(url: url, signingRegion: signingRegion)
    }
}

extension STSClient {
    /// GetCallerIdentity, signed with `credentials`: succeeds only for keys STS accepts, so it is
    /// the check that keys work (it needs no IAM permission).
    public func getCallerIdentity(credentials: AWSCredentials, endpoint: STSEndpoint) throws -> CallerIdentity {
        try perform(
            action: "GetCallerIdentity", parameters: [("Action", "GetCallerIdentity"), ("Version", STSRequestBuilder.apiVersion)],
            credentials: credentials, endpoint: endpoint, decode: IAMResponseDecoder.decodeCallerIdentity)
    }

    /// IAM [CreateAccessKey](https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html)
    /// for the user whose `credentials` sign it. Not idempotent: give this client one attempt
    /// (`RetryPolicy(maxAttempts: 1)`), a retry could make a second key.
    /// `userName`: the user, for a caller IAM cannot tell it from (a GetSessionToken session's
    /// temporary key); nil lets IAM take the user whose key signed the request.
    public func createAccessKey(userName: String? = nil, credentials: AWSCredentials, endpoint: STSEndpoint) throws -> AWSCredentials {
        try perform(
            action: "CreateAccessKey",
            parameters: [("Action", "CreateAccessKey"), ("Version", IAMService.apiVersion)] + userParameter(userName),
            credentials: credentials, endpoint: endpoint, service: "iam", decode: IAMResponseDecoder.decodeCreatedAccessKey)
    }

    /// IAM [DeleteAccessKey](https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteAccessKey.html)
    /// of `accessKeyId`, a key of the user whose `credentials` sign it.
    public func deleteAccessKey(_ accessKeyId: String, userName: String? = nil, credentials: AWSCredentials,
                                endpoint: STSEndpoint) throws {
        try perform(
            action: "DeleteAccessKey",
            parameters: [("Action", "DeleteAccessKey"), ("Version", IAMService.apiVersion)] + userParameter(userName)
                + [("AccessKeyId", accessKeyId)],
            credentials: credentials, endpoint: endpoint, service: "iam", decode: { _ in () })
    }

    /// IAM [ListAccessKeys](https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAccessKeys.html)
    /// of the user whose `credentials` sign it (a user has at most two).
    public func listAccessKeys(userName: String? = nil, credentials: AWSCredentials, endpoint: STSEndpoint) throws
        -> [AccessKeyMetadata]
    {
        try perform(
            action: "ListAccessKeys",
            parameters: [("Action", "ListAccessKeys"), ("Version", IAMService.apiVersion)] + userParameter(userName),
            credentials: credentials, endpoint: endpoint, service: "iam", decode: IAMResponseDecoder.decodeAccessKeyList)
    }
}

private func userParameter(_ userName: String?) -> [(name: String, value: String)] {
    userName.map { [("UserName", $0)] } ?? []
}

/// The answers of GetCallerIdentity and the IAM key calls, through the same strict XML reader.
public enum IAMResponseDecoder {
    public static func decodeCallerIdentity(_ body: [UInt8]) throws -> CallerIdentity {
        let result = try resultElement(body, action: "GetCallerIdentity")
        return CallerIdentity(arn: try field(result, "Arn", "GetCallerIdentity"),
                              account: try field(result, "Account", "GetCallerIdentity"),
                              userId: try field(result, "UserId", "GetCallerIdentity"))
    }

    public static func decodeCreatedAccessKey(_ body: [UInt8]) throws -> AWSCredentials {
        let result = try resultElement(body, action: "CreateAccessKey")
        guard let key = result.child("AccessKey") else { throw malformed("CreateAccessKey", "no <AccessKey>") }
        return AWSCredentials(accessKeyId: try field(key, "AccessKeyId", "CreateAccessKey"),
                              secretAccessKey: try field(key, "SecretAccessKey", "CreateAccessKey"))
    }

    public static func decodeAccessKeyList(_ body: [UInt8]) throws -> [AccessKeyMetadata] {
        let result = try resultElement(body, action: "ListAccessKeys")
        guard let list = result.child("AccessKeyMetadata") else { throw malformed("ListAccessKeys", "no <AccessKeyMetadata>") }
        return try list.children.filter { $0.name == "member" }.map { member in
            AccessKeyMetadata(accessKeyId: try field(member, "AccessKeyId", "ListAccessKeys"))
        }
    }

    private static func resultElement(_ body: [UInt8], action: String) throws -> XMLElement {
        let root: XMLElement
        do {
            root = try XMLScanner.parse(body)
        } catch {
            throw malformed(action, "invalid XML: \(error.message)")
        }
        guard root.name == "\(action)Response" else { throw malformed(action, "expected <\(action)Response>, found <\(root.name)>") }
        guard let result = root.child("\(action)Result") else { throw malformed(action, "no <\(action)Result>") }
        return result
    }

    private static func field(_ element: XMLElement, _ name: String, _ action: String) throws -> String {
        guard let value = element.childText(name), !value.isEmpty else { throw malformed(action, "<\(element.name)> has no <\(name)>") }
        return value
    }

    private static func malformed(_ action: String, _ reason: String) -> STSError {
        STSError(.malformedResponse(action: action, reason: reason))
    }
}
