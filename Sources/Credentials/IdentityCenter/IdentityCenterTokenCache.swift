#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import StscacheSupport

/// What stscache reads from the token cache (tokens, client registrations), and what a login
/// may write over, under the policy of `PrivateCacheFile` (the one reader of the CLI's caches).
/// There is no override of the cache's place: botocore and the CLI have none either.
extension IdentityCenterTokenFiles {
    /// What a cache file holds, for messages.
    package enum Kind: Sendable {
        case token
        case registration

        var name: String {
            switch self {
            case .token: return "the Identity Center token file"
            case .registration: return "the Identity Center client registration file"
            }
        }
    }

    package typealias CheckedFile = PrivateCacheFile.Checked

    /// The cache file `name` when the policy accepts it; nil when there is none. `login` is the
    /// command a refusal names.
    package func readChecked(_ name: String, kind: Kind, login: String) throws(IdentityCenterError) -> CheckedFile? {
        let described = PrivateCacheFile.Described(what: kind.name, cacheName: "the Identity Center token cache",
                                                   login: login, sizeLimit: IdentityCenterToken.sizeLimit)
        do {
            return try PrivateCacheFile.read(directory: directory, name: name, described)
        } catch {
            throw IdentityCenterError(error.kind == .insecure ? .insecureTokenCache : .invalidTokenFile, error.message)
        }
    }
}
