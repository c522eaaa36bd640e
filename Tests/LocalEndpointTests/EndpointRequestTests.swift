import Testing
@testable import Credentials
@testable import LocalEndpoint

/// The request heads the SDKs send, and the ones a strict reader must refuse.
@Suite("endpoint request heads")
struct EndpointRequestTests {
    func parse(_ text: String) -> EndpointRequest.Parse { EndpointRequest.parse(Array(text.utf8)) }

    @Test("botocore's request: method, target and the raw token")
    func botocore() {
        let head = "GET / HTTP/1.1\r\nHost: 127.0.0.1:4321\r\nAccept-Encoding: identity\r\nAccept: application/json\r\n"
            + "Authorization: abc123\r\nUser-Agent: Botocore/1.44\r\n\r\n"
        #expect(parse(head) == .request(EndpointRequest(method: "GET", target: "/", authorization: "abc123")))
    }

    @Test("a header name in any case, its value trimmed; no Authorization is nil")
    func headers() {
        #expect(parse("GET /x HTTP/1.0\r\nauthorization:\t tok \r\n\r\n")
            == .request(EndpointRequest(method: "GET", target: "/x", authorization: "tok")))
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == .request(EndpointRequest(method: "GET", target: "/", authorization: nil)))
    }

    @Test("incomplete until the blank line, in any split")
    func incomplete() {
        let head = Array("GET / HTTP/1.1\r\nAuthorization: t\r\n\r\n".utf8)
        for cut in 0..<head.count { #expect(EndpointRequest.parse(Array(head[..<cut])) == .incomplete, "cut at \(cut)") }
        #expect(EndpointRequest.parse(head) != .incomplete)
    }

    @Test("refused", arguments: [
        "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",  // two tokens
        "GET / HTTP/1.1\r\nAuthorization: a\nX: b\r\n\r\n",                // bare LF in a value
        "GET / HTTP/1.1\r\nAuthorization: a\rb\r\n\r\n",                   // bare CR in a value
        "GET /\t HTTP/1.1\r\n\r\n",                                         // control in the request line
        "GET  / HTTP/1.1\r\n\r\n",                                          // empty part
        "GET / HTTP/2.0\r\n\r\n",                                           // another protocol
        "GET / HTTP/1.1\r\n Authorization: a\r\n\r\n",                      // obsolete line folding
        "GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",                            // space in a name
        "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",                      // a body
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",             // a body, chunked
        "\r\n\r\n",                                                         // nothing
    ])
    func refused(_ head: String) {
        guard case .invalid(let status, _) = parse(head) else {
            Issue.record("accepted: \(head.debugDescription)")
            return
        }
        #expect(status == 400)
    }

    @Test("a head over 8 KiB is refused, with or without its end")
    func tooLarge() {
        let padding = "X-Padding: " + String(repeating: "a", count: 9000) + "\r\n"
        #expect(parse("GET / HTTP/1.1\r\n" + padding) == .invalid(status: 431, reason: "request head too large"))
        #expect(parse("GET / HTTP/1.1\r\n" + padding + "\r\n") == .invalid(status: 431, reason: "request head too large"))
    }
}
