import Foundation
import SigV4
@testable import STS
import StscacheSupport
import Testing
import Transport

@Suite("GetSessionToken and AssumeRoleWithWebIdentity")
struct SessionCallsTests {
    let clock = ManualClock(Fixtures.now)
    let signer = RecordingSigner()

    func client(_ transport: ScriptedTransport) -> STSClient {
        STSClient(transport: transport, options: .init(retry: RetryPolicy(maxAttempts: 2)),
                  clock: clock.clock, sign: signer.function, sleep: clock.sleep, jitter: { 0 })
    }

    static let getSessionTokenResponse = """
        <GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <GetSessionTokenResult>
            <Credentials>
              <SessionToken>MFA-SESSION-TOKEN</SessionToken>
              <SecretAccessKey>mfa-session-secret</SecretAccessKey>
              <Expiration>2019-11-10T00:34:41Z</Expiration>
              <AccessKeyId>ASIAMFASESSION</AccessKeyId>
            </Credentials>
          </GetSessionTokenResult>
          <ResponseMetadata><RequestId>58c5dbae-abef-11e0-8cfe-09039844ac7d</RequestId></ResponseMetadata>
        </GetSessionTokenResponse>
        """

    static let webIdentityResponse = """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult>
            <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
            <AssumedRoleUser>
              <Arn>arn:aws:sts::123456789012:assumed-role/Pod/pod</Arn>
              <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:pod</AssumedRoleId>
            </AssumedRoleUser>
            <Credentials>
              <SessionToken>WEB-SESSION-TOKEN</SessionToken>
              <SecretAccessKey>web-session-secret</SecretAccessKey>
              <Expiration>2019-11-09T13:34:41Z</Expiration>
              <AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>
            </Credentials>
          </AssumeRoleWithWebIdentityResult>
        </AssumeRoleWithWebIdentityResponse>
        """

    @Test("GetSessionToken sends the MFA device and code, signed, and decodes the session")
    func getSessionToken() throws {
        let transport = ScriptedTransport([Fixtures.ok(Self.getSessionTokenResponse)])
        let request = GetSessionTokenRequest(
            durationSeconds: 43200, serialNumber: "arn:aws:iam::123456789012:mfa/alice", tokenCode: "123456")
        let result = try client(transport).getSessionToken(
            request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        #expect(result.credentials.accessKeyId == "ASIAMFASESSION")
        #expect(result.credentials.sessionToken == "MFA-SESSION-TOKEN")
        #expect(result.expiration == Date(timeIntervalSince1970: 1_573_346_081))
        #expect(result.assumedRoleUser == nil)
        let sent = try #require(transport.requests.first)
        #expect(String(decoding: sent.body, as: UTF8.self) ==
            "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=43200"
            + "&SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Falice&TokenCode=123456")
        #expect(signer.calls.count == 1)
        #expect(signer.calls.first?.credentials == Fixtures.sourceCredentials)
        #expect(!request.description.contains("123456\""))
        #expect(request.description.contains("<redacted>"))
    }

    @Test("AssumeRoleWithWebIdentity goes unsigned and carries the token only in the body")
    func webIdentity() throws {
        let transport = ScriptedTransport([Fixtures.ok(Self.webIdentityResponse)])
        let request = AssumeRoleWithWebIdentityRequest(
            roleArn: "arn:aws:iam::123456789012:role/Pod", roleSessionName: "pod", webIdentityToken: "eyJ.token.sig")
        let result = try client(transport).assumeRoleWithWebIdentity(request, endpoint: Fixtures.endpoint)
        #expect(result.credentials.accessKeyId == "ASIAWEBIDENTITY")
        #expect(result.assumedRoleUser?.arn == "arn:aws:sts::123456789012:assumed-role/Pod/pod")
        #expect(signer.calls.isEmpty)
        let sent = try #require(transport.requests.first)
        #expect(sent.headers.map(\.name) == ["Content-Type"])
        #expect(String(decoding: sent.body, as: UTF8.self) ==
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FPod"
            + "&RoleSessionName=pod&WebIdentityToken=eyJ.token.sig")
        #expect(!request.description.contains("eyJ"))
    }

    @Test("a rejected web identity token is a service error naming STS's code, not retried")
    func webIdentityRejected() {
        let transport = ScriptedTransport([
            Fixtures.stsError(400, code: "InvalidIdentityToken", message: "Couldn't retrieve verification key from your identity provider"),
        ])
        let request = AssumeRoleWithWebIdentityRequest(roleArn: "arn:aws:iam::1:role/Pod", roleSessionName: "pod", webIdentityToken: "t")
        let error = #expect(throws: STSError.self) {
            try client(transport).assumeRoleWithWebIdentity(request, endpoint: Fixtures.endpoint)
        }
        #expect(error?.serviceCode == "InvalidIdentityToken")
        #expect(error?.message.contains("AssumeRoleWithWebIdentity") == true)
        #expect(transport.requests.count == 1)
    }

    @Test("RFC 3339 parsing is exposed for the other sources")
    func timestamps() {
        #expect(Timestamps.parseRFC3339("2019-11-09T13:34:41Z") == Date(timeIntervalSince1970: 1_573_306_481))
        #expect(Timestamps.parseRFC3339("2019-11-09 13:34:41") == nil)
    }
}
