import Foundation
import SigV4
import STS
import Testing
@testable import Transport

/// CurlTransport against real sockets on 127.0.0.1: libcurl is loaded and used for real.
@Suite("CurlTransport over loopback")
struct CurlTransportTests {
    let transport = CurlTransport()

    @Test("sends method, headers and body, and returns status, headers and body")
    func roundTrip() throws {
        let server = try LoopbackServer(replies: [
            LoopbackServer.response(status: 200, headers: [("X-Amzn-RequestId", "req-1"), ("Date", "Sun, 06 Nov 1994 08:49:37 GMT")],
                                    body: "hello from loopback"),
        ])
        defer { server.shutDown() }
        let request = HTTPRequest(
            method: "POST", url: server.baseURL + "/sts/?a=1",
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("X-Amz-Date", "20191109T123441Z")],
            body: Array("Action=AssumeRole&Version=2011-06-15".utf8))

        let response = try transport.send(request, options: HTTPOptions(connectTimeout: 5, totalTimeout: 10))

        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "hello from loopback")
        #expect(response.header("x-amzn-requestid") == "req-1")
        #expect(response.header("Date") == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(response.header("content-length") == "19")

        let received = try #require(server.requests.first)
        #expect(received.requestLine == "POST /sts/?a=1 HTTP/1.1")
        #expect(received.header("Content-Type") == "application/x-www-form-urlencoded; charset=utf-8")
        #expect(received.header("X-Amz-Date") == "20191109T123441Z")
        #expect(received.header("Host") == "127.0.0.1:\(server.port)")
        #expect(received.header("Content-Length") == "36")
        #expect(received.header("Expect") == nil)
        #expect(String(decoding: received.body, as: UTF8.self) == "Action=AssumeRole&Version=2011-06-15")
    }

    @Test("returns an error status as a response, not a failure, and follows no redirect")
    func errorStatusAndRedirect() throws {
        let server = try LoopbackServer(replies: [
            LoopbackServer.response(status: 403, reason: "Forbidden", body: "<ErrorResponse/>"),
            LoopbackServer.response(status: 302, reason: "Found", headers: [("Location", "http://127.0.0.1:1/elsewhere")], body: ""),
        ])
        defer { server.shutDown() }
        let forbidden = try transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/"), options: HTTPOptions())
        #expect(forbidden.status == 403)
        #expect(forbidden.body == Array("<ErrorResponse/>".utf8))
        let redirect = try transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/"), options: HTTPOptions())
        #expect(redirect.status == 302)
        #expect(redirect.header("Location") == "http://127.0.0.1:1/elsewhere")
        #expect(server.requests.map(\.requestLine) == ["GET / HTTP/1.1", "GET / HTTP/1.1"])
    }

    @Test("maps a refused connection to couldNotConnect")
    func connectionRefused() throws {
        let (fd, port) = try LoopbackServer.refusingPort()
        defer { close(fd) }
        let error = #expect(throws: TransportError.self) {
            try transport.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/"), options: HTTPOptions())
        }
        guard case .couldNotConnect(let detail) = error else {
            Issue.record("expected couldNotConnect, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("\(port)"))
        #expect(error?.code == "transport.connect")
        #expect(error?.isTransient == true)
    }

    @Test("maps a server that never answers to timedOut, within the total timeout")
    func timeout() throws {
        let server = try LoopbackServer(replies: [.silence])
        defer { server.shutDown() }
        let started = ContinuousClock.now
        #expect(throws: TransportError.timedOut) {
            try transport.send(HTTPRequest(method: "POST", url: server.baseURL + "/", body: [1, 2, 3]),
                               options: HTTPOptions(connectTimeout: 2, totalTimeout: 0.4))
        }
        // The silent server holds the connection for 30 s; a loaded machine stays well inside 15.
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test("times out against a listener that never accepts")
    func timeoutWithoutAccept() throws {
        let server = try LoopbackServer(replies: nil)
        defer { server.shutDown() }
        #expect(throws: TransportError.timedOut) {
            try transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/"), options: HTTPOptions(totalTimeout: 0.3))
        }
    }

    @Test("refuses a response body over the limit, declared or streamed")
    func tooLarge() throws {
        let body = String(repeating: "x", count: 5000)
        let server = try LoopbackServer(replies: [
            LoopbackServer.response(status: 200, body: body),
            // No Content-Length: the body runs until the connection closes.
            .raw(Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n\(body)".utf8)),
        ])
        defer { server.shutDown() }
        for _ in 0..<2 {
            #expect(throws: TransportError.responseTooLarge(limit: 1000)) {
                try transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/"), options: HTTPOptions(maxResponseBytes: 1000))
            }
        }
    }

    @Test("maps TLS failures (https to a plain-HTTP server) to tls")
    func tlsFailure() throws {
        let server = try LoopbackServer(replies: [.rawWithoutReading(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))])
        defer { server.shutDown() }
        let error = #expect(throws: TransportError.self) {
            try transport.send(HTTPRequest(method: "GET", url: "https://127.0.0.1:\(server.port)/"), options: HTTPOptions(totalTimeout: 5))
        }
        guard case .tls = error else {
            Issue.record("expected tls, got \(String(describing: error))")
            return
        }
        #expect(error?.isTransient == false)
    }

    @Test("maps a missing CA bundle to tls")
    func missingCABundle() throws {
        let server = try LoopbackServer(replies: [LoopbackServer.response(status: 200, body: "x")])
        defer { server.shutDown() }
        let error = #expect(throws: TransportError.self) {
            try transport.send(HTTPRequest(method: "GET", url: "https://127.0.0.1:\(server.port)/"),
                               options: HTTPOptions(totalTimeout: 5, caBundle: "/nonexistent/stscache-test-ca.pem"))
        }
        guard case .tls = error else {
            Issue.record("expected tls, got \(String(describing: error))")
            return
        }
    }

    @Test("refuses schemes other than http(s), before any I/O")
    func otherSchemes() {
        let error = #expect(throws: TransportError.self) {
            try transport.send(HTTPRequest(method: "GET", url: "file:///etc/passwd"), options: HTTPOptions())
        }
        guard case .invalidRequest = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
        #expect(error?.isTransient == false)
    }

    @Test("refuses header injection without echoing the value")
    func headerInjection() {
        let error = #expect(throws: TransportError.self) {
            try transport.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:1/", headers: [("X-Amz-Security-Token", "secret\r\nEvil: 1")]),
                               options: HTTPOptions())
        }
        #expect(error?.code == "transport.invalid-request")
        #expect(error?.message.contains("secret") == false)
    }

    @Test("sends through the given proxy")
    func proxyUsed() throws {
        let proxy = try LoopbackServer(replies: [LoopbackServer.response(status: 200, body: "via proxy")])
        defer { proxy.shutDown() }
        let response = try transport.send(
            HTTPRequest(method: "GET", url: "http://sts.example.invalid/path"),
            options: HTTPOptions(totalTimeout: 5, proxy: proxy.baseURL))
        #expect(String(decoding: response.body, as: UTF8.self) == "via proxy")
        #expect(proxy.requests.first?.requestLine == "GET http://sts.example.invalid/path HTTP/1.1")
    }

    @Test("ignores the proxy environment variables: only HTTPOptions decides")
    func proxyEnvironmentIgnored() throws {
        let (deadProxy, deadPort) = try LoopbackServer.refusingPort()
        defer { close(deadProxy) }
        let server = try LoopbackServer(replies: [LoopbackServer.response(status: 200, body: "direct")])
        defer { server.shutDown() }
        // Were libcurl reading these, the request would go to the dead proxy and fail.
        let names = ["http_proxy", "all_proxy", "ALL_PROXY"]
        for name in names { setenv(name, "http://127.0.0.1:\(deadPort)", 1) }
        defer { for name in names { unsetenv(name) } }
        let response = try transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/"), options: HTTPOptions(totalTimeout: 5))
        #expect(String(decoding: response.body, as: UTF8.self) == "direct")
    }

    @Test("bypasses the proxy for hosts in the no-proxy list")
    func noProxyBypass() throws {
        let (deadProxy, deadPort) = try LoopbackServer.refusingPort()
        defer { close(deadProxy) }
        let server = try LoopbackServer(replies: [LoopbackServer.response(status: 200, body: "direct")])
        defer { server.shutDown() }
        let response = try transport.send(
            HTTPRequest(method: "GET", url: server.baseURL + "/"),
            options: HTTPOptions(totalTimeout: 5, proxy: "http://127.0.0.1:\(deadPort)", noProxy: "127.0.0.1"))
        #expect(String(decoding: response.body, as: UTF8.self) == "direct")
    }

    @Test("parses header blocks: folding, HTTP/2 names, repeated and odd lines")
    func headerBlockParsing() {
        let block = "HTTP/1.1 100 Continue\r\n\r\nHTTP/2 200\r\ncontent-type: text/xml\r\nX-Long: a\r\n\tb\r\nSet: 1\r\nSet: 2\r\nno colon\r\nEmpty:\r\n\r\n"
        let headers = HTTPHeaderBlock.parse(Array(block.utf8))
        #expect(headers.map(\.name) == ["content-type", "X-Long", "Set", "Set", "Empty"])
        #expect(headers.map(\.value) == ["text/xml", "a b", "1", "2", ""])
    }
}

