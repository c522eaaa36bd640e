#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache
import StscacheSupport
import Credentials

/// What the caching agent keeps warm, as it writes it to `agent.json` for `agent status` and
/// `list`: profile names, role ARNs, times and the last failure's one-line reason. No secrets.
/// Times are seconds since the epoch.
///
/// The file is read back by other processes, so it is treated as input from outside: decoding
/// is all-or-nothing, records are checked (`isPlausible`), and every string is escaped by
/// whoever prints it.
package struct AgentState: Codable, Equatable, Sendable {
    package static let currentVersion = 1

    package var version = AgentState.currentVersion
    package var pid: Int32
    package var started: Double
    package var updated: Double
    /// The callers' refresh window, the agent's lead and how long a used session is kept.
    package var window: Double
    package var lead: Double
    package var keepFor: Double
    package var sessions: [Record]

    package enum Condition: String, Codable, Sendable {
        /// Kept, and refreshed ahead of the callers' window.
        case warm
        /// A refresh is running now.
        case refreshing
        /// The last refresh failed; it is retried with back-off while the session lasts.
        case failing
        /// Refreshing needs a new MFA code: left for the next caller at a terminal.
        case needsMFA = "needs-mfa"
        /// Not used within `keepFor`: left to expire.
        case idle
    }

    package struct Record: Codable, Equatable, Sendable {
        package var stem: String
        /// The role profile the agent refreshes it with, and every profile that selects it.
        package var profile: String
        package var profiles: [String]
        package var roleArn: String
        package var issuedAt: Double
        package var expiration: Double
        package var lastUsed: Double
        package var nextRefresh: Double?
        package var condition: Condition
        package var failures: Int
        package var lastError: String?

        package init(stem: String, profile: String, profiles: [String], roleArn: String, issuedAt: Double,
                     expiration: Double, lastUsed: Double, nextRefresh: Double?, condition: Condition,
                     failures: Int = 0, lastError: String? = nil) {
            self.stem = stem
            self.profile = profile
            self.profiles = profiles
            self.roleArn = roleArn
            self.issuedAt = issuedAt
            self.expiration = expiration
            self.lastUsed = lastUsed
            self.nextRefresh = nextRefresh
            self.condition = condition
            self.failures = failures
            self.lastError = lastError
        }

        /// A stem as the cache names entries, bounded strings, finite times.
        var isPlausible: Bool {
            isStem(stem) && [profile, roleArn].allSatisfy({ $0.utf8.count <= 2048 }) && profiles.count <= 256
                && [issuedAt, expiration, lastUsed].allSatisfy(\.isFinite) && (nextRefresh?.isFinite ?? true)
                && failures >= 0 && (lastError?.utf8.count ?? 0) <= 1024
        }
    }

    package init(pid: Int32, started: Double, updated: Double, window: Double, lead: Double, keepFor: Double,
                 sessions: [Record]) {
        self.pid = pid
        self.started = started
        self.updated = updated
        self.window = window
        self.lead = lead
        self.keepFor = keepFor
        self.sessions = sessions
    }

    package func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? []
    }

    /// The state in `bytes`, or nil when it is not a whole, plausible state of this version.
    package static func decode(_ bytes: [UInt8]) -> AgentState? {
        guard let state = try? JSONDecoder().decode(AgentState.self, from: Data(bytes)),
              state.version == currentVersion, state.pid > 0,
              [state.started, state.updated, state.window, state.lead, state.keepFor].allSatisfy(\.isFinite),
              state.sessions.count <= 10_000, state.sessions.allSatisfy(\.isPlausible)
        else { return nil }
        return state
    }

    /// The last state the agent wrote in `cache`, and whether an agent holds the cache now.
    package static func load(from cache: CredentialCache) -> (state: AgentState?, running: Bool) {
        (cache.readAgentState().flatMap(decode), cache.agentIsRunning())
    }
}
