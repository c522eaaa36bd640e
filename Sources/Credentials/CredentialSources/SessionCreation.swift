#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import CredentialCache
import SigV4
import STS
import Transport
import StscacheSupport

/// What the broker needs for sources beyond keys; tests replace the terminal.
package struct SourceOptions {
    package var openTerminal: () -> (any PromptTerminal)? = { ControllingTerminal.openIfPresent() }
    /// MFA codes sent by this run (STS accepts each once).
    package var ledger = MFACodeLedger()
}

extension CredentialBroker {
    /// The one STS call that creates `role`'s session: AssumeRoleWithWebIdentity for a web
    /// identity role, otherwise AssumeRole with the source's credentials. Runs under the role's
    /// entry lock, so an MFA prompt on the way happens once for every process waiting.
    ///
    /// What STS sends is checked here, before the broker caches or prints it.
    package func createSession(for role: RoleProfile) throws -> AWSCredentials {
        // The portal's role credentials, checked where they arrive (IdentityCenterService).
        if case .identityCenter(let settings) = role.source { return try identityCenterCredentials(for: settings) }
        let issued: AWSCredentials
        let action: String
        if case .webIdentity(let tokenFile) = role.source {
            issued = try assumeRoleWithWebIdentity(role, tokenFile: tokenFile)
            action = "AssumeRoleWithWebIdentity"
        } else {
            let source = try sourceCredentials(for: role)
            issued = try assumeRole(role, with: source)
            action = "AssumeRole"
        }
        let endpoint = try stsEndpoint(for: role).url
        return try issued.checkedArrival(from: .sts(action: action, subject: role.roleArn, endpoint: endpoint))
    }

    /// The credentials that sign `role`'s AssumeRole: the source's, or the MFA session made from them.
    ///
    /// Every source that arrives from outside names its issuer, and is checked before use.
    package func sourceCredentials(for role: RoleProfile) throws -> AWSCredentials {
        let arrived: AWSCredentials
        // nil: not from outside. The user's own keys are theirs to get right; a source role's
        // session was checked when STS issued it (createSession).
        let issuer: CredentialIssuer?
        switch role.source {
        case .staticKeys(let profile, let keys):
            // The same profile in stscache's store too: refuse rather than pick one copy.
            try StoredKeys(context: context, cacheKeyStore: keyStore, lockTimeout: self.settings.get().lockTimeout)
                .refuseDuplicate(profile: profile)
            arrived = AWSCredentials(accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey,
                                     sessionToken: keys.sessionToken)
            issuer = nil
        case .environment(let keys):
            arrived = AWSCredentials(accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey,
                                     sessionToken: keys.sessionToken)
            issuer = nil
        case .storedKeys(let profile):
            // Read only here, when a session must be made: never on a cache hit.
            arrived = try StoredKeys(context: context, cacheKeyStore: keyStore, lockTimeout: self.settings.get().lockTimeout)
                .credentials(for: profile, roleProfile: role.name)
            issuer = nil
        case .role(let sourceRole):
            // Each hop is cached on its own: two roles reached through one jump role share it.
            arrived = try credentials(for: sourceRole, forceRefresh: false)
            issuer = nil
        case .ec2InstanceMetadata:
            arrived = try InstanceMetadataSource(transport: context.makeTransport(), environment: context.environment)
                .credentials()
            issuer = .instanceMetadata
        case .ecsContainer:
            arrived = try ContainerCredentialsSource(transport: context.makeTransport(), environment: context.environment,
                                                     sleep: context.sleep).credentials()
            issuer = .containerEndpoint
        case .credentialProcess(let profile, let command):
            var process = ProcessCredentialSource()
            process.timeout = try self.settings.get().processTimeout
            arrived = try process.credentials(command: command, profile: profile, roleProfile: role.name,
                                              environment: context.environment, now: context.now())
            issuer = .credentialProcess(profile: profile)
        case .webIdentity, .identityCenter, .loginSession:
            // A web identity role (or an Identity Center profile) has no signing source; createSession handles it.
            preconditionFailure("a web identity role is assumed without source credentials")
        }
        let base = try issuer.map { issuer throws(SourceError) in try arrived.checkedArrival(from: issuer) } ?? arrived
        guard let settings = role.mfaSession else { return base }
        return try mfaSessionCredentials(for: role, settings: settings, base: base)
    }

