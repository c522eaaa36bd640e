import AWSConfig
import CredentialCache
import Foundation
import SigV4
import Testing
import Transport
@testable import Credentials
import TestSupport
@testable import Setup

/// One IAM user behind a fake STS + IAM endpoint: which keys exist, and who signed each call
/// (the key id in the `Authorization` header). A deleted or unknown key is refused, as AWS does.
private final class FakeIAMUser: @unchecked Sendable {
    let lock = NSLock()
    var keys: [String: String]
    /// Keys that exist but do not work yet (IAM's eventual consistency), by remaining refusals.
    var notYetWorking: [String: Int] = [:]
    var created = 0
    var calls: [(action: String, signer: String, target: String?)] = []
    /// IAM calls only from an MFA session (GetSessionToken with a code), naming the user.
    var requireMFA = false
    var sessions: Set<String> = []
    /// Keys whose GetCallerIdentity is refused (deactivated meanwhile, say); other calls work.
    var identityRefused: Set<String> = []
    /// Another IAM user's keys, mallory's: the calls they sign see only her keys.
    var strangers: [String: String] = [:]

    init(keys: [String: String]) { self.keys = keys }

    func route(_ request: HTTPRequest) -> Result<HTTPResponse, TransportError>? {
        lock.withLock {
            let form = Self.form(request)
            guard let action = form["Action"] else { return nil }
            let authorization = request.headers.first { $0.name == "Authorization" }?.value ?? ""
            let signer = authorization.components(separatedBy: "Credential=").last?.components(separatedBy: "/").first ?? ""
            calls.append((action, signer, form["AccessKeyId"]))
            if sessions.contains(signer) {
                guard action != "GetSessionToken", form["UserName"] == "alice" else {
                    return STSAnswers.error(400, code: "ValidationError", message: "name the user")
                }
            } else if requireMFA, action.hasSuffix("AccessKey") || action == "ListAccessKeys" {
                return STSAnswers.error(403, code: "AccessDenied", message: "MFA required")
            }
            if action == "GetSessionToken" {
                guard keys[signer] != nil, form["SerialNumber"] != nil, form["TokenCode"] == "123456" else {
                    return STSAnswers.error(403, code: "AccessDenied", message: "MultiFactorAuthentication failed")
                }
                sessions.insert("ASIASESSION0000001")
                return STSAnswers.ok(STSAnswers.credentialsXML(action: "GetSessionToken", keyId: "ASIASESSION0000001",
                                                               expiration: SourcesFixture.now + 900))
            }
            guard keys[signer] != nil || sessions.contains(signer) || strangers[signer] != nil else {
                return STSAnswers.error(403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid")
            }
            if let left = notYetWorking[signer], left > 0, action == "GetCallerIdentity" {
                notYetWorking[signer] = left - 1
                return STSAnswers.error(403, code: "InvalidClientTokenId", message: "not yet")
            }
            if identityRefused.contains(signer), action == "GetCallerIdentity" {
                return STSAnswers.error(403, code: "InvalidClientTokenId", message: "refused")
            }
            let stranger = strangers[signer] != nil
            let user = stranger ? "arn:aws:iam::123456789012:user/mallory" : "arn:aws:iam::123456789012:user/alice"
            switch action {
            case "GetCallerIdentity":
                return STSAnswers.ok("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>\(user)</Arn><UserId>AIDA1</UserId>"
                    + "<Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>")
            case "ListAccessKeys":
                let members = (stranger ? strangers : keys).keys.sorted().map {
                    "<member><UserName>\(stranger ? "mallory" : "alice")</UserName><AccessKeyId>\($0)</AccessKeyId>"
                        + "<Status>Active</Status></member>"
                }.joined()
                return STSAnswers.ok("<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata>\(members)</AccessKeyMetadata>"
                    + "<IsTruncated>false</IsTruncated></ListAccessKeysResult></ListAccessKeysResponse>")
            case "CreateAccessKey":
                guard keys.count < 2 else { return STSAnswers.error(409, code: "LimitExceeded", message: "quota") }
                created += 1
                let id = "AKIANEWKEY00000000\(created)"
                keys[id] = "new/secret+\(created)"
                return STSAnswers.ok("<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>alice</UserName>"
                    + "<AccessKeyId>\(id)</AccessKeyId><Status>Active</Status><SecretAccessKey>new/secret+\(created)"
                    + "</SecretAccessKey></AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>")
            case "DeleteAccessKey":
                // Without UserName, IAM deletes only among the signer's own user's keys.
                guard let target = form["AccessKeyId"],
                      (stranger ? strangers.removeValue(forKey: target) : keys.removeValue(forKey: target)) != nil else {
                    return STSAnswers.error(404, code: "NoSuchEntity", message: "no such key")
                }
                return STSAnswers.ok("<DeleteAccessKeyResponse><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DeleteAccessKeyResponse>")
            default:
                return nil
            }
        }
    }

    var actions: [String] { lock.withLock { calls.map(\.action) } }

    static func form(_ request: HTTPRequest) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1].removingPercentEncoding ?? parts[1] }
        }
        return fields
    }
}

