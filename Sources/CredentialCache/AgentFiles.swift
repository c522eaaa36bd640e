#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

/// The caching agent's two files in the cache directory, beside the entries: `agent.json`, what
/// it keeps warm (profile names, role ARNs and times: no secrets), and `agent.lock`, held by
/// the running agent (one per cache). Both go through the checked directory descriptor like
/// every cache file; `list` and `purge` ignore them.
extension CredentialCache {
    public static let agentStateName = "agent.json"
    public static let agentLockName = "agent.lock"
    /// Far more than a few hundred sessions' records need.
    public static let agentStateLimit = 1 << 20

    /// `agent.json`'s bytes; nil when there is none or it cannot be read as a regular file.
    public func readAgentState() -> [UInt8]? {
        guard case .success(let fd) = FileSystem.open(at: directory.fd, Self.agentStateName,
                                                      O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { close(fd) }
        guard case .success(let info) = FileSystem.status(of: fd), info.isRegularFile else { return nil }
        guard case .success(let bytes) = BoundedRead.toEnd(fd, limit: Self.agentStateLimit, sizeHint: Int(info.st_size))
        else { return nil }
        return bytes
    }

    /// Replaces `agent.json` atomically (0600).
    public func writeAgentState(_ bytes: [UInt8]) throws(CacheError) {
        do {
            try FileSystem.writeAtomically(
                directory: directory.fd, directoryPath: directory.path, finalName: Self.agentStateName,
                temporaryStem: "agent", bytes: bytes
            ) { temporaryName in
                renameat(directory.fd, temporaryName, directory.fd, Self.agentStateName) == 0
                    ? .success(()) : .failure(Errno(errno))
            }
        } catch {
            throw .fileOperationFailed(path: directory.pathOf(Self.agentStateName), operation: error.operation,
                                       errno: error.errno)
        }
        removeAbandonedTemporaryFiles(comparedTo: Self.agentStateName)
    }

    /// Removes `agent.json` (`purge --all`: it names profiles and role ARNs). False when there
    /// was none. A running agent writes it again at its next change.
    public func removeAgentState() throws(CacheError) -> Bool {
        if unlinkat(directory.fd, Self.agentStateName, 0) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw .fileOperationFailed(path: directory.pathOf(Self.agentStateName), operation: "removing", errno: code)
    }

    /// Whether `agent.json` exists.
    public func hasAgentState() -> Bool {
        var info = stat()
        return fstatat(directory.fd, Self.agentStateName, &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// What `lockAgent` found.
    public enum AgentLock {
        /// This process now holds the lock (keep the descriptor open for as long as it runs).
        case acquired(fd: Int32)
        /// Another process holds it: an agent runs on this cache.
        case heldElsewhere
    }

    /// Takes `agent.lock` (an exclusive `flock`, never waiting). The kernel drops it when the
    /// holder exits however it exits, so a `kill -9` leaves no stale lock.
    public func lockAgent() throws(CacheError) -> AgentLock {
        let fd: Int32
        switch FileSystem.open(at: directory.fd, Self.agentLockName, O_RDWR | O_CREAT | O_NOFOLLOW,
                               mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let error):
            throw .fileOperationFailed(path: directory.pathOf(Self.agentLockName), operation: "opening", errno: error.code)
        }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .acquired(fd: fd) }
        let code = errno
        close(fd)
        if code == EWOULDBLOCK { return .heldElsewhere }
        throw .fileOperationFailed(path: directory.pathOf(Self.agentLockName), operation: "locking", errno: code)
    }

    /// Whether an agent holds `agent.lock` now (probed with a shared lock, released at once).
    public func agentIsRunning() -> Bool {
        guard case .success(let fd) = FileSystem.open(at: directory.fd, Self.agentLockName,
                                                      O_RDONLY | O_NOFOLLOW) else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }
}

/// The agent's mark of a kept session that needs a person before it can be refreshed (an MFA
/// code, a sign-in): an empty `<stem>.attention` whose modification time is the session's
/// expiry, so `prompt` learns it with one `fstatat` and a mark left from an older session (its
/// expiry differs) means nothing. Made and removed by the agent only; `purge` removes it with
/// the entry.
extension CredentialCache {
    public static let attentionSuffix = ".attention"

    /// Marks the session at `stem` (expiring at `expiration`) as needing a person.
    public func markAttention(stem: String, expiration: Date) {
        guard isStem(stem) else { return }
        let name = stem + Self.attentionSuffix
        guard case .success(let fd) = FileSystem.open(at: directory.fd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK,
                                                      mode: 0o600) else { return }
        defer { close(fd) }
        guard case .success(let info) = FileSystem.status(of: fd), info.isRegularFile else { return }
        let seconds = expiration.timeIntervalSince1970.rounded(.down)
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        _ = futimens(fd, &times)
    }

    public func clearAttention(stem: String) {
        guard isStem(stem) else { return }
        _ = unlinkat(directory.fd, stem + Self.attentionSuffix, 0)
    }

    /// Whether the agent marked the session at `stem` that expires at `expiration` as needing a person.
    public func needsAttention(stem: String, expiration: Date) -> Bool {
        var info = stat()
        guard fstatat(directory.fd, stem + Self.attentionSuffix, &info, AT_SYMLINK_NOFOLLOW) == 0,
              info.isRegularFile, UInt32(info.st_uid) == FileSystem.currentUID else { return false }
        return Int(info.st_mtim.tv_sec) == Int(expiration.timeIntervalSince1970.rounded(.down))
    }
}
