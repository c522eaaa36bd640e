import Foundation
import OpenSSLCrypto
import SigV4
import Testing

/// The AWS Signature Version 4 test suite (Fixtures/sigv4, Apache-2.0, see its LICENSE and NOTICE).
///
/// Each case is checked twice:
/// - stage by stage from the `.req` exactly as written (headers include `Host` and `X-Amz-Date`):
///   canonical request == `.creq`, string to sign == `.sts`, `Authorization` == `.authz`;
/// - through `SigV4.sign`, the way the STS client calls it: `Host`, `X-Amz-Date` and
///   `X-Amz-Security-Token` left out of the headers, so the signer derives the host from the URL,
///   formats the date itself and adds the token from the credentials.
@Suite("AWS SigV4 test suite")
struct AWSSuiteTests {
    /// Every case in the suite, relative to Fixtures/sigv4. None is skipped: the `casesOnDisk`
    /// test fails if a case is added to the fixtures without being listed here.
    static let cases: [String] = [
        "get-header-key-duplicate",
        "get-header-value-multiline",
        "get-header-value-order",
        "get-header-value-trim",
        "get-unreserved",
        "get-utf8",
        "get-vanilla",
        "get-vanilla-empty-query-key",
        "get-vanilla-query",
        "get-vanilla-query-order-encoded",
        "get-vanilla-query-order-key",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-order-value",
        "get-vanilla-query-unreserved",
        "get-vanilla-utf8-query",
        "get-vanilla-with-session-token",
        "normalize-path/get-relative",
        "normalize-path/get-relative-relative",
        "normalize-path/get-slash",
        "normalize-path/get-slash-dot-slash",
        "normalize-path/get-slash-pointless-dot",
        "normalize-path/get-slashes",
        "normalize-path/get-space",
        "normalize-path/get-special-character",
        "post-header-key-case",
        "post-header-key-sort",
        "post-header-value-case",
        "post-sts-token/post-sts-header-after",
        "post-sts-token/post-sts-header-before",
        "post-vanilla",
        "post-vanilla-empty-query-value",
        "post-vanilla-query",
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
    ]

    static let accessKeyId = "AKIDEXAMPLE"
    static let secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let region = "us-east-1"
    static let service = "service"
    /// 2015-08-30T12:36:00Z.
    static let date = Date(timeIntervalSince1970: 1_440_938_160)
    static let amzDate = "20150830T123600Z"

    @Test("every case directory in the fixtures is listed, and every listed case exists")
    func casesOnDisk() throws {
        let root = try SuiteCase.root()
        var found: [String] = []
        let enumerator = try #require(FileManager.default.enumerator(atPath: root.path))
        while let relative = enumerator.nextObject() as? String {
            if relative.hasSuffix(".req") {
                found.append(String(relative.dropLast(".req".count).split(separator: "/").dropLast().joined(separator: "/")))
            }
        }
        #expect(found.sorted() == Self.cases.sorted())
        #expect(Self.cases.count == 34)
    }

    @Test("canonical request, string to sign and Authorization match the suite", arguments: cases)
    func stages(name: String) throws {
        let suiteCase = try SuiteCase(name)
        let request = suiteCase.request
        var headers = request.headers
        // get-vanilla-with-session-token's .req omits the token header its .creq signs.
        if let token = suiteCase.signedSessionToken,
           !headers.contains(where: { $0.name.lowercased() == "x-amz-security-token" }) {
            headers.append((name: "X-Amz-Security-Token", value: token))
        }
        let target = SigV4.RequestTarget(url: "https://\(request.host)\(request.target)")

        let canonical = SigV4.canonicalRequest(
            method: request.method, path: target.path, query: target.query, headers: headers,
            payloadHash: sha256Hex(request.body))
        #expect(canonical.text == suiteCase.expectedCanonicalRequest)

        let dateStamp = String(Self.amzDate.prefix(8))
        let scope = SigV4.credentialScope(dateStamp: dateStamp, region: Self.region, service: Self.service)
        let stringToSign = SigV4.stringToSign(amzDate: Self.amzDate, credentialScope: scope, canonicalRequest: canonical.text)
        #expect(stringToSign == suiteCase.expectedStringToSign)

        let key = SigV4.signingKey(secretAccessKey: Self.secretAccessKey, dateStamp: dateStamp,
                                   region: Self.region, service: Self.service)
        let authorization = SigV4.authorization(
            accessKeyId: Self.accessKeyId, credentialScope: scope, signedHeaders: canonical.signedHeaders,
            signature: SigV4.signature(signingKey: key, stringToSign: stringToSign))
        #expect(authorization == suiteCase.expectedAuthorization)
    }