private let oldId = "AKIAOLDKEY000000000"
private let oldSecret = "old/secret+value"

private struct Setup {
    let fixture: SourcesFixture
    let keys: LongTermKeys
    let user: FakeIAMUser

    init(user: FakeIAMUser, rotation: RotationState? = nil, extraConfig: String = "",
         environment: [String: String] = [:]) throws {
        let fixture = try SourcesFixture(environment: environment, route: { user.route($0) })
        let config = try fixture.write("config", "[profile base]\nregion = us-east-1\nendpoint_url = https://fake.example/\n"
            + extraConfig)
        let files = try ConfigFiles.load(configPath: config, credentialsPath: fixture.path + "/none")
        var keys = LongTermKeys(context: fixture.context(), files: files, cacheKeyStore: FixedKeyStore(), settings: NetworkSettings())
        keys.newKeyWait = (attempts: 3, interval: 0)
        var encryptionKey = try keys.stored.encryptionKeyStore.loadOrCreateKey()
        try keys.stored.store.update(encryptionKey: encryptionKey) { records in
            records = [StoredAccessKey(profile: "base", accessKeyId: oldId, secretAccessKey: oldSecret,
                                       addedAt: SourcesFixture.now, rotation: rotation)]
        }
        encryptionKey = []
        (self.fixture, self.keys, self.user) = (fixture, keys, user)
    }

    func record() throws -> StoredAccessKey? { try keys.list().first }
}

