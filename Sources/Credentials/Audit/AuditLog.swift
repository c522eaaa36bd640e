#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import CredentialCache
import OpenSSLCrypto
import SigV4
import StscacheSupport

/// Records hand-outs in the cache directory's `audit.log` (docs/audit.md). On unless
/// `STSCACHE_AUDIT=off`. Writing never fails a hand-out: a refused or failed write is one
/// warning on stderr per process (the person has to act: nothing is being recorded), and the
/// credentials are still handed out.
package final class AuditLog: @unchecked Sendable {
    let cache: CredentialCache
    let context: Context
    let limit: Int
    /// Set after the first warning. Only the endpoint's one server thread writes after the
    /// command's own record, so there is no concurrent writer to guard against; a lost race
    /// would cost one more warning line, nothing else.
    private var warned = false

    /// `STSCACHE_AUDIT`: `on` (the default; also `1`, `true`, empty) or `off` (`0`, `false`).
    package static func isEnabled(environment: [String: String]) throws(UsageError) -> Bool {
        guard let value = environment["STSCACHE_AUDIT"] else { return true }
        switch value {
        case "", "on", "1", "true": return true
        case "off", "0", "false": return false
        default:
            throw UsageError(.invalidSetting, "STSCACHE_AUDIT='\(TerminalText.escaped(oneLine(value)))' is not on or off; "
                                + "unset it (the audit log is on by default) or set STSCACHE_AUDIT=off")
        }
    }

    /// The log of `cache`, or nil when `STSCACHE_AUDIT=off`.
    package static func open(context: Context, cache: CredentialCache, limit: Int = AuditLogFile.defaultLimit) throws -> AuditLog? {
        try isEnabled(environment: context.environment) ? AuditLog(context: context, cache: cache, limit: limit) : nil
    }

    init(context: Context, cache: CredentialCache, limit: Int) {
        (self.context, self.cache, self.limit) = (context, cache, limit)
    }

    /// Appends one record of handing `credentials` (the `role`'s, asked for as `profile`) to `caller`.
    package func record(_ command: AuditRecord.Command, profile: String, role: RoleProfile, credentials: AWSCredentials,
                        origin: CredentialBroker.Origin, caller: AuditRecord.Caller) {
        record(AuditRecord(time: context.now(), command: command, profile: profile, roleArn: role.roleArn,
                           sessionName: role.roleSessionName, accessKeyId: credentials.accessKeyId,
                           expiration: credentials.expiration, origin: origin, caller: caller,
                           scope: Self.scope(of: role.sessionParameters)))
    }

    /// The session policies a hand-out was scoped by (a profile's `policy_arns`/`policy`,
    /// `exec --policy-arn/--policy-file`, a caller scope), or nil for an unscoped session: the
    /// ARNs, comma-separated, and an inline policy as `policy:sha256:` and the first 16 hex
    /// digits of its SHA-256 (a document may be long or say more than a log should).
    static func scope(of parameters: SessionParameters) -> String? {
        if parameters.policyArns.isEmpty && parameters.policy == nil { return nil }
        // Appended by hand: `joined(separator:)` instantiated generic metadata that cost a scoped
        // hit 6% more instructions (bench/instructions.py's method, a profile with policy_arns).
        var text = ""
        for arn in parameters.policyArns {
            if !text.isEmpty { text += "," }
            text += arn
        }
        if let policy = parameters.policy {
            if !text.isEmpty { text += "," }
            text += "policy:sha256:" + Hex.encode(Array(SHA256.hash(Array(policy.utf8))[0..<8]))
        }
        return text
    }

    package func record(_ record: AuditRecord) {
        guard let failure = cache.appendAuditLine(record.line(), limit: limit) else { return }
        let first = !warned
        warned = true
        if first { context.output.stderr("stscache: warning: \(oneLine(failure.message))\n") }
    }

    /// The process that ran this one (what `credential-process`, `export` and `exec` record).
    package static func parent() -> AuditRecord.Caller {
        let pid = getppid()
        return AuditCaller.process(pid).map(AuditRecord.Caller.process) ?? .unknown("parent process \(pid) is gone")
    }

    /// The process holding the connecting socket of an endpoint request.
    package static func endpointClient(clientPort: UInt16, serverPort: UInt16) -> AuditRecord.Caller {
        switch SocketOwner.find(clientPort: clientPort, serverPort: serverPort) {
        case .process(let process): return .process(process)
        case .unknown(let reason): return .unknown(reason)
        }
    }
}
