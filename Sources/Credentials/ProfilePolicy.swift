import AWSConfig
import StscacheSupport

/// stscache's answers to what botocore leaves open when resolving a profile (`ResolutionPolicy`):
/// a stable per-user session name, `STSCACHE_MFA_SESSION_DURATION`, and the delegating pattern.
extension ResolutionPolicy {
    /// The user name is only read for a default `role_session_name`: looking the user up costs a
    /// passwd lookup (ten system calls) that a profile naming its session never needs.
    public static func stscache(userName: @escaping @Sendable () -> String) -> ResolutionPolicy {
        stscache(sessionName: ProfileResolver.defaultSessionName(userName: userName()))
    }

    /// `sessionName` is the default session name, evaluated only when one is needed.
    package static func stscache(sessionName: @autoclosure @escaping @Sendable () -> String) -> ResolutionPolicy {
        var policy = ResolutionPolicy(
            programName: "stscache",
            defaultSessionName: sessionName,
            defaultMFASessionDuration: { roleProfile, environment throws(ConfigError) in
                try ProfileResolver.mfaSessionDuration(environment: environment, roleProfile: roleProfile)
            },
            delegatedProfile: { Credentials.delegatedProfile(fromCredentialProcess: $0) })
        // `stscache keys add`: a source profile's keys may be in stscache's encrypted store.
        policy.sourcesMayHaveStoredKeys = true
        return policy
    }
}

extension Context {
    /// stscache's policy for this run. Built straight from the context rather than through
    /// `stscache(userName:)`, so a resolve on the hit path allocates one closure context, as it
    /// did before the policy existed.
    package var resolutionPolicy: ResolutionPolicy {
        .stscache(sessionName: ProfileResolver.defaultSessionName(userName: userName))
    }
}

extension ProfileResolver {
    /// `stscache-<user>` with every character STS does not allow in a session name
    /// (`[\w+=,.@-]`) replaced by `-`, cut to STS's 64-character limit. Stable per user, so
    /// every process of one user shares one cache entry per role.
    package static func defaultSessionName(userName: String) -> String {
        var name = "stscache-"
        for character in userName {
            guard name.utf8.count < 64 else { break }
            if let ascii = character.asciiValue, character.isASCII, isSessionNameByte(ascii) {
                name.append(character)
            } else {
                name.append("-")
            }
        }
        return name
    }

    /// `STSCACHE_MFA_SESSION_DURATION` (seconds, or a number with `s`, `m` or `h`), for a role
    /// whose profiles set no `mfa_session_duration`; set-but-empty counts as unset.
    package static func mfaSessionDuration(environment: [String: String], roleProfile: String) throws(ConfigError) -> Int? {
        guard let text = environment["STSCACHE_MFA_SESSION_DURATION"], !text.isEmpty else { return nil }
        guard let seconds = MFASessionSettings.duration(text) else {
            throw ConfigError(
                .invalidSetting,
                "STSCACHE_MFA_SESSION_DURATION = \(text) must be a duration \(MFASessionSettings.durationLimits), "
                    + "e.g. 43200 or 12h; fix or unset it.",
                profile: roleProfile)
        }
        return seconds
    }
}

@inline(__always)
private func isSessionNameByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "."),
         UInt8(ascii: "@"), UInt8(ascii: "-"):
        return true
    default:
        return false
    }
}
