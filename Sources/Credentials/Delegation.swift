import AWSConfig
import StscacheSupport

// The delegating pattern: a profile whose `credential_process` runs stscache for another
// profile. botocore sees an ordinary helper; stscache follows it to the role it stands for.

/// The profile a `credential_process` command hands to stscache, for the delegating pattern:
///
///     [profile prod]
///     credential_process = stscache credential-process --profile prod-role
///
/// Returns `prod-role` for any command whose program's base name is `stscache` (a bare name or
/// any path) and that has `--profile NAME` or `--profile=NAME` (the last one wins, as for any
/// repeated option). Quoting follows `shellWords`. nil for other programs, a missing
/// `--profile`, or a command that does not split.
package func delegatedProfile(fromCredentialProcess command: String) -> String? {
    guard let words = shellWords(command), let program = words.first else { return nil }
    let baseName = program.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? program
    guard baseName == "stscache" else { return nil }
    var profile: String?
    var index = 1
    while index < words.count {
        let word = words[index]
        if word == "--" { break }
        if word == "--profile" {
            guard index + 1 < words.count else { break }
            profile = words[index + 1]
            index += 2
            continue
        }
        if word.hasPrefix("--profile=") {
            profile = String(word.dropFirst("--profile=".count))
        }
        index += 1
    }
    guard let profile, !profile.isEmpty else { return nil }
    return profile
}

extension ConfigFiles {
    /// The profile this one delegates to through `credential_process = stscache ... --profile X`.
    package func delegatedProfile(forProfile name: String) -> String? {
        credentialProcess(forProfile: name).flatMap { Credentials.delegatedProfile(fromCredentialProcess: $0) }
    }
}

extension ProfileResolver {
    /// Every profile that reaches the role `roleArn` with session name `sessionName`: profiles
    /// that resolve to it directly, and profiles whose `credential_process` delegates to stscache
    /// with such a profile. Profiles that fail to resolve are skipped. Sorted by name.
    package func profiles(resolvingToRoleArn roleArn: String, sessionName: String) -> [String] {
        var resolved: [String: RoleProfile?] = [:]
        func role(_ name: String) -> RoleProfile? {
            if let known = resolved[name] { return known }
            let profile = files.profile(named: name)?.string("role_arn") == nil ? nil : try? resolve(profile: name)
            resolved[name] = profile
            return profile
        }
        func matches(_ profile: RoleProfile?) -> Bool {
            profile.map { $0.roleArn == roleArn && $0.roleSessionName == sessionName } ?? false
        }
        var names: [String] = []
        for name in files.profileNames {
            if matches(role(name)) {
                names.append(name)
            } else if let target = files.delegatedProfile(forProfile: name), target != name, matches(role(target)) {
                names.append(name)
            }
        }
        return names.sorted()
    }
}
