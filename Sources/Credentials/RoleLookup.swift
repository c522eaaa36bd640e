import AWSConfig
import CredentialCache
import StscacheSupport

/// Which cache entry holds a profile's session, worked out from the config files alone: no
/// secrets are used, no key store is opened and nothing touches the network. `prompt`, `list`,
/// `purge` and the agent use it.
package struct RoleLookup {
    package let files: ConfigFiles
    private let resolver: ProfileResolver

    /// - Parameter keysOnly: the caller only needs cache keys, never the source credentials.
    ///   A `credential_source = Environment` role then resolves even when the shell running
    ///   `prompt` has no `AWS_ACCESS_KEY_ID` (its cache key does not depend on the keys).
    package init(files: ConfigFiles, context: Context, keysOnly: Bool) {
        var environment = context.environment
        if keysOnly {
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] where (environment[name] ?? "").isEmpty {
                environment[name] = "stscache-key-lookup-only"
            }
        }
        self.files = files
        resolver = ProfileResolver(files: files, environment: environment, policy: context.resolutionPolicy)
    }

    /// The profile whose role stscache assumes when `name` is selected: `name` itself when it
    /// has a `role_arn` (botocore resolves `role_arn` before `credential_process`), else the
    /// profile its `credential_process` hands to stscache with `--profile` (the delegating
    /// pattern), else nil: `name` is not an stscache role.
    package func roleProfileName(for name: String) -> String? {
        guard let profile = files.profile(named: name) else { return nil }
        if profile.string("role_arn") != nil { return name }
        return files.delegatedProfile(forProfile: name)
    }

    /// The role `name` stands for: the resolver follows the delegation (and refuses a loop).
    package func role(for name: String) throws(ConfigError) -> RoleProfile {
        try resolver.resolve(profile: name)
    }

    /// One cache entry the current config can reach, and every profile that selects it.
    package struct Reach {
        package var key: CacheKey
        /// Sorted; both the role profile and the profiles delegating to it.
        package var profiles: [String]
    }

    /// Every entry the config files can reach, by entry stem. Profiles that do not resolve are
    /// left out (they have no entry to show).
    package func reachableEntries() -> [String: Reach] {
        var roles: [String: RoleProfile?] = [:]
        func resolved(_ name: String) -> RoleProfile? {
            if let known = roles[name] { return known }
            let role = try? resolver.resolve(profile: name)
            roles[name] = role
            return role
        }
        var byStem: [String: Reach] = [:]
        for name in files.profileNames {
            guard let target = roleProfileName(for: name), let role = resolved(target) else { continue }
            let key = CredentialBroker.cacheKey(for: role)
            byStem[key.stem, default: Reach(key: key, profiles: [])].profiles.append(name)
        }
        for stem in byStem.keys { byStem[stem]!.profiles.sort() }
        return byStem
    }
}

extension RoleLookup {
    /// Entries reachable from the config files, or none (with a warning) when they cannot be
    /// read: `list` and `purge` then still work, without profile names.
    package static func reachableEntries(context: Context) -> [String: Reach] {
        do {
            let files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
            return RoleLookup(files: files, context: context, keysOnly: true).reachableEntries()
        } catch {
            context.output.stderr("stscache: warning: \(oneLine(error.message)) (profile names are not shown)\n")
            return [:]
        }
    }
}
