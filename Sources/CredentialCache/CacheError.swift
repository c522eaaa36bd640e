import StscacheSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong in the cache, its directory, its locks and its key stores.
///
/// `code` is stable (tests and the CLI compare it); `message` names the directory or file
/// involved and says what to do. No case carries a secret: keys, secret access keys and
/// session tokens never reach an error.
///
/// A damaged or foreign cache *entry* is not an error: reading it is a miss (`MissReason`).
public enum CacheError: UserFacingError, Sendable, Equatable {
    /// The cache directory (or key directory) is a symbolic link.
    case directoryIsSymlink(path: String)
    /// The cache directory is owned by another user.
    case directoryNotOwned(path: String, owner: UInt32, expected: UInt32)
    /// The cache directory is readable, writable or searchable by group or others.
    case directoryPermissions(path: String, mode: UInt32)
    /// Something other than a directory sits where the cache directory should be.
    case notADirectory(path: String)
    /// The cache directory does not exist and the caller asked not to create it.
    case directoryMissing(path: String)
    /// The cache directory could not be created or opened.
    case directoryUnavailable(path: String, errno: Int32)
    /// A file operation in the cache directory or on the key file failed.
    case fileOperationFailed(path: String, operation: String, errno: Int32)
    /// The credentials are too large for one entry (entries are bounded at 64 KiB).
    case entryTooLarge(path: String)
    /// Another process held the role's lock for longer than the allowed wait.
    case lockTimeout(roleArn: String, path: String, seconds: Double)
    /// The kernel keyring is refused here (seccomp in containers, or no keyctl at all).
    case keyringUnavailable(errno: Int32)
    /// A keyring operation failed for another reason.
    case keyringFailed(operation: String, errno: Int32)
    /// The key found in the keyring is not 32 bytes.
    case keyringKeyInvalid(description: String, length: Int)
    /// The key file is a symlink, not a regular file, owned by another user or reachable by others.
    case keyFileInsecure(path: String, reason: String)
    /// The key file is not 32 bytes.
    case keyFileInvalid(path: String, length: Int)
    /// The key file's directory is a symlink, another user's, or writable by group/others.
    case keyDirectoryUnusable(path: String, reason: String)
    /// `STSCACHE_KEY_STORE=env` without `STSCACHE_CACHE_KEY`.
    case environmentKeyMissing
    /// `STSCACHE_CACHE_KEY` is not base64 of 32 bytes.
    case environmentKeyMalformed(reason: String)
    /// `STSCACHE_KEY_STORE` names no known store.
    case unknownKeyStore(value: String)
    /// The system's random generator failed.
    case randomUnavailable

    /// Stable identifier for tests and scripts.
    public var errorCode: String { code }

    public var code: String {
        switch self {
        case .directoryIsSymlink: return "cache.dir-symlink"
        case .directoryNotOwned: return "cache.dir-not-owned"
        case .directoryPermissions: return "cache.dir-permissions"
        case .notADirectory: return "cache.dir-not-directory"
        case .directoryMissing: return "cache.dir-missing"
        case .directoryUnavailable: return "cache.dir-unavailable"
        case .fileOperationFailed: return "cache.file-io"
        case .entryTooLarge: return "cache.entry-too-large"
        case .lockTimeout: return "cache.lock-timeout"
        case .keyringUnavailable: return "cache.keyring-unavailable"
        case .keyringFailed: return "cache.keyring-failed"
        case .keyringKeyInvalid: return "cache.keyring-key-invalid"
        case .keyFileInsecure: return "cache.key-file-insecure"
        case .keyFileInvalid: return "cache.key-file-invalid"
        case .keyDirectoryUnusable: return "cache.key-dir-unusable"
        case .environmentKeyMissing: return "cache.env-key-missing"
        case .environmentKeyMalformed: return "cache.env-key-malformed"
        case .unknownKeyStore: return "cache.key-store-unknown"
        case .randomUnavailable: return "cache.random-unavailable"
        }
    }