@Suite("STSClient over CurlTransport")
struct STSOverCurlTests {
    @Test("assumes a role against a loopback STS")
    func endToEnd() throws {
        let server = try LoopbackServer(replies: [
            LoopbackServer.response(status: 200, headers: [("Content-Type", "text/xml")], body: Fixtures.assumeRoleResponse),
        ])
        defer { server.shutDown() }
        let signer = RecordingSigner()
        let client = STSClient(
            transport: CurlTransport(), options: .init(http: HTTPOptions(totalTimeout: 10)),
            clock: { Fixtures.now }, sign: signer.function, sleep: { _ in Issue.record("slept") })
        let endpoint = try STSEndpoint.resolve(region: "eu-west-1", endpointURL: server.baseURL, stsRegionalEndpoints: nil)

        let result = try client.assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: endpoint)

        #expect(result.assumedRoleArn == "arn:aws:sts::123456789012:assumed-role/Admin/alice")
        #expect(result.credentials.sessionToken == Fixtures.sessionToken)
        let received = try #require(server.requests.first)
        #expect(received.requestLine == "POST / HTTP/1.1")
        #expect(received.header("Authorization") == "FAKE-SIG4 region=eu-west-1 service=sts")
        #expect(received.header("Content-Type") == "application/x-www-form-urlencoded; charset=utf-8")
        #expect(String(decoding: received.body, as: UTF8.self) ==
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin&RoleSessionName=alice&DurationSeconds=3600")
    }

    @Test("reports a refused STS endpoint with the endpoint and what to check, after retrying")
    func refusedEndpoint() throws {
        let (fd, port) = try LoopbackServer.refusingPort()
        defer { close(fd) }
        let clock = ManualClock(Fixtures.now)
        let client = STSClient(
            transport: CurlTransport(), clock: clock.clock, sign: RecordingSigner().function, sleep: clock.sleep, jitter: { 0.5 })
        let endpoint = STSEndpoint(url: "http://127.0.0.1:\(port)/", signingRegion: "eu-west-1")
        let error = #expect(throws: STSError.self) {
            try client.assumeRole(Fixtures.request, credentials: Fixtures.sourceCredentials, endpoint: endpoint)
        }
        #expect(error?.code == "sts.transport")
        #expect(error?.message.contains("http://127.0.0.1:\(port)/") == true)
        #expect(error?.message.contains("HTTPS_PROXY") == true)
        #expect(error?.message.contains("gave up after 3 attempts") == true)
        #expect(clock.sleeps.count == 2)
    }
}
