import CCurlShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `HTTPTransport` over libcurl. libcurl is loaded with `dlopen` on the first request, so
/// processes that never send one (cache hits, `prompt`) never load it.
///
/// Every exchange uses a fresh connection, follows no redirects, always verifies TLS, and uses
/// only the proxy, no-proxy list and CA bundle given in `HTTPOptions` — libcurl is told not to
/// consult the proxy environment variables itself.
public struct CurlTransport: HTTPTransport {
    public init() {}

    public func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse {
        try Self.validate(request)

        let headerLines = request.headers.map { "\($0.name): \($0.value)" }
        var cStrings: [UnsafeMutablePointer<CChar>?] = []
        defer { cStrings.forEach { free($0) } }
        func duplicate(_ string: String?) -> UnsafeMutablePointer<CChar>? {
            guard let string else { return nil }
            let copy = strdup(string)
            cStrings.append(copy)
            return copy
        }
        let method = duplicate(request.method)
        let url = duplicate(request.url)
        let caBundle = duplicate(options.caBundle)
        let proxy = duplicate(options.proxy)
        let noProxy = duplicate(options.noProxy)
        let headerPointers: [UnsafePointer<CChar>?] = headerLines.map { UnsafePointer(duplicate($0)) }

        var response = stscache_http_response()
        var errorBuffer = [CChar](repeating: 0, count: 512)
        defer { stscache_http_response_free(&response) }

        let result: Int32 = headerPointers.withUnsafeBufferPointer { headers in
            request.body.withUnsafeBufferPointer { body in
                var cRequest = stscache_http_request(
                    method: method, url: url,
                    headers: headers.baseAddress, header_count: headers.count,
                    body: body.baseAddress, body_len: body.count,
                    connect_timeout_ms: Self.milliseconds(options.connectTimeout),
                    total_timeout_ms: Self.milliseconds(options.totalTimeout),
                    ca_bundle: caBundle, proxy: proxy, no_proxy: noProxy,
                    max_response_bytes: max(0, options.maxResponseBytes))
                return errorBuffer.withUnsafeMutableBufferPointer { errors in
                    stscache_http_perform(&cRequest, &response, errors.baseAddress, errors.count)
                }
            }
        }

        let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch stscache_http_result(rawValue: UInt32(bitPattern: result)) {
        case STSCACHE_HTTP_OK:
            let headerBytes = response.headers.map {
                Array(UnsafeRawBufferPointer(start: $0, count: response.headers_len))
            } ?? []
            let body = response.body.map {
                Array(UnsafeBufferPointer(start: $0, count: response.body_len))
            } ?? []
            return HTTPResponse(
                status: Int(response.status),
                headers: HTTPHeaderBlock.parse(headerBytes),
                body: body)
        case STSCACHE_HTTP_ERR_LIBRARY: throw TransportError.libraryUnavailable(detail)
        case STSCACHE_HTTP_ERR_RESOLVE: throw TransportError.couldNotResolveHost(detail)
        case STSCACHE_HTTP_ERR_CONNECT: throw TransportError.couldNotConnect(detail)
        case STSCACHE_HTTP_ERR_TIMEOUT: throw TransportError.timedOut
        case STSCACHE_HTTP_ERR_TLS: throw TransportError.tls(detail)
        case STSCACHE_HTTP_ERR_PROXY: throw TransportError.proxy(detail)
        case STSCACHE_HTTP_ERR_TOO_LARGE:
            throw TransportError.responseTooLarge(limit: options.maxResponseBytes)
        case STSCACHE_HTTP_ERR_INVALID_REQUEST: throw TransportError.invalidRequest(detail)
        default: throw TransportError.other(code: Int(response.curl_code), message: detail)
        }
    }

    /// Refuses what would corrupt the request on the wire (header injection) or be cut short at
    /// a NUL by the C side.
    static func validate(_ request: HTTPRequest) throws {
        func clean(_ s: String) -> Bool {
            !s.utf8.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A })
        }
        guard !request.method.isEmpty,
              request.method.utf8.allSatisfy({ isTokenByte($0) })
        else { throw TransportError.invalidRequest("invalid HTTP method '\(request.method)'") }
        guard clean(request.url), !request.url.contains(" ") else {
            throw TransportError.invalidRequest("the URL contains spaces or control characters")
        }
        for header in request.headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy({ isTokenByte($0) }) else {
                throw TransportError.invalidRequest("invalid header name '\(header.name)'")
            }
            // The value is not echoed: it may be a credential.
            guard clean(header.value) else {
                throw TransportError.invalidRequest("header \(header.name) contains a line break or NUL")
            }
        }
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    private static func milliseconds(_ seconds: Double) -> Int {
        guard seconds.isFinite, seconds > 0 else { return 1 }
        return max(1, Int(min(seconds, 86_400) * 1000))
    }
}

/// Splits a raw HTTP/1.x or HTTP/2 response header block into (name, value) pairs.
enum HTTPHeaderBlock {
    static func parse(_ bytes: [UInt8]) -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        let text = String(decoding: bytes, as: UTF8.self)
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("HTTP/") { continue }
            // Obsolete line folding: a continuation of the previous value.
            if let first = line.first, first == " " || first == "\t" {
                if !result.isEmpty {
                    let folded = trim(line)
                    result[result.count - 1].value += result[result.count - 1].value.isEmpty ? folded : " " + folded
                }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            guard !name.isEmpty else { continue }
            result.append((name: name, value: trim(line[line.index(after: colon)...])))
        }
        return result
    }

    private static func trim(_ s: Substring) -> String {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
