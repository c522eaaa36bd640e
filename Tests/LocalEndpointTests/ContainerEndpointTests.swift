import Foundation
import Testing
import SigV4
@testable import Credentials
import TestSupport
@testable import LocalEndpoint

/// What the local container-credentials endpoint answers, without the server that carries it.
@Suite("container-credentials endpoint")
struct ContainerEndpointTests {
    static let session = AWSCredentials(accessKeyId: "ASIAENDPOINTEXAMPLE1", secretAccessKey: "endpoint/secret+key",
                                        sessionToken: "endpoint-token-" + String(repeating: "z", count: 40),
                                        expiration: testNow.addingTimeInterval(3600), accountId: "123456789012")

    func endpoint(token: String = String(repeating: "ab", count: 32), fetched: AWSCredentials = session,
                  calls: Counter = Counter()) -> ContainerEndpoint {
        ContainerEndpoint(token: token, minimumRemaining: 900, now: { testNow }) {
            _ = calls.next()
            return fetched
        }
    }

    func json(_ answer: EndpointReply) throws -> [String: String] {
        try #require(JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: String])
    }

    @Test("the right token gets the four fields the SDKs read, and the account")
    func served() throws {
        let token = try ContainerEndpoint.newToken()
        let answer = endpoint(token: token).answer(method: "GET", authorization: token)
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/json")
        #expect(try json(answer) == [
            "AccessKeyId": "ASIAENDPOINTEXAMPLE1", "SecretAccessKey": "endpoint/secret+key",
            "Token": "endpoint-token-" + String(repeating: "z", count: 40), "Expiration": "2030-03-17T18:46:40Z",
            "AccountId": "123456789012",
        ])
    }

    @Test("a wrong, missing, longer, shorter or differently cased token gets 403, no credentials, and nothing fetched",
          arguments: [nil, "", "ab", String(repeating: "ab", count: 32) + "a", String(repeating: "AB", count: 32),
                      String(repeating: "ab", count: 31) + "ac", "Bearer " + String(repeating: "ab", count: 32)])
    func refused(_ authorization: String?) throws {
        let calls = Counter()
        let answer = endpoint(calls: calls).answer(method: "GET", authorization: authorization)
        #expect(answer.status == 403)
        #expect(!answer.body.contains("ASIA") && !answer.body.contains("secret") && !answer.body.contains("abab"))
        let body = try json(answer)
        #expect(body["Code"] == "AccessDenied" && body["code"] == "AccessDenied")
        #expect(calls.next() == 1, "the credentials were fetched for a refused request")
    }

    @Test("only GET")
    func methods() {
        let token = String(repeating: "ab", count: 32)
        #expect(endpoint().answer(method: "POST", authorization: token).status == 405)
        #expect(endpoint().answer(method: "get", authorization: token).status == 405)
    }

    @Test("credentials with less than the callers' refresh window left are not handed out")
    func tooShort() throws {
        var short = Self.session
        short.expiration = testNow.addingTimeInterval(899)
        let answer = endpoint(fetched: short).answer(method: "GET", authorization: String(repeating: "ab", count: 32))
        #expect(answer.status == 503)
        #expect(!answer.body.contains("ASIA"))
    }

    @Test("a failure says why in one line, without the credentials")
    func failure() throws {
        let failing = ContainerEndpoint(token: "t", minimumRemaining: 0, now: { testNow }) {
            throw SourceError(.processFailed, "the helper failed\nsecond line")
        }
        let answer = failing.answer(method: "GET", authorization: "t")
        #expect(answer.status == 500)
        #expect(try json(answer)["Message"] == "the helper failed second line")
    }

    @Test("the account is the credentials' own, and only twelve digits are served", arguments: [
        ("123456789012", "123456789012"), ("12345", nil), ("12345678901x", nil), ("1234567890123", nil),
        ("12345678901\u{661}", nil), (nil, nil),
    ] as [(String?, String?)])
    func account(_ account: String?, _ expected: String?) throws {
        var session = Self.session
        session.accountId = account
        let token = String(repeating: "ab", count: 32)
        #expect(try json(endpoint(fetched: session).answer(method: "GET", authorization: token))["AccountId"] == expected)
    }

    @Test("tokens are 256 bits of hex and differ")
    func tokens() throws {
        let first = try ContainerEndpoint.newToken(), second = try ContainerEndpoint.newToken()
        #expect(first.count == 64 && first.allSatisfy(\.isHexDigit))
        #expect(first != second)
    }
}
