import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport

/// stscache's store of long-term keys (`stscache keys`) as a credential source: where it is,
/// which key opens it, and one profile's keys. Opened only when a session must be made.
package struct StoredKeys {
    package let context: Context
    /// The cache's key store; the long-term store's key comes from the same kind of store
    /// (`AccessKeyStore.encryptionKeyStore(for:)`).
    package let cacheKeyStore: any KeyStore
    /// `NetworkSettings.lockTimeout`: the store's writers wait for each other as long as for
    /// any other stscache lock.
    package let lockTimeout: Double

    package init(context: Context, cacheKeyStore: any KeyStore, lockTimeout: Double) {
        self.context = context
        self.cacheKeyStore = cacheKeyStore
        self.lockTimeout = lockTimeout
    }

    package var store: AccessKeyStore {
        var store = AccessKeyStore(path: AccessKeyStore.defaultPath(environment: context.environment,
                                                                    home: context.homeDirectory))
        store.lockTimeout = lockTimeout
        return store
    }

    package var encryptionKeyStore: any KeyStore { store.encryptionKeyStore(for: cacheKeyStore) }

    /// The key that opens the store, nil when none was ever made (so nothing can be stored).
    package func existingEncryptionKey() throws -> [UInt8]? { try encryptionKeyStore.loadKey() }

    /// `profile`'s stored keys for signing, or an error naming the two ways to give it keys.
    package func credentials(for profile: String, roleProfile: String) throws -> AWSCredentials {
        let store = self.store
        guard var key = try existingEncryptionKey() else {
            if (try? store.profileNames())?.contains(profile) == true {
                throw KeysError(
                    .storeKeyMissing,
                    "stscache's key store \(store.path) holds keys for profile \"\(profile)\", but the key that opens it is "
                        + "gone (\(encryptionKeyStore.location)); restore that key from the backup you made with the store, "
                        + "or move the store away and add the keys again with 'stscache keys add \(profile)'")
            }
            throw KeysError.notStored(profile: profile, roleProfile: roleProfile, suggestion: suggestion(for: profile))
        }
        defer { EntryFormat.wipe(&key) }
        guard let record = try store.record(for: profile, encryptionKey: key) else {
            throw KeysError.notStored(profile: profile, roleProfile: roleProfile, suggestion: suggestion(for: profile))
        }
        return AWSCredentials(accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey)
    }

    /// The profile a `source_profile` naming `profile` most likely meant: among the config
    /// files' profiles (their headers only) and the store's names (nothing decrypted).
    private func suggestion(for profile: String) -> String? {
        let names = ConfigNames.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        // A profile in the files that has no keys is not a typo.
        if names.profiles.contains(profile) { return nil }
        return NameSuggestion.closest(to: profile, among: names.profiles + ((try? store.profileNames()) ?? []))
    }

    /// Keys for `profile` in the config files and in the store at once are refused: which copy
    /// is meant is unclear, and the plaintext copy is what the store exists to remove. Only the
    /// store's profile names are read (nothing is decrypted); a store that cannot be read does
    /// not block keys that are in the files.
    package func refuseDuplicate(profile: String) throws(KeysError) {
        guard let names = try? store.profileNames(), names.contains(profile) else { return }
        throw KeysError.storedAndPlaintext(profile: profile, credentialsPath: context.credentialsFilePath)
    }
}

/// Failures of `stscache keys` and of stored keys as a source. Never a secret in a message.
package typealias KeysError = CodedError<KeysErrorCode>

/// The codes of `KeysError`: `keys.<code>`.
package enum KeysErrorCode: String, ErrorCode {
    package static let domain = "keys"

    case notStored = "not-stored"
    case storedAndPlaintext = "stored-and-plaintext"
    case alreadyStored = "already-stored"
    case plaintextPresent = "plaintext-present"
    case noPlaintext = "no-plaintext"
    case invalidInput = "invalid-input"
    case noTerminal = "no-terminal"
    case rejected = "rejected"
    case credentialsFileChanged = "credentials-file-changed"
    case credentialsFileUnusable = "credentials-file-unusable"
    case rotationFailed = "rotation-failed"
    case tooManyKeys = "too-many-keys"
    /// A rerun of an interrupted rotation found a key it has no record of making: left alone.
    case unrecordedKey = "unrecorded-key"
    case storeKeyMissing = "store-key-missing"
}

extension KeysError {
    /// `suggestion`: a known profile near `profile`, which is then most likely a typo: the fix is
    /// the name, not keys stored under the typo.
    package static func notStored(profile: String, roleProfile: String, suggestion: String? = nil) -> KeysError {
        if let suggestion {
            return KeysError(
                .notStored,
                "profile \"\(roleProfile)\" has source_profile = \(profile), which is neither in the config files nor in "
                    + "stscache's key store; did you mean \"\(suggestion)\"? Correct source_profile.")
        }
        return KeysError(
            .notStored,
            "profile \"\(profile)\", the source of \"\(roleProfile)\", has no keys: none in the config files and none in "
                + "stscache's key store; add them with 'stscache keys add \(profile)' (or add the profile, with its "
                + "keys or another source, to the config files; check the source_profile name for a typo)")
    }

    package static func storedAndPlaintext(profile: String, credentialsPath: String) -> KeysError {
        KeysError(
            .storedAndPlaintext,
            "profile \"\(profile)\" has keys both in the config files (\(credentialsPath) or the config file) and in "
                + "stscache's key store; keep one copy: 'stscache keys import \(profile)' moves the plaintext keys into "
                + "the store (replacing the stored ones), or 'stscache keys remove \(profile)' keeps the plaintext ones")
    }
}
