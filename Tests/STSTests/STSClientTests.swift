import Foundation
import SigV4
@testable import STS
import Testing
import Transport

@Suite("STSClient over a scripted transport")
struct STSClientTests {
    let clock = ManualClock(Fixtures.now)
    let signer = RecordingSigner()

    func client(_ transport: ScriptedTransport, retry: RetryPolicy = RetryPolicy(), jitter: Double = 0.5) -> STSClient {
        STSClient(
            transport: transport, options: .init(http: HTTPOptions(connectTimeout: 3, totalTimeout: 20), retry: retry),
            clock: clock.clock, sign: signer.function, sleep: clock.sleep, jitter: { jitter })
    }

    @Test("assumes a role: one signed POST, credentials and role ARN back")
    func success() throws {
        let transport = ScriptedTransport([Fixtures.ok()])
        let result = try client(transport).assumeRole(
            Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)

        #expect(result.assumedRoleArn == "arn:aws:sts::123456789012:assumed-role/Admin/alice")
        #expect(result.credentials == AWSCredentials(
            accessKeyId: "ASIAIOSFODNN7EXAMPLE", secretAccessKey: Fixtures.secretAccessKey,
            sessionToken: Fixtures.sessionToken, expiration: Date(timeIntervalSince1970: 1_573_306_481)))

        let sent = try #require(transport.requests.first)
        #expect(transport.requests.count == 1)
        #expect(sent.method == "POST")
        #expect(sent.url == "https://sts.eu-west-1.amazonaws.com/")
        #expect(String(decoding: sent.body, as: UTF8.self) ==
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin&RoleSessionName=alice&DurationSeconds=3600")
        #expect(sent.headers.map(\.name) == ["Content-Type", "X-Amz-Date", "Authorization"])
        #expect(sent.headers.last?.value == "FAKE-SIG4 region=eu-west-1 service=sts")

        let signed = try #require(signer.calls.first)
        #expect(signed.method == "POST")
        #expect(signed.url == sent.url)
        #expect(signed.body == sent.body)
        #expect(signed.headers.map(\.name) == ["Content-Type"])
        #expect(signed.credentials == Fixtures.sourceCredentials)
        #expect(signed.region == "eu-west-1")
        #expect(signed.service == "sts")
        #expect(signed.date == Fixtures.now)
        #expect(transport.options.first?.totalTimeout == 20)
        #expect(transport.options.first?.connectTimeout == 3)
    }

    @Test("does not retry a refusal, and says what STS said")
    func accessDeniedNotRetried() {
        let transport = ScriptedTransport([
            Fixtures.stsError(403, code: "AccessDenied", message: "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole"),
        ])
        let error = #expect(throws: STSError.self) {
            try client(transport).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(transport.requests.count == 1)
        #expect(clock.sleeps.isEmpty)
        #expect(error?.code == "sts.access-denied")
        #expect(error?.serviceCode == "AccessDenied")
        #expect(error?.httpStatus == 403)
        #expect(error?.requestId == "4f1c2a3b-0000-4000-8000-000000000000")
        #expect(error?.isRetryable == false)
    }

    @Test("retries throttling with full-jitter exponential backoff, then succeeds")
    func throttlingRetried() throws {
        let transport = ScriptedTransport([
            Fixtures.stsError(400, code: "Throttling", message: "Rate exceeded"),
            Fixtures.stsError(400, code: "Throttling", message: "Rate exceeded"),
            Fixtures.ok(),
        ])
        let result = try client(transport, jitter: 0.5).assumeRole(
            Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        #expect(result.credentials.accessKeyId == "ASIAIOSFODNN7EXAMPLE")
        #expect(transport.requests.count == 3)
        // base 0.5 s: ceilings 0.5 then 1.0, times the jitter 0.5.
        #expect(clock.sleeps == [0.25, 0.5])
        // Every attempt is signed afresh, with the time it is sent.
        #expect(signer.calls.map(\.date) == [Fixtures.now, Fixtures.now.addingTimeInterval(0.25), Fixtures.now.addingTimeInterval(0.75)])
    }

    @Test("gives up after maxAttempts server errors and says so")
    func serverErrorsExhaustAttempts() {
        let transport = ScriptedTransport([
            Fixtures.stsError(503, code: "ServiceUnavailable", message: "Service is unavailable"),
            Fixtures.stsError(500, code: "InternalFailure", message: "internal"),
            Fixtures.stsError(503, code: "ServiceUnavailable", message: "Service is unavailable"),
        ])
        let error = #expect(throws: STSError.self) {
            try client(transport, jitter: 0.999).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(transport.requests.count == 3)
        #expect(clock.sleeps.count == 2)
        #expect(error?.code == "sts.server-error")
        #expect(error?.message.hasSuffix("(gave up after 3 attempts)") == true)
        #expect(error?.message.contains("ServiceUnavailable: Service is unavailable") == true)
    }

    @Test("retries a refused connection but not a TLS failure")
    func transportRetries() throws {
        let transient = ScriptedTransport([.fail(.couldNotConnect("Connection refused")), Fixtures.ok()])
        _ = try client(transient).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        #expect(transient.requests.count == 2)

        let tls = ScriptedTransport([.fail(.tls("SSL certificate problem: unable to get local issuer certificate"))])
        let error = #expect(throws: STSError.self) {
            try client(tls).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(tls.requests.count == 1)
        #expect(error?.code == "sts.transport")
        #expect(error?.transportError == .tls("SSL certificate problem: unable to get local issuer certificate"))
        #expect(error?.message.contains("https://sts.eu-west-1.amazonaws.com/") == true)
        #expect(error?.message.contains("AWS_CA_BUNDLE") == true)
    }

    @Test("re-signs once with STS's clock when the signature expired")
    func clockSkewCorrected() throws {
        // Our clock is an hour behind: STS's Date header says 13:34:41 while we think 12:34:41.
        let transport = ScriptedTransport([
            Fixtures.stsError(403, code: "SignatureDoesNotMatch",
                              message: "Signature expired: 20191109T123441Z is now earlier than 20191109T131941Z (20191109T133441Z - 15 min.)",
                              date: "Sat, 09 Nov 2019 13:34:41 GMT"),
            Fixtures.ok(),
        ])
        _ = try client(transport).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        #expect(transport.requests.count == 2)
        #expect(clock.sleeps.isEmpty)
        #expect(signer.calls.map(\.date) == [Fixtures.now, Fixtures.now.addingTimeInterval(3600)])
    }

    @Test("does not re-sign when the Date header shows no skew")
    func noSkewNoRetry() {
        let transport = ScriptedTransport([
            Fixtures.stsError(400, code: "RequestExpired", message: "Request has expired.", date: "Sat, 09 Nov 2019 12:34:50 GMT"),
        ])
        let error = #expect(throws: STSError.self) {
            try client(transport).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(transport.requests.count == 1)
        #expect(error?.code == "sts.request-expired")
        #expect(error?.isClockSkew == true)
    }

    @Test("stops retrying at the deadline and caps the last attempt's timeout")
    func deadline() {
        let transport = ScriptedTransport([
            .fail(.timedOut),
            .fail(.timedOut),
        ], onSend: { [clock] in clock.advance(1) })
        let retry = RetryPolicy(maxAttempts: 5, baseDelay: 8, maxDelay: 8, deadline: 12)
        let error = #expect(throws: STSError.self) {
            try client(transport, retry: retry, jitter: 1).assumeRole(
                Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        // t=0 send (→1), sleep 8 (→9), send with 3 s left (→10), 10 + 8 > 12: give up.
        #expect(transport.requests.count == 2)
        #expect(clock.sleeps == [8])
        #expect(transport.options.map(\.totalTimeout) == [12, 3])
        #expect(transport.options.map(\.connectTimeout) == [3, 3])
        #expect(error?.code == "sts.transport")
        #expect(error?.message.contains("gave up after 2 attempts") == true)
    }

    @Test("reports a 2xx it cannot read as malformed, without retrying")
    func malformedSuccess() {
        let transport = ScriptedTransport([.respond(HTTPResponse(status: 200, body: Array("<html>hi</html>".utf8)))])
        let error = #expect(throws: STSError.self) {
            try client(transport).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(transport.requests.count == 1)
        #expect(error?.code == "sts.malformed-response")
        #expect(error?.message.contains("expected <AssumeRoleResponse>, found <html>") == true)
    }

    @Test("reports a non-STS error page with its status")
    func unexpectedErrorPage() {
        let transport = ScriptedTransport([.respond(HTTPResponse(status: 407, body: Array("Proxy Authentication Required".utf8)))])
        let error = #expect(throws: STSError.self) {
            try client(transport).assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(error?.code == "sts.unexpected-response")
        #expect(error?.httpStatus == 407)
        #expect(error?.message.contains("HTTP 407") == true)
    }

    @Test("full jitter stays under the exponential ceiling", arguments: [1, 2, 3, 4, 10, 40])
    func backoffCeiling(attempt: Int) {
        let policy = RetryPolicy(baseDelay: 0.5, maxDelay: 5)
        let ceiling = min(5, 0.5 * pow(2, Double(attempt - 1)))
        #expect(policy.delay(afterAttempt: attempt, jitter: 0) == 0)
        #expect(policy.delay(afterAttempt: attempt, jitter: 0.999_999) <= ceiling)
        #expect(policy.delay(afterAttempt: attempt, jitter: 0.999_999) > ceiling * 0.99)
    }
}

@Suite("STS error messages")
struct STSErrorMessageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var status: Int
        var stsCode: String
        var stsMessage: String
        var code: String
        var hint: String
        var retryable: Bool
        var testDescription: String { stsCode }
    }

    @Test("shows STS's code and message plus what to do", arguments: [
        Case(status: 403, stsCode: "AccessDenied",
             stsMessage: "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/Admin",
             code: "sts.access-denied", hint: "role's trust policy", retryable: false),
        Case(status: 403, stsCode: "InvalidClientTokenId", stsMessage: "The security token included in the request is invalid.",
             code: "sts.invalid-client-token-id", hint: "access key id is wrong or deactivated", retryable: false),
        Case(status: 403, stsCode: "SignatureDoesNotMatch",
             stsMessage: "The request signature we calculated does not match the signature you provided.",
             code: "sts.signature-does-not-match", hint: "secret access key is wrong, or the system clock is off", retryable: false),
        Case(status: 400, stsCode: "ExpiredToken", stsMessage: "The security token included in the request is expired",
             code: "sts.expired-token", hint: "refresh the source credentials", retryable: false),
        Case(status: 403, stsCode: "RegionDisabledException",
             stsMessage: "STS is not activated in this region for account:123456789012.",
             code: "sts.region-disabled", hint: "activate the region", retryable: false),
        Case(status: 400, stsCode: "Throttling", stsMessage: "Rate exceeded",
             code: "sts.throttled", hint: "try again in a moment", retryable: true),
        Case(status: 503, stsCode: "ServiceUnavailable", stsMessage: "Service is unavailable",
             code: "sts.server-error", hint: "server error (HTTP 503)", retryable: true),
        Case(status: 400, stsCode: "ValidationError",
             stsMessage: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
             code: "sts.service-error", hint: "MaxSessionDuration", retryable: false),
    ])
    func serviceErrors(_ c: Case) {
        let transport = ScriptedTransport([Fixtures.stsError(c.status, code: c.stsCode, message: c.stsMessage)])
        let client = STSClient(
            transport: transport, options: .init(retry: RetryPolicy(maxAttempts: 1)),
            clock: { Fixtures.now }, sign: RecordingSigner().function, sleep: { _ in Issue.record("slept") })
        let error = #expect(throws: STSError.self) {
            try client.assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
        }
        #expect(error?.code == c.code)
        #expect(error?.isRetryable == c.retryable)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("STS AssumeRole failed: \(c.stsCode): \(c.stsMessage)"), "\(message)")
        #expect(message.contains(c.hint), "\(message)")
        #expect(!message.contains("\n"))
        #expect(!message.contains(Fixtures.sourceCredentials.secretAccessKey))
    }

    @Test("names the region STS is disabled in")
    func regionDisabledNamesRegion() {
        let error = STSError(.service(STSErrorDocument(code: "RegionDisabledException", message: "not activated"),
                                      status: 403, action: "AssumeRole", region: "ap-south-2"))
        #expect(error.message.contains("in ap-south-2"))
    }

    @Test("explains transport failures with the endpoint and what to check", arguments: [
        (TransportError.couldNotResolveHost("Could not resolve host: sts.eu-west-1.amazonaws.com"), "DNS"),
        (TransportError.couldNotConnect("Failed to connect"), "HTTPS_PROXY"),
        (TransportError.timedOut, "did not answer in time"),
        (TransportError.tls("certificate verify failed"), "AWS_CA_BUNDLE"),
        (TransportError.proxy("CONNECT tunnel failed, response 403"), "proxy allows the STS host"),
        (TransportError.libraryUnavailable("could not load libcurl.so.4"), "libcurl4"),
    ])
    func transportErrors(transportError: TransportError, hint: String) {
        let error = STSError(.transport(transportError, action: "AssumeRole", endpoint: "https://sts.eu-west-1.amazonaws.com/"))
        #expect(error.code == "sts.transport")
        #expect(error.message.hasPrefix("could not reach STS for AssumeRole at https://sts.eu-west-1.amazonaws.com/: "))
        #expect(error.message.contains(hint), "\(error.message)")
        #expect(error.message.contains(transportError.message))
    }

    @Test("keeps a multi-line STS message on one line")
    func oneLineMessage() {
        let error = STSError(.service(STSErrorDocument(code: "ValidationError", message: "line one\n   line two"),
                                      status: 400, action: "AssumeRole", region: "eu-west-1"))
        #expect(error.message == "STS AssumeRole failed: ValidationError: line one line two")
    }
}
