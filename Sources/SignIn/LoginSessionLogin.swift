#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSConfig
import OpenSSLCrypto
import SigV4
import StscacheSupport
import Credentials

/// `stscache login --profile P` for an `aws login` profile: one sign-in, start to end. The
/// session file is written only once everything checked out (the state, the answer, the id
/// token's subject, the profile's identity); the profile is changed after the file.
package struct LoginSessionLogin {
    package var context: Context
    package var settings: NetworkSettings
    /// How long the redirect (or the pasted code) is waited for: the CLI's 10 minutes.
    package static let timeout: Double = IdentityCenterLogin.redirectTimeout

    package init(context: Context) throws(UsageError) {
        self.context = context
        settings = try NetworkSettings(environment: context.environment)
    }

    /// Signs in; `show` gets the URL to open, `pastedCode` reads what the user pastes (`--remote`).
    package func run(_ target: LoginSessionTarget, device: LoginSessionSignIn.Device, show: (String) -> Void,
                     pastedCode: () throws(LoginFlowError) -> String) throws -> LoginSessionSignIn.Identity {
        if context.nonInteractive {
            throw LoginFlowError(.noPerson, "STSCACHE_NONINTERACTIVE=1: a login needs a person; run stscache login from a "
                + "terminal.")
        }
        let files = LoginSessionFiles(environment: context.environment, homeDirectory: context.homeDirectory)
        let authorization = try LoginSessionSignIn.Authorization.generate()
        let code: String
        let redirect: String
        switch device {
        case .same:
            // Listening before the URL is shown, so the browser cannot come back to a closed port.
            let wait = try RedirectWait(flow: authorization.redirectCheck, deadline: monotonicSeconds() + Self.timeout)
            redirect = LoginSessionSignIn.redirect(.same, base: target.base, port: wait.port)
            show(authorization.url(base: target.base, device: .same, redirect: redirect))
            switch wait.wait() {
            case nil:
                throw LoginFlowError(.notCompleted, "no browser came back to the sign-in within \(Int(Self.timeout / 60)) "
                    + "minutes; run stscache login again (with --remote to sign in on another device).")
            case .refused(let reason)?:
                throw LoginFlowError(.notCompleted, "the sign-in was not completed (\(reason)); run stscache login again.")
            case .code(let received)?:
                code = received
            }
        case .cross:
            redirect = LoginSessionSignIn.redirect(.cross, base: target.base, port: 0)
            show(authorization.url(base: target.base, device: .cross, redirect: redirect))
            code = try authorization.pastedCode(try pastedCode())
        }
        let (session, identity) = try exchange(code: code, verifier: authorization.verifier, device: device,
                                               redirect: redirect, target: target)
        if let existing = target.existingSession, existing != identity.arn {
            throw LoginFlowError(.profileUnusable, "you signed in as \(identity.arn), but profile \"\(target.profile)\" has "
                + "login_session = \(existing); nothing was saved. Sign in as that identity, or use another profile name "
                + "(stscache login --profile NEW) for this one.")
        }
        do {
            try files.writeNew(session, session: identity.arn)
        } catch {
            throw LoginFlowError(.refused, "signed in as \(identity.arn), but the session could not be saved: "
                + describe(error))
        }
        var values = [(key: "login_session", value: identity.arn)]
        if let region = target.regionToSave { values.append((key: "region", value: region)) }
        try LoginSessionProfileEdit.update(configPath: context.configFilePath, profile: target.profile, values: values)
        return identity
    }

    /// `CreateOAuth2Token` with the code (grant authorization_code, the PKCE verifier, the same
    /// redirect URI) and a DPoP proof of a P-256 key made now for this login; the answer and the
    /// id token's subject checked; the session file's contents, as `aws login` writes them.
    private func exchange(code: String, verifier: String, device: LoginSessionSignIn.Device, redirect: String,
                          target: LoginSessionTarget) throws -> (LoginSessionFile, LoginSessionSignIn.Identity) {
        let key = try P256SigningKey.generate()
        let base: String
        do {
            base = try SignInTokenClient.endpoint(region: target.region, configured: target.configuredEndpoint)
        } catch {
            throw LoginFlowError(.profileUnusable, describe(error))
        }
        let client = SignInTokenClient(
            transport: context.makeTransport(), baseURL: base,
            http: settings.httpOptions(for: base, caBundle: target.caBundle), retry: settings.retryPolicy,
            clock: context.now, sleep: context.sleep)
        let clientId = LoginSessionSignIn.clientId(device)
        let output: SignInTokenClient.TokenOutput
        do {
            output = try client.exchangeAuthorizationCode(clientId: clientId, code: code, codeVerifier: verifier,
                                                          redirectURI: redirect, key: key)
        } catch let refused as SignInTokenClient.Refused {
            throw Self.failure(refused)
        }
        guard let idToken = output.idToken else {
            throw LoginFlowError(.refused, "AWS Sign-In at \(base) answered without an id token, so the signed-in identity "
                + "is unknown; nothing was saved. Check AWS_ENDPOINT_URL_SIGNIN.")
        }
        let identity = try LoginSessionSignIn.identity(idToken: idToken)
        var pem = try key.sec1PEM()
        defer { wipe(&pem) }
        let credentials = AWSCredentials(
            accessKeyId: output.credentials.accessKeyId, secretAccessKey: output.credentials.secretAccessKey,
            sessionToken: output.credentials.sessionToken,
            expiration: context.now().addingTimeInterval(Double(output.expiresIn)))
        let session = LoginSessionFile(
            credentials: credentials, accountId: identity.accountId, tokenType: output.tokenType ?? "aws_sigv4",
            clientId: clientId, refreshToken: output.refreshToken, idToken: idToken,
            dpopKey: String(decoding: pem, as: UTF8.self), signInRegion: target.region)
        return (session, identity)
    }

    /// What Sign-In's refusal of the code means for the user (the CLI's `AUTHCODE_EXPIRED` and
    /// `INSUFFICIENT_PERMISSIONS`).
    static func failure(_ refused: SignInTokenClient.Refused) -> LoginFlowError {
        if refused.error == "AUTHCODE_EXPIRED" {
            return LoginFlowError(.refused, "the sign-in's authorization code expired before it was used (\(refused.summary)); "
                + "run stscache login again.")
        }
        if refused.lacksPermission {
            return LoginFlowError(.refused, "AWS Sign-In refused the sign-in (\(refused.summary)): the signed-in identity may "
                + "not use aws login; attach the managed policy SignInLocalDevelopmentAccess (or allow "
                + "signin:AuthorizeOAuth2Access and signin:CreateOAuth2Token) to it, then sign in again.")
        }
        return LoginFlowError(.refused, "AWS Sign-In refused the sign-in's code (\(refused.summary)); run stscache login "
            + "again.")
    }
}
