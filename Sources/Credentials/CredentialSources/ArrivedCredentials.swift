import SigV4
import StscacheSupport

/// Who handed us credentials: named in the error when what they sent is malformed.
package enum CredentialIssuer: Equatable {
    /// An STS call; `subject` is what it was for (a role ARN, an MFA device).
    case sts(action: String, subject: String, endpoint: String)
    case instanceMetadata
    case containerEndpoint
    /// The `credential_process` helper of `profile`.
    case credentialProcess(profile: String)
    /// The IAM Identity Center portal's GetRoleCredentials at `portal`.
    case identityCenter(portal: String)

    /// "STS AssumeRole for arn:aws:iam::...", "the instance metadata service", ...
    package var name: String {
        switch self {
        case .sts(let action, let subject, let endpoint): return "STS \(action) for \(subject) at \(endpoint)"
        case .instanceMetadata: return "the instance metadata service"
        case .containerEndpoint: return "the container credentials endpoint"
        case .credentialProcess(let profile): return "credential_process of profile \"\(profile)\""
        case .identityCenter(let portal): return "the Identity Center portal at \(portal)"
        }
    }

    /// What to check: the one setting that chose this issuer.
    package var fix: String {
        switch self {
        case .sts:
            return "check that the endpoint is really STS (endpoint_url in the profile or its services section, "
                + "AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL)"
        case .instanceMetadata:
            return "check AWS_EC2_METADATA_SERVICE_ENDPOINT: it must be the real instance metadata service"
        case .containerEndpoint:
            return "check AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: they must "
                + "point at the real container credentials endpoint"
        case .identityCenter:
            return "check AWS_ENDPOINT_URL_SSO: it must be the real Identity Center portal"
        case .credentialProcess:
            return "fix the helper: it must print AWS credentials as issued"
        }
    }
}

extension AWSCredentials {
    /// The one check for credentials that arrive from outside, before anything caches, uses or
    /// prints them (`IssuedCredentialsFormat` has the rules and why). The broker calls it where
    /// every source comes in (`createSession`, `sourceCredentials`, the MFA session): a new
    /// source goes through it by going through those.
    ///
    /// The error names the issuer and the field, never the value.
    package func checkedArrival(from issuer: CredentialIssuer) throws(SourceError) -> AWSCredentials {
        guard let violation = IssuedCredentialsFormat.violation(in: self) else { return self }
        throw SourceError(
            .malformedCredentials,
            "\(issuer.name) sent a malformed \(violation.field): it \(violation.rule) (the value is not shown); "
                + "nothing was cached or printed. Real AWS credentials never look like that: \(issuer.fix).")
    }
}