    /// One or two sentences for the user: what is wrong, where, and how to fix it.
    public var message: String {
        switch self {
        case .directoryIsSymlink(let path):
            return "cache directory \(path) is a symbolic link; stscache does not follow links there. "
                + "Replace it with a real directory (mode 0700) or set STSCACHE_CACHE_DIR to one."
        case .directoryNotOwned(let path, let owner, let expected):
            return "cache directory \(path) is owned by uid \(owner), not by you (uid \(expected)); "
                + "remove it or set STSCACHE_CACHE_DIR to a directory you own."
        case .directoryPermissions(let path, let mode):
            return "cache directory \(path) has mode \(octal(mode)): group or others can reach it. "
                + "Run 'chmod 700 \(path)' or set STSCACHE_CACHE_DIR to a private directory."
        case .notADirectory(let path):
            return "cache directory \(path) exists but is not a directory; "
                + "move it away or set STSCACHE_CACHE_DIR elsewhere."
        case .directoryMissing(let path):
            return "cache directory \(path) does not exist (nothing has been cached yet)."
        case .directoryUnavailable(let path, let errno):
            return "cannot create or open cache directory \(path): \(errorText(errno)); "
                + "check its parent's permissions or set STSCACHE_CACHE_DIR."
        case .fileOperationFailed(let path, let operation, let errno):
            return "\(operation) \(path) failed: \(errorText(errno))."
        case .entryTooLarge(let path):
            return "credentials for \(path) are larger than a cache entry allows (64 KiB); not cached."
        case .lockTimeout(let roleArn, let path, let seconds):
            return "another stscache process has held the lock for role \(roleArn) for over "
                + "\(Int(seconds.rounded())) s (lock file \(path)); it may be waiting for an MFA code "
                + "in another terminal. Answer or stop that process ('fuser \(path)' shows it), then retry "
                + "(STSCACHE_LOCK_TIMEOUT sets how long to wait)."
        case .keyringUnavailable(let errno):
            return "the kernel keyring is not available here (keyctl: \(errorText(errno))); "
                + "set STSCACHE_KEY_STORE=file or STSCACHE_KEY_STORE=env."
        case .keyringFailed(let operation, let errno):
            return "kernel keyring \(operation) failed: \(errorText(errno)); "
                + "check 'keyctl show @u' or set STSCACHE_KEY_STORE=file."
        case .keyringKeyInvalid(let description, let length):
            return "the keyring key '\(description)' holds \(length) bytes, not 32; "
                + "remove it with 'keyctl purge user \(description)' (cached entries become misses)."
        case .keyFileInsecure(let path, let reason):
            return "key file \(path) \(reason); stscache refuses to use it. Remove it "
                + "(a new key is created and cached entries become misses) or make it a regular "
                + "file you own with mode 0600."
        case .keyFileInvalid(let path, let length):
            return "key file \(path) holds \(length) bytes, not 32; remove it and a new key is created "
                + "(cached entries become misses)."
        case .keyDirectoryUnusable(let path, let reason):
            return "key directory \(path) \(reason); stscache will not keep its key there. "
                + "Fix it ('chmod 700 \(path)') or set XDG_CONFIG_HOME or STSCACHE_KEY_STORE."
        case .environmentKeyMissing:
            return "STSCACHE_KEY_STORE=env but STSCACHE_CACHE_KEY is not set; "
                + "set it to base64 of 32 random bytes (e.g. 'openssl rand -base64 32')."
        case .environmentKeyMalformed(let reason):
            return "STSCACHE_CACHE_KEY \(reason); it must be base64 of exactly 32 bytes "
                + "(e.g. 'openssl rand -base64 32')."
        case .unknownKeyStore(let value):
            return "STSCACHE_KEY_STORE=\(value) is not a key store; use keyring, file or env."
        case .randomUnavailable:
            return "the system random generator failed; cannot create a cache key or nonce."
        }
    }
}

extension CacheError: CustomStringConvertible {
    public var description: String { message }
}

/// strerror plus the symbolic name, so a message is searchable whatever the locale.
func errorText(_ code: Int32) -> String {
    var names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EACCES: "EACCES", EEXIST: "EEXIST", ENOTDIR: "ENOTDIR",
        ELOOP: "ELOOP", ENOSPC: "ENOSPC", EROFS: "EROFS", ENOSYS: "ENOSYS", EDQUOT: "EDQUOT",
        EIO: "EIO", EINVAL: "EINVAL",
    ]
    #if os(Linux)
    names[ENOKEY] = "ENOKEY"
    names[EKEYREVOKED] = "EKEYREVOKED"
    names[EKEYEXPIRED] = "EKEYEXPIRED"
    #endif
    let name = names[code] ?? "errno \(code)"
    return String(cString: strerror(code)) + " (\(name))"
}

extension CacheError {
    /// A step of an atomic write that failed, as the cache reports it.
    init(_ failure: FileSystem.WriteFailure) {
        self = .fileOperationFailed(path: failure.path, operation: failure.operation, errno: failure.errno)
    }
}