@Suite("keys rotate: the state machine against a fake IAM")
struct LongTermKeysTests {
    @Test("creates, checks, stores, then deletes the old key signed with the new one")
    func rotates() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret])
        user.notYetWorking = ["AKIANEWKEY000000001": 1]  // IAM takes a moment
        let setup = try Setup(user: user)
        let rotation = try setup.keys.rotate(profile: "base")
        #expect(rotation.oldAccessKeyId == oldId && rotation.newAccessKeyId == "AKIANEWKEY000000001" && !rotation.resumed)
        #expect(user.actions == ["ListAccessKeys", "CreateAccessKey", "GetCallerIdentity", "GetCallerIdentity",
                                 "GetCallerIdentity", "DeleteAccessKey"])
        let delete = try #require(user.calls.last)
        #expect(delete.signer == "AKIANEWKEY000000001" && delete.target == oldId)
        let stored = try #require(try setup.record())
        #expect(stored.accessKeyId == "AKIANEWKEY000000001" && stored.secretAccessKey == "new/secret+1")
        #expect(stored.rotation == nil && stored.rotatedAt == SourcesFixture.now)
        #expect(Array(user.keys.keys) == ["AKIANEWKEY000000001"])
    }

    @Test("a new key that never works stays recorded, and the old key is neither replaced nor deleted")
    func newKeyNeverWorks() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret])
        user.notYetWorking = ["AKIANEWKEY000000001": 100]
        let setup = try Setup(user: user)
        #expect(throws: KeysError.self) { _ = try setup.keys.rotate(profile: "base") }
        let stored = try #require(try setup.record())
        #expect(stored.accessKeyId == oldId)
        #expect(stored.rotation == .created(accessKeyId: "AKIANEWKEY000000001", secretAccessKey: "new/secret+1"))
        #expect(!user.actions.contains("DeleteAccessKey") && user.keys[oldId] != nil)
        // Once it works, a rerun finishes without making another key.
        user.notYetWorking = [:]
        let finished = try setup.keys.rotate(profile: "base")
        #expect(finished.resumed && finished.newAccessKeyId == "AKIANEWKEY000000001" && user.created == 1)
        #expect(Array(user.keys.keys) == ["AKIANEWKEY000000001"])
    }

    @Test("with mfa_serial, IAM calls are signed with one MFA session naming the user; the new key is checked on its own")
    func mfaSession() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret])
        user.requireMFA = true
        let setup = try Setup(user: user, extraConfig: "mfa_serial = arn:aws:iam::123456789012:mfa/alice\n",
                              environment: ["STSCACHE_MFA_TOKEN": "123456"])
        let rotation = try setup.keys.rotate(profile: "base")
        #expect(Array(user.keys.keys) == [rotation.newAccessKeyId])
        #expect(user.actions.filter { $0 == "GetSessionToken" }.count == 1)
        for call in user.calls where call.action.hasSuffix("AccessKey") || call.action == "ListAccessKeys" {
            #expect(call.signer == "ASIASESSION0000001", "\(call.action) signed by \(call.signer)")
        }
        // Control: without the profile's mfa_serial the same policy refuses the rotation.
        let plain = FakeIAMUser(keys: [oldId: oldSecret])
        plain.requireMFA = true
        #expect(throws: (any Error).self) { _ = try Setup(user: plain).keys.rotate(profile: "base") }
        #expect(Array(plain.keys.keys) == [oldId])
    }

    @Test("a user with two keys already is refused before anything is created")
    func twoKeysRefused() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret, "AKIAOTHERKEY0000000": "other"])
        let setup = try Setup(user: user)
        do {
            _ = try setup.keys.rotate(profile: "base")
            Issue.record("expected too-many-keys")
        } catch let error as KeysError {
            #expect(error.code == .tooManyKeys && error.message.contains("AKIAOTHERKEY0000000"))
        }
        #expect(user.actions == ["ListAccessKeys"])
        #expect(try setup.record()?.rotation == nil)
    }

    /// Interrupted around CreateAccessKey, the run recorded no new key; since then a person made
    /// one by hand. It looks exactly like a key the lost call made, so it is never deleted.
    @Test("a key made by hand between the interruption and the rerun survives the rerun, which names it")
    func handMadeKeySurvives() throws {
        let handMade = "AKIAHANDMADE0000000"
        let user = FakeIAMUser(keys: [oldId: oldSecret, handMade: "a person's secret"])
        let creating = RotationState.creating(startedAt: SourcesFixture.now, existingKeyIds: [oldId])
        let setup = try Setup(user: user, rotation: creating)
        do {
            _ = try setup.keys.rotate(profile: "base")
            Issue.record("expected unrecorded-key")
        } catch let error as KeysError {
            #expect(error.code == .unrecordedKey && error.message.contains(handMade), "\(error.message)")
        }
        #expect(!user.actions.contains("DeleteAccessKey") && !user.actions.contains("CreateAccessKey"))
        #expect(Set(user.keys.keys) == [oldId, handMade])
        let stored = try #require(try setup.record())
        #expect(stored.accessKeyId == oldId && stored.rotation == creating, "the rotation stays unfinished")
        // Had the lost call made it, its owner deletes it (as the message says), and the rerun finishes.
        user.keys[handMade] = nil
        let rotation = try setup.keys.rotate(profile: "base")
        #expect(rotation.resumed && Array(user.keys.keys) == [rotation.newAccessKeyId])
        #expect(try setup.record()?.accessKeyId == rotation.newAccessKeyId)
    }

    @Test("a rerun after a run stopped before CreateAccessKey made anything starts the rotation again")
    func nothingCreated() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret])
        let setup = try Setup(user: user, rotation: .creating(startedAt: SourcesFixture.now, existingKeyIds: [oldId]))
        let rotation = try setup.keys.rotate(profile: "base")
        #expect(rotation.resumed && user.created == 1 && Array(user.keys.keys) == [rotation.newAccessKeyId])
    }

    /// The recorded new key answers as another user (a misdirected IAM endpoint, say) while the
    /// old key's GetCallerIdentity fails: the user is not confirmed, so nothing may be deleted.
    @Test("a failing GetCallerIdentity on the old key does not let the rerun delete anything unconfirmed")
    func unconfirmedUserDeletesNothing() throws {
        let user = FakeIAMUser(keys: [oldId: oldSecret])
        user.identityRefused = [oldId]
        user.strangers = ["AKIAMALLORY00000001": "mallory/secret"]
        let created = RotationState.created(accessKeyId: "AKIAMALLORY00000001", secretAccessKey: "mallory/secret")
        let setup = try Setup(user: user, rotation: created)
        do {
            _ = try setup.keys.rotate(profile: "base")
            Issue.record("expected rotation-failed")
        } catch let error as KeysError {
            #expect(error.code == .rotationFailed && error.message.contains("could not confirm"), "\(error.message)")
        }
        #expect(!user.actions.contains("DeleteAccessKey"))
        #expect(user.keys[oldId] != nil && user.strangers["AKIAMALLORY00000001"] != nil)
        let stored = try #require(try setup.record())
        #expect(stored.accessKeyId == oldId && stored.rotation == created)
    }

    @Test("when the old key's GetCallerIdentity fails, IAM listing it among the new key's user's keys confirms the user")
    func userConfirmedThroughIAM() throws {
        let newId = "AKIANEWKEY000000001"
        let user = FakeIAMUser(keys: [oldId: oldSecret, newId: "new/secret+1"])
        user.identityRefused = [oldId]
        let setup = try Setup(user: user, rotation: .created(accessKeyId: newId, secretAccessKey: "new/secret+1"))
        let rotation = try setup.keys.rotate(profile: "base")
        #expect(rotation.resumed && Array(user.keys.keys) == [newId])
        #expect(user.calls.first { $0.action == "ListAccessKeys" }?.signer == newId)
    }

    @Test("add checks the keys with STS first and stores nothing STS refuses; keys in the files are refused")
    func addChecksFirst() throws {
        let user = FakeIAMUser(keys: [:])
        let fixture = try SourcesFixture(route: { user.route($0) })
        let config = try fixture.write("config", "[profile base]\nregion = us-east-1\nendpoint_url = https://fake.example/\n"
            + "[profile plain]\naws_access_key_id = AKIAPLAIN0000000000\naws_secret_access_key = x\n")
        let files = try ConfigFiles.load(configPath: config, credentialsPath: fixture.path + "/none")
        let keys = LongTermKeys(context: fixture.context(), files: files, cacheKeyStore: FixedKeyStore(), settings: NetworkSettings())
        let wrong = AWSCredentials(accessKeyId: oldId, secretAccessKey: oldSecret)
        #expect(throws: KeysError.self) { try keys.add(profile: "base", keys: wrong, replace: false) }
        #expect(try keys.list().isEmpty)
        #expect(throws: KeysError.self) { try keys.add(profile: "plain", keys: wrong, replace: false) }
        user.keys[oldId] = oldSecret
        try keys.add(profile: "base", keys: wrong, replace: false)
        #expect(try keys.list().map(\.accessKeyId) == [oldId])
        #expect(throws: KeysError.self) { try keys.add(profile: "base", keys: wrong, replace: false) }
        try keys.add(profile: "base", keys: wrong, replace: true)
    }
}

