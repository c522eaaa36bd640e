/// What every child of stscache inherits from stscache's environment.
///
/// The rule: everything, except `STSCACHE_*` variables not listed in `keptSettings`. Removed,
/// in particular: `STSCACHE_CACHE_KEY` (the `env` key store's key, which decrypts every cache
/// entry) and `STSCACHE_MFA_TOKEN` (a one-time code: a helper has no use for it, and a nested
/// stscache handed it would send a code already used). An `STSCACHE_*` name that is not known
/// is removed too, so a secret setting added later is not leaked by default. The rule is the
/// same for all three kinds of child (`exec` commands, `credential_process` sources,
/// `mfa_process`): each may run stscache again (a shell, a wrapper script), and that stscache
/// should find the same cache and behave as the user configured it. What the kinds add on top
/// is set by their callers: sources get `STSCACHE_CHAIN` extended (loop detection), `exec`
/// children `STSCACHE_PROFILE` (for `prompt`).
///
/// A nested stscache under the `env` key store therefore fails with a clear message (no key)
/// instead of working. `STSCACHE_KEY_STORE` stays (and is set to `env` when the key alone chose
/// that store) so that it does fail, rather than fall back to another key store and overwrite
/// the cache with entries under another key.
package enum ChildEnvironment {
    /// Settings that are not secrets and that a nested stscache needs to behave the same.
    package static let keptSettings: Set<String> = [
        // Where the cache is and which key store: the same cache, or a clear error.
        "STSCACHE_CACHE_DIR", "STSCACHE_KEY_STORE",
        // Markers stscache sets for its own children: loop detection, the exec'd or exported profile.
        "STSCACHE_CHAIN", "STSCACHE_PROFILE",
        // Tuning the user chose for every run.
        "STSCACHE_REFRESH_WINDOW", "STSCACHE_LOCK_TIMEOUT", "STSCACHE_STS_TIMEOUT", "STSCACHE_ATTEMPT_TIMEOUT",
        "STSCACHE_CONNECT_TIMEOUT", "STSCACHE_MAX_ATTEMPTS", "STSCACHE_PROCESS_TIMEOUT",
        "STSCACHE_MFA_SESSION_DURATION", "STSCACHE_VERBOSE",
        // The agent's refreshes: a nested stscache must not ask for an MFA code either.
        "STSCACHE_NONINTERACTIVE",
        // The user's opt-in to plain http off this machine: a nested run must reach the same STS.
        "STSCACHE_ALLOW_INSECURE_HTTP",
        // `console`'s federation endpoint (an address, not a secret): a nested run signs in the same way.
        "STSCACHE_FEDERATION_ENDPOINT",
        // The audit log's switch and the agent's notice lead: a nested run records (or not) and
        // shows the same way.
        "STSCACHE_AUDIT", "STSCACHE_NOTIFY_LEAD",
    ]

    /// Settings that must never reach a child (removed by the rule anyway; named for the tests
    /// and for whoever reads this).
    package static let secrets: Set<String> = ["STSCACHE_CACHE_KEY", "STSCACHE_MFA_TOKEN"]

    package static func inherited(from environment: [String: String]) -> [String: String] {
        var child = environment.filter { name, _ in !name.hasPrefix("STSCACHE_") || keptSettings.contains(name) }
        // STSCACHE_CACHE_KEY alone selects the env key store. Without it a nested stscache
        // would pick the keyring instead: say env explicitly, so it fails for want of the key.
        if !(environment["STSCACHE_CACHE_KEY"] ?? "").isEmpty, (environment["STSCACHE_KEY_STORE"] ?? "").isEmpty {
            child["STSCACHE_KEY_STORE"] = "env"
        }
        return child
    }
}
