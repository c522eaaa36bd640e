#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import CredentialCache
import SigV4
import STS
import StscacheSupport
import Credentials

/// `stscache keys`: long-term keys added to, listed in, imported into, removed from and rotated
/// in stscache's encrypted store. The command layer reads the input and prints; this checks,
/// calls STS and IAM, and stores.
package struct LongTermKeys {
    package let context: Context
    package let files: ConfigFiles
    package let stored: StoredKeys
    /// Timeouts, retries and proxies for the STS and IAM calls, and the store lock's wait.
    package let settings: NetworkSettings
    /// Between GetCallerIdentity attempts with a key IAM just made (IAM is eventually consistent:
    /// a new key can take some seconds to work everywhere).
    package var newKeyWait = (attempts: 30, interval: 2.0)

    package init(context: Context, files: ConfigFiles, cacheKeyStore: any KeyStore, settings: NetworkSettings) {
        self.context = context
        self.files = files
        self.settings = settings
        self.stored = StoredKeys(context: context, cacheKeyStore: cacheKeyStore, lockTimeout: settings.lockTimeout)
    }

    // MARK: add, list, remove

    /// Checks `keys` with one signed GetCallerIdentity, then stores them for `profile`.
    /// Refused when the config files already hold keys for it (`import` moves those).
    @discardableResult
    package func add(profile: String, keys: AWSCredentials, replace: Bool) throws -> CallerIdentity {
        try Self.checkProfileName(profile)
        try Self.checkShape(keys)
        if plaintextKeys(of: profile) != nil {
            throw KeysError(
                .plaintextPresent,
                "profile \"\(profile)\" already has keys in \(context.credentialsFilePath) or the config file; move them into "
                    + "the store with 'stscache keys import \(profile)' instead")
        }
        let identity = try callerIdentity(keys, profile: profile)
        var encryptionKey = try stored.encryptionKeyStore.loadOrCreateKey()
        defer { EntryFormat.wipe(&encryptionKey) }
        try stored.store.update(encryptionKey: encryptionKey) { records in
            if let index = records.firstIndex(where: { $0.profile == profile }) {
                guard replace else {
                    throw KeysError(
                        .alreadyStored,
                        "profile \"\(profile)\" already has keys in stscache's store (\(records[index].accessKeyId)); pass "
                            + "--replace to replace them, or 'stscache keys rotate \(profile)' to rotate them")
                }
                records.remove(at: index)
            }
            records.append(StoredAccessKey(profile: profile, accessKeyId: keys.accessKeyId,
                                           secretAccessKey: keys.secretAccessKey, addedAt: context.now()))
        }
        return identity
    }

    /// Every stored profile, in the store's order; secrets are in memory only, for the caller
    /// to drop.
    package func list() throws -> [StoredAccessKey] {
        guard var encryptionKey = try stored.existingEncryptionKey() else { return [] }
        defer { EntryFormat.wipe(&encryptionKey) }
        return try stored.store.records(encryptionKey: encryptionKey)
    }

    /// Removes `profile`'s record; false when there was none. The key itself stays valid in IAM.
    package func remove(profile: String) throws -> Bool {
        guard var encryptionKey = try stored.existingEncryptionKey() else { return false }
        defer { EntryFormat.wipe(&encryptionKey) }
        return try stored.store.update(encryptionKey: encryptionKey) { records in
            guard let index = records.firstIndex(where: { $0.profile == profile }) else { return false }
            records.remove(at: index)
            return true
        }
    }

    // MARK: import

    /// What `importPlaintext` did, for the command's output.
    package struct Imported {
        package var accessKeyId: String
        package var backupPath: String
        /// Older backups of the credentials file deleted because they still held the secret.
        package var deletedBackups: [String]
        package var identity: CallerIdentity
    }

    /// Moves `profile`'s keys from the credentials file into the store: checks them, stores
    /// them, then rewrites the file without them (everything else byte for byte; a backup with
    /// the secret left out; an atomic replace, refused if the file changed meanwhile).
    package func importPlaintext(profile: String) throws -> Imported {
        try Self.checkProfileName(profile)
        let path = context.credentialsFilePath
        let snapshot = try CredentialsFileEdit.read(path)
        guard let edit = try CredentialsFileEdit.removingKeys(of: profile, from: snapshot.bytes, path: path) else {
            if files.config?.section(named: "profile \(profile)")?["aws_access_key_id"] != nil
                || (profile == "default" && files.config?.section(named: "default")?["aws_access_key_id"] != nil) {
                throw KeysError(
                    .noPlaintext,
                    "profile \"\(profile)\"'s keys are in the config file \(context.configFilePath), not in \(path); "
                        + "add them with 'stscache keys add \(profile)' and delete them from the config file by hand")
            }
            let withKeys = (files.credentials?.sections ?? []).filter { $0["aws_access_key_id"] != nil }.map(\.name)
            throw KeysError(.noPlaintext, "\(path) has no aws_access_key_id and aws_secret_access_key under [\(profile)]"
                + (NameSuggestion.closest(to: profile, among: withKeys).map { "; did you mean \"\($0)\"?" } ?? ""))
        }
        let keys = AWSCredentials(accessKeyId: edit.accessKeyId, secretAccessKey: edit.secretAccessKey)
        let identity = try callerIdentity(keys, profile: profile)
        var encryptionKey = try stored.encryptionKeyStore.loadOrCreateKey()
        defer { EntryFormat.wipe(&encryptionKey) }
        // Stored first: if the rewrite fails, the keys are in both places (refused until one
        // goes, with a message saying how), never in neither.
        try stored.store.update(encryptionKey: encryptionKey) { records in
            records.removeAll { $0.profile == profile }
            records.append(StoredAccessKey(profile: profile, accessKeyId: keys.accessKeyId,
                                           secretAccessKey: keys.secretAccessKey, addedAt: context.now()))
        }
        let replaced = try CredentialsFileEdit.replace(snapshot, with: edit, profile: profile,
                                                       stamp: AWSFileWriter.stamp(Timestamps.formatRFC3339(context.now())))
        return Imported(accessKeyId: keys.accessKeyId, backupPath: replaced.backupPath ?? "",
                        deletedBackups: replaced.deletedBackups, identity: identity)
    }

    // MARK: rotate

    /// What `rotate` did, for the command's output.
    package struct Rotation {
        package var oldAccessKeyId: String
        package var newAccessKeyId: String
        /// A rotation interrupted earlier was finished (or cleaned up and done again).
        package var resumed: Bool
    }

    /// IAM CreateAccessKey, wait until the new key works, store it, IAM DeleteAccessKey of the
    /// old one. Every step is recorded in the store before the call it prepares, so an
    /// interrupted rotation is finished by running this again, and the old key is deleted only
    /// once the new one is stored and works as the same user. A rerun deletes no key it did not
    /// record (docs/DESIGN.md, "Long-term keys").
    package func rotate(profile: String) throws -> Rotation {
        guard var encryptionKey = try stored.existingEncryptionKey() else {
            throw KeysError(.notStored, "profile \"\(profile)\" has no keys in stscache's store; add them with 'stscache keys add \(profile)'")
        }
        defer { EntryFormat.wipe(&encryptionKey) }
        let endpoints = try self.endpoints(profile: profile)
        return try stored.store.withLock(encryptionKey: encryptionKey) { transaction in
            var resumed: Bool?
            var signer: IAMSigner?
            /// What signs an IAM call: the current key (so the old key's delete is signed with
            /// the new one), or with mfa_serial one MFA session made once per run.
            func iam(_ current: AWSCredentials) throws -> IAMSigner {
                if let signer { return signer }
                let made = try iamSigner(for: current, profile: profile, endpoints: endpoints)
                if made.userName != nil { signer = made }
                return made
            }
            var steps = 0
            while true {
                steps += 1
                guard steps < 10 else { throw KeysError(.rotationFailed, "the rotation of \"\(profile)\" did not settle; run it again") }
                var records = try transaction.load()
                guard let index = records.firstIndex(where: { $0.profile == profile }) else {
                    if let near = NameSuggestion.closest(to: profile, among: records.map(\.profile)) {
                        throw KeysError(.notStored, "profile \"\(profile)\" has no keys in stscache's store; did you mean \"\(near)\"?")
                    }
                    throw KeysError(.notStored, "profile \"\(profile)\" has no keys in stscache's store; add them with 'stscache keys add \(profile)'")
                }
                var record = records[index]
                let current = AWSCredentials(accessKeyId: record.accessKeyId, secretAccessKey: record.secretAccessKey)
                if resumed == nil { resumed = record.rotation != nil }
                func save(_ changed: StoredAccessKey) throws {
                    records[index] = changed
                    try transaction.save(records)
                }
                switch record.rotation {
                case nil:
                    let iam = try iam(current)
                    let existing = try iamClient(endpoints).listAccessKeys(userName: iam.userName, credentials: iam.credentials,
                                                                          endpoint: endpoints.iam)
                    if existing.count >= 2 {
                        let other = existing.map(\.accessKeyId).filter { $0 != current.accessKeyId }.joined(separator: ", ")
                        throw KeysError(
                            .tooManyKeys,
                            "the IAM user of profile \"\(profile)\" already has two access keys (IAM's limit), so no new one can "
                                + "be made; delete the one stscache does not use (\(other)) and run 'stscache keys rotate \(profile)' again")
                    }
                    record.rotation = .creating(startedAt: context.now(), existingKeyIds: existing.map(\.accessKeyId))
                    try save(record)
                    let created = try iamClient(endpoints, attempts: 1).createAccessKey(
                        userName: iam.userName, credentials: iam.credentials, endpoint: endpoints.iam)
                    try Self.checkShape(created, from: "IAM CreateAccessKey")
                    record.rotation = .created(accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey)
                    try save(record)
                case .creating(_, let existingKeyIds)?:
                    // Interrupted around CreateAccessKey, before its answer was recorded. A key
                    // IAM has now that was not there before may be the one that call made (its
                    // secret lost with the answer), or one a person made since: nothing tells
                    // them apart, so it is never deleted here, only named.
                    let iam = try iam(current)
                    let keys = try iamClient(endpoints).listAccessKeys(userName: iam.userName, credentials: iam.credentials,
                                                                      endpoint: endpoints.iam)
                    let unrecorded = keys.map(\.accessKeyId).filter { !existingKeyIds.contains($0) && $0 != current.accessKeyId }
                    guard unrecorded.isEmpty else {
                        throw Self.unrecordedKeys(unrecorded, profile: profile, current: current.accessKeyId)
                    }
                    // CreateAccessKey made nothing: the loop starts the rotation afresh.
                    record.rotation = nil
                    try save(record)
                    continue
                case .created(let newId, let newSecret)?:
                    let new = AWSCredentials(accessKeyId: newId, secretAccessKey: newSecret)
                    // `retiring`, whose rerun deletes the old key unchecked, is saved only after this.
                    try confirmNewKey(new, replacing: current, profile: profile, endpoints: endpoints)
                    record.rotation = .retiring(oldAccessKeyId: record.accessKeyId)
                    record.accessKeyId = newId
                    record.secretAccessKey = newSecret
                    record.rotatedAt = context.now()
                    try save(record)
                case .retiring(let oldId)?:
                    try deleteKey(oldId, signedWith: try iam(current), endpoints: endpoints)
                    record.rotation = nil
                    try save(record)
                    return Rotation(oldAccessKeyId: oldId, newAccessKeyId: record.accessKeyId, resumed: resumed ?? false)
                }
            }
        }
    }

    /// Why a rerun of a rotation interrupted around CreateAccessKey stops: keys it did not record.
    static func unrecordedKeys(_ ids: [String], profile: String, current: String) -> KeysError {
        let list = ids.joined(separator: ", ")
        let one = ids.count == 1
        return KeysError(
            .unrecordedKey,
            "the IAM user of profile \"\(profile)\" has \(one ? "a key" : "keys") (\(list)) that stscache has no record of "
                + "making: the interrupted rotation's CreateAccessKey may have made \(one ? "it" : "one") (IAM's answer, "
                + "with the secret, was lost), or someone made \(one ? "it" : "them") since. stscache deletes only keys it "
                + "recorded, so \(one ? "it was" : "they were") left alone and no new key can be made beside \(current) "
                + "(IAM allows two). If you did not make \(list), delete \(one ? "it" : "them") (IAM console, or 'aws iam "
                + "delete-access-key --user-name USER --access-key-id ID') and run 'stscache keys rotate \(profile)' again")
    }

    /// DeleteAccessKey; a key already gone is what we wanted.
    private func deleteKey(_ accessKeyId: String, signedWith signer: IAMSigner, endpoints: Endpoints) throws {
        do {
            try iamClient(endpoints).deleteAccessKey(accessKeyId, userName: signer.userName, credentials: signer.credentials,
                                                     endpoint: endpoints.iam)
        } catch let error as STSError where error.serviceCode == "NoSuchEntity" {
            return
        }
    }

    /// Credentials for IAM calls, and the user to name in them when IAM cannot tell it.
    struct IAMSigner {
        var credentials: AWSCredentials
        var userName: String?
    }

    /// The stored key itself; or, when the profile has `mfa_serial` (a policy that denies IAM
    /// calls without MFA), an MFA-authenticated GetSessionToken session of that key, asked for
    /// once per run (the code from `mfa_process`, `STSCACHE_MFA_TOKEN` or the terminal), with
    /// the user named explicitly: IAM calls signed with a session's temporary key name the user.
    func iamSigner(for current: AWSCredentials, profile: String, endpoints: Endpoints) throws -> IAMSigner {
        guard let found = files.profile(named: profile), let serial = found.string("mfa_serial") else {
            return IAMSigner(credentials: current, userName: nil)
        }
        let identity = try stsClient(endpoints).getCallerIdentity(credentials: current, endpoint: endpoints.sts)
        guard identity.arn.contains(":user/"), let userName = identity.arn.split(separator: "/").last.map(String.init) else {
            throw KeysError(.rotationFailed, "the key of \"\(profile)\" belongs to \(identity.arn), not to an IAM user; only an "
                + "IAM user's access keys can be rotated")
        }
        let code = try MFACodeSource(environment: context.environment)
            .code(serial: serial, mfaProcess: found.string("mfa_process"), purpose: "rotating the key of profile \"\(profile)\"")
        let session = try stsClient(endpoints).getSessionToken(
            GetSessionTokenRequest(durationSeconds: 900, serialNumber: serial, tokenCode: code), credentials: current,
            endpoint: endpoints.sts)
        return IAMSigner(credentials: session.credentials, userName: userName)
    }

    /// The new key works and belongs to the old key's IAM user, or this throws: the old key is
    /// deleted only after it. The user is the old key's GetCallerIdentity; when the old key does
    /// not answer (deleted or deactivated meanwhile, STS unreachable), IAM listing the old key
    /// among the new key's user's keys; never neither.
    private func confirmNewKey(_ new: AWSCredentials, replacing current: AWSCredentials, profile: String,
                               endpoints: Endpoints) throws {
        // The old key first: the e2e tests stop a rotation at the new key's first call.
        let expected = Result { try stsClient(endpoints).getCallerIdentity(credentials: current, endpoint: endpoints.sts).arn }
        let identity = try waitUntilWorking(new, profile: profile, endpoints: endpoints)
        switch expected {
        case .success(let arn):
            guard identity.arn == arn else {
                throw KeysError(
                    .rotationFailed,
                    "the new key for \"\(profile)\" belongs to \(identity.arn), not to \(arn); nothing was deleted")
            }
        case .failure(let error):
            let listed = try? iamClient(endpoints).listAccessKeys(credentials: new, endpoint: endpoints.iam)
            guard let listed, listed.contains(where: { $0.accessKeyId == current.accessKeyId }) else {
                throw KeysError(
                    .rotationFailed,
                    "could not confirm that the new key \(new.accessKeyId) for \"\(profile)\" belongs to the IAM user of the "
                        + "old key \(current.accessKeyId): the old key's GetCallerIdentity failed (\(describe(error))) and IAM "
                        + "did not list it among the keys of \(identity.arn). Nothing was deleted and the old key stays the "
                        + "stored one: run 'stscache keys rotate \(profile)' again once the old key answers. If it no longer "
                        + "exists in IAM, delete \(new.accessKeyId) too and add a working key with 'stscache keys add "
                        + "\(profile) --replace'")
            }
        }
    }

    /// A few signed GetCallerIdentity calls with the new key, until one succeeds; bounded
    /// (`newKeyWait`): IAM takes a moment to make a new key work everywhere.
    private func waitUntilWorking(_ new: AWSCredentials, profile: String, endpoints: Endpoints) throws -> CallerIdentity {
        var lastError: (any Error)?
        for attempt in 1...newKeyWait.attempts {
            do {
                return try stsClient(endpoints).getCallerIdentity(credentials: new, endpoint: endpoints.sts)
            } catch {
                lastError = error
                if attempt < newKeyWait.attempts { context.sleep(newKeyWait.interval) }
            }
        }
        throw KeysError(
            .rotationFailed,
            "the new key \(new.accessKeyId) for \"\(profile)\" does not work yet (\(lastError.map(describe) ?? "no answer")); it is "
                + "recorded, and the old key is kept: run 'stscache keys rotate \(profile)' again in a minute to finish")
    }

    // MARK: Checks and endpoints

    /// A key the user can pass: 1 to 256 bytes of printable text.
    static func checkProfileName(_ profile: String) throws {
        guard AccessKeyStore.isValidProfileName(profile) else {
            throw KeysError(.invalidInput, "a profile name must be 1 to 256 bytes of printable text")
        }
    }

    /// The shape AWS issues keys in; the message names the field and the rule, never the value.
    static func checkShape(_ keys: AWSCredentials, from origin: String = "the keys entered") throws {
        if let violation = IssuedCredentialsFormat.violation(in: keys) {
            throw KeysError(.invalidInput, "\(origin): \(violation) (an access key id is 16 or more of A-Z and 0-9; a secret "
                + "access key is printable text without spaces or quotes)")
        }
    }

    /// The profile's keys in the config files, if any (the credentials file's, else the config
    /// file's, as botocore reads them).
    func plaintextKeys(of profile: String) -> String? {
        guard let found = files.profile(named: profile) else { return nil }
        return found.string("aws_access_key_id") ?? found.string("aws_secret_access_key")
    }

    package struct Endpoints {
        var sts: STSEndpoint
        var iam: STSEndpoint
        var caBundle: String?
    }

    /// Where the profile's STS and IAM calls go: its `region` (then `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, us-east-1); STS at `AWS_ENDPOINT_URL_STS` > `AWS_ENDPOINT_URL` >
    /// its `endpoint_url`; IAM at `AWS_ENDPOINT_URL_IAM` > `AWS_ENDPOINT_URL` > its
    /// `endpoint_url`, else IAM's global endpoint. Plain http is refused off this machine.
    package func endpoints(profile: String) throws -> Endpoints {
        let found = files.profile(named: profile)
        func env(_ name: String) -> String? {
            guard let value = context.environment[name], !value.isEmpty else { return nil }
            return value
        }
        let ignore = ProfileResolver.ignoresConfiguredEndpoints(environment: context.environment, profile: found)
        let region = ProfileResolver.region(of: found, environment: context.environment)
        let shared = ignore ? nil : (env("AWS_ENDPOINT_URL") ?? found?.string("endpoint_url"))
        let sts = try STSEndpoint.resolve(
            region: region, endpointURL: ignore ? nil : (env("AWS_ENDPOINT_URL_STS") ?? shared),
            stsRegionalEndpoints: try ProfileResolver.stsRegionalEndpoints(of: found, environment: context.environment))
        let iam = try IAMService.endpoint(region: region, explicitURL: ignore ? nil : (env("AWS_ENDPOINT_URL_IAM") ?? shared))
        try sts.requireTransportSecurity(environment: context.environment)
        try iam.requireTransportSecurity(environment: context.environment)
        return Endpoints(sts: sts, iam: iam, caBundle: env("AWS_CA_BUNDLE") ?? found?.string("ca_bundle"))
    }

    /// One signed GetCallerIdentity: the keys work, and whose they are.
    package func callerIdentity(_ keys: AWSCredentials, profile: String) throws -> CallerIdentity {
        let endpoints = try self.endpoints(profile: profile)
        do {
            return try stsClient(endpoints).getCallerIdentity(credentials: keys, endpoint: endpoints.sts)
        } catch let error as STSError where error.httpStatus == 403 {
            throw KeysError(
                .rejected,
                "STS refused the keys for \"\(profile)\" (\(error.message)); check that the access key id and secret are "
                    + "right and the key is active; nothing was stored")
        }
    }

    private func stsClient(_ endpoints: Endpoints, attempts: Int? = nil) -> STSClient {
        client(for: endpoints.sts, caBundle: endpoints.caBundle, attempts: attempts)
    }

    private func iamClient(_ endpoints: Endpoints, attempts: Int? = nil) -> STSClient {
        client(for: endpoints.iam, caBundle: endpoints.caBundle, attempts: attempts)
    }

    private func client(for endpoint: STSEndpoint, caBundle: String?, attempts: Int?) -> STSClient {
        var retry = settings.retryPolicy
        if let attempts { retry.maxAttempts = attempts }
        var client = STSClient(
            transport: context.makeTransport(),
            options: STSClient.Options(http: settings.httpOptions(for: endpoint.url, caBundle: caBundle), retry: retry),
            clock: context.now, sign: SigV4.sign, sleep: context.sleep)
        client.onClockSkewCorrected = { [output = context.output] in output.stderr(NetworkSettings.clockSkewWarning($0)) }
        return client
    }
}