    @Test("sign() produces the suite's Authorization from the URL, the body and the credentials", arguments: cases)
    func signEndToEnd(name: String) throws {
        let suiteCase = try SuiteCase(name)
        let request = suiteCase.request
        #expect(request.header("X-Amz-Date") == Self.amzDate)
        let headers = request.headers.filter {
            !["host", "x-amz-date", "x-amz-security-token"].contains($0.name.lowercased())
        }
        let credentials = AWSCredentials(accessKeyId: Self.accessKeyId, secretAccessKey: Self.secretAccessKey,
                                         sessionToken: suiteCase.signedSessionToken)
        let added = SigV4.sign(method: request.method, url: "https://\(request.host)\(request.target)",
                               headers: headers, body: request.body, credentials: credentials,
                               region: Self.region, service: Self.service, date: Self.date)

        var expected: [String] = ["X-Amz-Date: \(Self.amzDate)"]
        if let token = suiteCase.signedSessionToken { expected.append("X-Amz-Security-Token: \(token)") }
        expected.append("Authorization: \(suiteCase.expectedAuthorization)")
        #expect(added.map { "\($0.name): \($0.value)" } == expected)
    }
}

/// One case of the suite: the parsed `.req` and the expected `.creq`, `.sts` and `.authz`.
struct SuiteCase {
    let name: String
    let request: RawRequest
    let expectedCanonicalRequest: String
    let expectedStringToSign: String
    let expectedAuthorization: String
    /// The session token the case signs, if any: the `X-Amz-Security-Token` of the `.sreq` when
    /// the `.creq` lists it among the signed headers. (post-sts-header-after adds the token only
    /// after signing, so it signs none; `sign` never does that, it always signs the token.)
    let signedSessionToken: String?

    static func root() throws -> URL {
        let resources = try #require(Bundle.module.resourceURL)
        return resources.appendingPathComponent("Fixtures/sigv4")
    }

    init(_ relativePath: String) throws {
        name = relativePath
        let base = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
        let directory = try Self.root().appendingPathComponent(relativePath)
        func read(_ suffix: String) throws -> [UInt8] {
            Array(try Data(contentsOf: directory.appendingPathComponent("\(base).\(suffix)")))
        }
        request = try RawRequest(parsing: read("req"))
        expectedCanonicalRequest = String(decoding: try read("creq"), as: UTF8.self)
        expectedStringToSign = String(decoding: try read("sts"), as: UTF8.self)
        expectedAuthorization = String(decoding: try read("authz"), as: UTF8.self)
        let signedRequest = try RawRequest(parsing: read("sreq"))
        let signedHeaderList = expectedCanonicalRequest.split(separator: "\n", omittingEmptySubsequences: false).dropLast().last ?? ""
        signedSessionToken = signedHeaderList.split(separator: ";").contains("x-amz-security-token")
            ? signedRequest.header("X-Amz-Security-Token") : nil
    }
}

/// An HTTP/1.1 request as the suite writes it: LF line ends, header lines that start with white
/// space continue the previous value (kept with its line break; the signer folds it), a blank line,
/// then the body. Files have no trailing newline.
struct RawRequest {
    var method: String
    /// Path and query, exactly as on the request line (the suite puts raw spaces and UTF-8 there).
    var target: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing bytes: [UInt8]) throws {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard let requestLine = lines.first.map({ String(decoding: $0, as: UTF8.self) }),
              let firstSpace = requestLine.firstIndex(of: " "),
              let lastSpace = requestLine.lastIndex(of: " "), firstSpace < lastSpace,
              requestLine[lastSpace...].hasPrefix(" HTTP/") else {
            throw Malformed(description: "bad request line")
        }
        method = String(requestLine[..<firstSpace])
        target = String(requestLine[requestLine.index(after: firstSpace)..<lastSpace])
        headers = []
        var index = 1
        while index < lines.count, !lines[index].isEmpty {
            let line = String(decoding: lines[index], as: UTF8.self)
            if line.first == " " || line.first == "\t" {
                guard !headers.isEmpty else { throw Malformed(description: "continuation before any header") }
                headers[headers.count - 1].value += "\n" + line
            } else {
                guard let colon = line.firstIndex(of: ":") else { throw Malformed(description: "header without ':' \(line)") }
                headers.append((name: String(line[..<colon]), value: String(line[line.index(after: colon)...])))
            }
            index += 1
        }
        body = index + 1 < lines.count ? Array(lines[(index + 1)...].joined(separator: [UInt8(ascii: "\n")])) : []
    }

    var host: String { header("Host") ?? "" }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    Hex.encode(SHA256.hash(bytes))
}
