#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto

/// AWS credentials. `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var expiration: Date?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>, sessionToken: \(sessionToken == nil ? "nil" : "<redacted>"))"
    }
}

// API contract (implementation to be filled in):
//
// public enum SigV4 {
//     /// Headers to add to the request: `X-Amz-Date`, `Authorization`, and
//     /// `X-Amz-Security-Token` when credentials carry a session token.
//     public static func sign(method: String, url: String, headers: [(name: String, value: String)],
//                             body: [UInt8], credentials: AWSCredentials, region: String,
//                             service: String, date: Date) -> [(name: String, value: String)]
// }
