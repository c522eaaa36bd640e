import Foundation
import SigV4
@testable import STS
import Testing
import Transport

/// Which answers are retried, and what the user is told about a wrong clock (issue 5).
@Suite("STS retry rules and clock skew")
struct RetryRulesTests {
    let clock = ManualClock(Fixtures.now)
    let signer = RecordingSigner()

    func client(_ transport: ScriptedTransport, retry: RetryPolicy = RetryPolicy()) -> STSClient {
        STSClient(
            transport: transport, options: .init(http: HTTPOptions(connectTimeout: 3, totalTimeout: 10), retry: retry),
            clock: clock.clock, sign: signer.function, sleep: clock.sleep, jitter: { 0.5 })
    }

    func assumeRole(_ client: STSClient) throws -> AWSCredentials {
        try client.assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: Fixtures.endpoint)
            .credentials
    }

    @Test("retries each throttling signal STS uses, then succeeds", arguments: [
        (400, "Throttling"), (400, "ThrottlingException"), (400, "RequestLimitExceeded"), (429, "TooManyRequests"),
    ])
    func throttlingCodes(status: Int, code: String) throws {
        let transport = ScriptedTransport([
            Fixtures.stsError(status, code: code, message: "Rate exceeded"),
            Fixtures.stsError(status, code: code, message: "Rate exceeded"),
            Fixtures.ok(),
        ])
        _ = try assumeRole(client(transport))
        #expect(transport.requests.count == 3)
        #expect(clock.sleeps == [0.25, 0.5])
    }

    @Test("retries an HTTP 429 that is not an STS document")
    func bare429() throws {
        let transport = ScriptedTransport([
            .respond(HTTPResponse(status: 429, body: Array("Too Many Requests".utf8))), Fixtures.ok(),
        ])
        _ = try assumeRole(client(transport))
        #expect(transport.requests.count == 2)
    }

    @Test("never retries a refusal, even one that comes with a server status", arguments: [
        (403, "AccessDenied"), (403, "InvalidClientTokenId"), (400, "ExpiredToken"), (400, "MalformedQueryString"),
        (400, "InvalidParameterValue"), (400, "MissingParameter"), (400, "ValidationError"),
        (500, "AccessDenied"), (503, "InvalidClientTokenId"), (429, "ExpiredToken"),
    ])
    func refusalsNotRetried(status: Int, code: String) {
        let transport = ScriptedTransport([Fixtures.stsError(status, code: code, message: "refused")])
        let error = #expect(throws: STSError.self) { try assumeRole(client(transport)) }
        #expect(transport.requests.count == 1)
        #expect(clock.sleeps.isEmpty)
        #expect(error?.isRetryable == false)
        #expect(error?.message.contains("gave up") == false)
    }

    @Test("a timed-out attempt is retried while the deadline allows")
    func timeoutRetried() throws {
        let transport = ScriptedTransport([.fail(.timedOut), Fixtures.ok()], onSend: { [clock] in clock.advance(10) })
        _ = try assumeRole(client(transport, retry: RetryPolicy(deadline: 30)))
        #expect(transport.requests.count == 2)
        // 10 s spent, a 0.25 s pause: the second attempt still gets its full 10 s.
        #expect(transport.options.map(\.totalTimeout) == [10, 10])
    }

    @Test("the deadline covers every attempt and pause: the last attempt gets only what is left")
    func deadlineIncludesRetries() {
        let transport = ScriptedTransport(
            [.fail(.timedOut), .fail(.timedOut), .fail(.timedOut)], onSend: { [clock] in clock.advance(10) })
        let error = #expect(throws: STSError.self) {
            try assumeRole(client(transport, retry: RetryPolicy(maxAttempts: 3, deadline: 25)))
        }
        // t=10 after the first, +0.25 pause, t=20.25 after the second, +0.5 pause: 4.25 s left.
        #expect(transport.options.map(\.totalTimeout) == [10, 10, 4.25])
        #expect(error?.code == "sts.transport")
        #expect(error?.message.contains("gave up after 3 attempts") == true)
        #expect(error?.message.contains("STSCACHE_STS_TIMEOUT") == true)
    }

    @Test("reports the clock offset to the caller when it re-signs")
    func skewReported() throws {
        let reported = Reported()
        var client = client(ScriptedTransport([
            Fixtures.stsError(400, code: "RequestExpired", message: "Request has expired.",
                              date: "Sat, 09 Nov 2019 12:54:44 GMT"),
            Fixtures.ok(),
        ]))
        client.onClockSkewCorrected = { reported.append($0) }
        _ = try assumeRole(client)
        // Our clock says 12:34:41: STS is 20 min 3 s ahead.
        #expect(reported.values == [1203])
        #expect(signer.calls.map(\.date) == [Fixtures.now, Fixtures.now.addingTimeInterval(1203)])
    }

    @Test("when re-signing does not help, the error says how far off the clock is")
    func skewInError() {
        let refused = Fixtures.stsError(
            403, code: "SignatureDoesNotMatch",
            message: "Signature expired: 20191109T123441Z is now earlier than 20191109T141941Z (20191109T143441Z - 15 min.)",
            date: "Sat, 09 Nov 2019 14:34:41 GMT")
        let transport = ScriptedTransport([refused, refused])
        let error = #expect(throws: STSError.self) { try assumeRole(client(transport)) }
        #expect(transport.requests.count == 2)
        #expect(error?.code == "sts.signature-does-not-match")
        #expect(error?.clockOffset == 7200)
        let message = error?.message ?? ""
        #expect(message.contains("the local clock is 2 h behind STS's clock"), "\(message)")
        #expect(message.contains("check the system clock"), "\(message)")
        // A stale timestamp is about the clock, not a wrong secret key.
        #expect(!message.contains("secret access key is wrong"), "\(message)")
    }

    @Test("does not double the full stop after STS's own message")
    func singleFullStop() {
        let error = STSError(.service(
            STSErrorDocument(code: "AccessDenied", message: "Not authorized."), status: 403, action: "AssumeRole",
            region: "eu-west-1"))
        #expect(error.message.contains("Not authorized. Check that the role's trust policy"))
        #expect(!error.message.contains(".."))
    }

    @Test("describes clock offsets in hours, minutes and seconds", arguments: [
        (1203.0, "the local clock is 20 min 3 s behind STS's clock"),
        (-7260.0, "the local clock is 2 h 1 min ahead of STS's clock"),
        (45.4, "the local clock is 45 s behind STS's clock"),
        (-3600.0, "the local clock is 1 h ahead of STS's clock"),
    ])
    func describeSkew(offset: Double, text: String) {
        #expect(ClockSkew.describe(offset) == text)
    }
}

final class Reported: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Double] = []
    func append(_ value: Double) { lock.withLock { stored.append(value) } }
    var values: [Double] { lock.withLock { stored } }
}

/// libcurl's details say what the message already says; the message says it once.
@Suite("Transport messages")
struct TransportMessageTests {
    @Test("no repeated phrase: could not resolve the host x, could not connect to y")
    func noRepeatedPhrase() {
        #expect(TransportError.couldNotResolveHost("Could not resolve host: sts.example.invalid").message
            == "could not resolve the host sts.example.invalid")
        #expect(TransportError.couldNotConnect("Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server")
            .message == "could not connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server")
        #expect(TransportError.couldNotResolveHost("").message == "could not resolve the host")
        #expect(TransportError.couldNotConnect("Connection refused").message == "could not connect: Connection refused")
    }
}
