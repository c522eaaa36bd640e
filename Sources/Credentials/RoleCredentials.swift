import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport

/// A role's credentials through the broker, for `export` and `exec`: the selected profile is
/// followed to its role profile (the delegating pattern) as `prompt` does.
package struct RoleCredentials {
    package let files: ConfigFiles
    /// The profile the user named.
    package let profile: String
    package let role: RoleProfile
    package let credentials: AWSCredentials
    /// The refresh policy the credentials were served under (`--refresh-window`, else
    /// `STSCACHE_REFRESH_WINDOW`, else the default).
    package let policy: RefreshPolicy
    /// The same role's credentials again, through the same cache and refresh window (a server
    /// handing them out for a child's lifetime).
    package let fetchAgain: () throws -> AWSCredentials
    /// The broker's network settings, for the command's own calls after the fetch: parsed once
    /// in the run, by whichever needs them first.
    package let settings: LazyNetworkSettings

    package static func fetch(context: Context, profile: String, refreshWindow: String?, verbose: Bool) throws -> RoleCredentials {
        let policy = try RefreshWindow.policy(option: refreshWindow, environment: context.environment)
        let resources = try CommandResources.open(context: context, verbose: verbose)
        let target = RoleLookup(files: resources.files, context: context, keysOnly: false).roleProfileName(for: profile)
        let role = try resources.resolve(profile: target ?? profile)
        let broker = resources.broker(policy: policy)
        return RoleCredentials(files: resources.files, profile: profile, role: role,
                               credentials: try broker.credentials(for: role), policy: policy,
                               fetchAgain: { try broker.credentials(for: role, forceRefresh: false) },
                               settings: broker.settings)
    }
}
