import AWSConfig
import StscacheSupport

/// STS's rule for role chaining, which botocore does not apply (it sends `duration_seconds` as
/// configured): the broker caps a chained request and says so rather than let STS refuse it.
extension RoleProfile {
    /// STS caps a session assumed with another role's credentials at one hour.
    package static let chainedDurationLimit = 3600

    /// True when this role is assumed with another role's session (a chained role, instance
    /// or container role credentials): STS then allows at most one hour
    /// (`chainedDurationLimit`). Web identity is not chaining: it is the first hop.
    package var isChained: Bool {
        switch source {
        // An `aws login` session may be a user's or a role's: STS says which (assumeRole retries
        // within the chaining limit when it refuses).
        case .role(let source): if case .loginSession = source.source { return false } else { return true }
        case .ec2InstanceMetadata, .ecsContainer: return true
        case .staticKeys, .storedKeys, .environment, .credentialProcess, .webIdentity, .identityCenter, .loginSession:
            return false
        }
    }
}