@Suite("keys: the store's lock wait is the parsed STSCACHE_LOCK_TIMEOUT")
struct LongTermKeysSettingsTests {
    @Test("LongTermKeys hands its settings' lock timeout to the store, 0 included")
    func lockTimeout() throws {
        let fixture = try SourcesFixture(route: { _ in nil })
        let files = try loadFiles(config: "[profile base]\n")
        for (text, expected) in [("0", 0.0), ("3", 3.0), ("", 120.0)] {
            let settings = try NetworkSettings(environment: ["STSCACHE_LOCK_TIMEOUT": text])
            let keys = LongTermKeys(context: fixture.context(), files: files, cacheKeyStore: FixedKeyStore(), settings: settings)
            #expect(keys.stored.store.lockTimeout == expected)
        }
    }
}

@Suite("keys: STS and IAM endpoints by the one configured-endpoint rule")
struct LongTermKeysEndpointTests {
    @Test("a [services] section's sts and iam endpoint_url, the profile's ca_bundle; AWS_ENDPOINT_URL_IAM wins for IAM")
    func servicesSection() throws {
        let fixture = try SourcesFixture(route: { _ in nil })
        let config = try fixture.write("config", """
            [profile svc]
            region = eu-west-1
            services = corp
            ca_bundle = /etc/corp/ca.pem
            [services corp]
            sts =
              endpoint_url = https://sts.corp.example
            iam =
              endpoint_url = https://iam.corp.example
            """)
        let files = try ConfigFiles.load(configPath: config, credentialsPath: fixture.path + "/none")
        let keys = LongTermKeys(context: fixture.context(), files: files, cacheKeyStore: FixedKeyStore(), settings: NetworkSettings())
        let endpoints = try keys.endpoints(profile: "svc")
        #expect(endpoints.sts.url.hasPrefix("https://sts.corp.example"))
        #expect(endpoints.iam.url.hasPrefix("https://iam.corp.example"))
        #expect(endpoints.caBundle == "/etc/corp/ca.pem")

        var context = fixture.context()
        context.environment["AWS_ENDPOINT_URL_IAM"] = "https://iam.env.example"
        let overridden = try LongTermKeys(context: context, files: files, cacheKeyStore: FixedKeyStore(),
                                          settings: NetworkSettings()).endpoints(profile: "svc")
        #expect(overridden.iam.url.hasPrefix("https://iam.env.example"))
        #expect(overridden.sts.url.hasPrefix("https://sts.corp.example"))
    }
}
