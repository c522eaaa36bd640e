#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SigV4
import StscacheSupport
import Credentials

/// The Version-1 document `credential_process` consumers read (botocore's
/// `ProcessProvider`, the Go/Java/Rust SDKs). One line, keys in the documented order, then
/// `AccountId` when the account is known (botocore, the JS, Java and Rust SDKs read it) and
/// is twelve digits.
enum CredentialOutput {
    static func json(_ credentials: AWSCredentials) -> String {
        var out = "{\"Version\":1,\"AccessKeyId\":" + JSONText.quoted(credentials.accessKeyId)
        out += ",\"SecretAccessKey\":" + JSONText.quoted(credentials.secretAccessKey)
        if let token = credentials.sessionToken {
            out += ",\"SessionToken\":" + JSONText.quoted(token)
        }
        if let expiration = credentials.expiration {
            out += ",\"Expiration\":" + JSONText.quoted(Timestamps.formatRFC3339(expiration))
        }
        if let accountId = credentials.accountId, AccountID.isValid(accountId) {
            out += ",\"AccountId\":" + JSONText.quoted(accountId)
        }
        return out + "}\n"
    }
}