    // MARK: AssumeRole

    package func assumeRole(_ role: RoleProfile, with source: AWSCredentials) throws -> AWSCredentials {
        let endpoint = try stsEndpoint(for: role)
        let client = try stsClient(for: role, endpoint: endpoint)
        let limit = RoleProfile.chainedDurationLimit
        var duration = role.durationSeconds
        if role.isChained, let requested = duration, requested > limit {
            duration = limit
            noteChainingCap(role, requested: requested)
        }
        let serial = role.assumeRoleMFASerial
        let tokenCode = try serial.map { serial throws(SourceError) in
            try mfaCodes.code(serial: serial, mfaProcess: role.mfaProcess, purpose: "profile \"\(role.name)\"")
        }
        var request = AssumeRoleRequest(
            roleArn: role.roleArn, roleSessionName: role.roleSessionName, durationSeconds: duration,
            externalId: role.externalId, serialNumber: serial, tokenCode: tokenCode)
        do {
            return try client.assumeRole(request, credentials: source, endpoint: endpoint).credentials
        } catch let error as STSError {
            if let serial, let rejection = MFACodeSource.rejection(error, serial: serial) { throw rejection }
            // A source we could not tell was a role session (a helper's or the environment's
            // temporary keys) turns out to be one: ask again within STS's chaining limit.
            if tokenCode == nil, let requested = request.durationSeconds, requested > limit,
               error.serviceCode == "ValidationError", error.message.lowercased().contains("chaining") {
                noteChainingCap(role, requested: requested)
                request.durationSeconds = limit
                return try client.assumeRole(request, credentials: source, endpoint: endpoint).credentials
            }
            throw error
        }
    }

    /// Said once per session created (this runs only when STS is called, under the entry lock).
    private func noteChainingCap(_ role: RoleProfile, requested: Int) {
        let limit = RoleProfile.chainedDurationLimit
        context.output.stderr(
            "stscache: note: profile \"\(role.name)\" asks for duration_seconds = \(requested), but its source is itself "
                + "a role session (role chaining), which STS limits to \(limit) seconds; asking for \(limit).\n")
    }

    // MARK: Web identity

    /// AssumeRoleWithWebIdentity, unsigned, with the token file read afresh (its issuer rotates it).
    package func assumeRoleWithWebIdentity(_ role: RoleProfile, tokenFile: String) throws -> AWSCredentials {
        let token: String
        switch BoundedRead.regularFile(atPath: tokenFile, limit: 1 << 20) {
        case .success(let bytes):
            token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        case .failure(let failure):
            throw SourceError(
                .webIdentityTokenUnreadable,
                "cannot read the web identity token file \(tokenFile) for profile \"\(role.name)\": \(failure.reason); "
                    + "check web_identity_token_file / AWS_WEB_IDENTITY_TOKEN_FILE.")
        }
        guard !token.isEmpty else {
            throw SourceError(
                .webIdentityTokenUnreadable,
                "the web identity token file \(tokenFile) for profile \"\(role.name)\" is empty; the identity provider "
                    + "(or the platform) should write a token there.")
        }
        let endpoint = try stsEndpoint(for: role)
        let request = AssumeRoleWithWebIdentityRequest(
            roleArn: role.roleArn, roleSessionName: role.roleSessionName, webIdentityToken: token,
            durationSeconds: role.durationSeconds)
        do {
            return try stsClient(for: role, endpoint: endpoint).assumeRoleWithWebIdentity(request, endpoint: endpoint).credentials
        } catch let error as STSError {
            let refusals = ["InvalidIdentityToken", "ExpiredTokenException", "IDPRejectedClaim", "AccessDenied"]
            guard let code = error.serviceCode, refusals.contains(code) else { throw error }
            throw SourceError(
                .webIdentityRejected,
                "\(error.message). The web identity token in \(tokenFile) was not accepted for \(role.roleArn): check "
                    + "that it is current (its issuer rewrites the file), that the role's trust policy trusts its "
                    + "issuer and audience, and that the role ARN is right.")
        }
    }

    // MARK: MFA session

    /// The MFA session's cache entry: the device, the source's name (profile or environment)
    /// and the endpoint. The source's keys are bound inside the entry (`PrincipalBinding`), so
    /// other keys never get this session and the file name says nothing about them.
    package static func mfaSessionKey(for role: RoleProfile, settings: MFASessionSettings) -> CacheKey {
        CacheKey(roleArn: settings.serialNumber, sessionName: "GetSessionToken",
                 sourceIdentity: sourceIdentity(role.source), externalId: nil, endpoint: endpointIdentity(for: role))
    }

    /// An MFA-authenticated GetSessionToken session for the source's long-term keys, cached
    /// like a role session. It is used until it is about to expire (not refreshed early: that
    /// would ask for a code sooner than needed); the roles assumed with it are refreshed as usual.
    package func mfaSessionCredentials(for role: RoleProfile, settings: MFASessionSettings, base: AWSCredentials) throws
        -> AWSCredentials
    {
        let request = SessionRequest(
            key: Self.mfaSessionKey(for: role, settings: settings), subject: "the MFA session of \(settings.serialNumber)",
            principal: (base.accessKeyId, base.secretAccessKey), policy: RefreshPolicy(window: 0))
        return try session(request) {
            let code = try mfaCodes.code(
                serial: settings.serialNumber, mfaProcess: settings.mfaProcess,
                purpose: "profile \"\(settings.serialProfile)\", for \"\(role.name)\"")
            let endpoint = try stsEndpoint(for: role)
            let request = GetSessionTokenRequest(
                durationSeconds: settings.durationSeconds, serialNumber: settings.serialNumber, tokenCode: code)
            do {
                // Checked before the pipeline stores it.
                return try stsClient(for: role, endpoint: endpoint)
                    .getSessionToken(request, credentials: base, endpoint: endpoint).credentials
                    .checkedArrival(from: .sts(action: "GetSessionToken", subject: "MFA device \(settings.serialNumber)",
                                               endpoint: endpoint.url))
            } catch let error as STSError {
                if let rejection = MFACodeSource.rejection(error, serial: settings.serialNumber) { throw rejection }
                throw error
            }
        }
    }

    // MARK: STS plumbing

    package var mfaCodes: MFACodeSource {
        MFACodeSource(environment: context.environment, openTerminal: sources.openTerminal, ledger: sources.ledger)
    }

    /// The endpoint for `role`'s STS calls; plain http is refused here unless it stays on this
    /// machine (or the user opted in), before anything is signed or sent.
    package func stsEndpoint(for role: RoleProfile) throws -> STSEndpoint {
        let endpoint = try STSEndpoint.resolve(
            region: role.region, endpointURL: role.endpointURL, stsRegionalEndpoints: role.stsRegionalEndpoints)
        try endpoint.requireTransportSecurity(environment: context.environment)
        return endpoint
    }

    package func stsClient(for role: RoleProfile, endpoint: STSEndpoint) throws(UsageError) -> STSClient {
        let settings = try self.settings.get()
        var client = STSClient(
            transport: context.makeTransport(),
            options: STSClient.Options(http: settings.httpOptions(for: endpoint.url, caBundle: role.caBundle),
                                       retry: settings.retryPolicy),
            clock: context.now,
            sign: SigV4.sign,
            sleep: context.sleep)
        // STS refused our timestamp and the request was re-signed with its time: say the clock is off.
        client.onClockSkewCorrected = { [output = context.output] in output.stderr(NetworkSettings.clockSkewWarning($0)) }
        return client
    }
}
