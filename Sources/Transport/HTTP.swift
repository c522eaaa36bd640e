import StscacheSupport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP request, as the STS, IMDS and ECS clients build it.
public struct HTTPRequest: Sendable {
    public var method: String
    /// Absolute URL, already percent-encoded.
    public var url: String
    /// Header names as they should go on the wire; order preserved.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The last value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.last(where: { $0.name.lowercased() == wanted })?.value
    }
}

/// Network settings for one exchange. Everything comes from the caller (context + profile),
/// never from the process environment behind its back.
public struct HTTPOptions: Sendable, Equatable {
    /// Seconds allowed for the TCP (and TLS) connection.
    public var connectTimeout: Double
    /// Seconds allowed for the whole request, connection included.
    public var totalTimeout: Double
    /// PEM bundle replacing the system CA store (`ca_bundle`, `AWS_CA_BUNDLE`).
    public var caBundle: String?
    /// Proxy URL for https requests (`HTTPS_PROXY`/`https_proxy`), nil for a direct connection.
    public var proxy: String?
    /// Hosts that bypass the proxy (`NO_PROXY`/`no_proxy`), curl's syntax.
    public var noProxy: String?
    /// A response body larger than this is refused (STS answers are a few KiB).
    public var maxResponseBytes: Int

    public init(connectTimeout: Double = 5, totalTimeout: Double = 30, caBundle: String? = nil,
                proxy: String? = nil, noProxy: String? = nil, maxResponseBytes: Int = 1 << 20) {
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.caBundle = caBundle
        self.proxy = proxy
        self.noProxy = noProxy
        self.maxResponseBytes = maxResponseBytes
    }
}

public enum TransportError: UserFacingError, Equatable, Sendable {
    /// libcurl could not be loaded (not installed): says which library was looked for.
    case libraryUnavailable(String)
    case couldNotResolveHost(String)
    case couldNotConnect(String)
    case timedOut
    /// TLS handshake or certificate verification failed.
    case tls(String)
    case responseTooLarge(limit: Int)
    case proxy(String)
    /// The request cannot be sent as given: malformed URL, a scheme other than http(s),
    /// a header with a line break. Retrying cannot help.
    case invalidRequest(String)
    /// Any other libcurl failure: its code and message.
    case other(code: Int, message: String)

    /// True for failures worth retrying (the network, not the request).
    public var isTransient: Bool {
        switch self {
        case .couldNotConnect, .timedOut, .other: return true
        case .couldNotResolveHost, .libraryUnavailable, .tls, .responseTooLarge, .proxy, .invalidRequest:
            return false
        }
    }

    public var errorCode: String { code }

    /// Stable identifier for tests and callers.
    public var code: String {
        switch self {
        case .libraryUnavailable: return "transport.library-unavailable"
        case .couldNotResolveHost: return "transport.resolve"
        case .couldNotConnect: return "transport.connect"
        case .timedOut: return "transport.timeout"
        case .tls: return "transport.tls"
        case .responseTooLarge: return "transport.too-large"
        case .proxy: return "transport.proxy"
        case .invalidRequest: return "transport.invalid-request"
        case .other: return "transport.other"
        }
    }

    /// What went wrong, in libcurl's words where it has some. Callers add the endpoint and the fix.
    public var message: String {
        switch self {
        case .libraryUnavailable(let detail):
            return "libcurl is not available (\(detail)); install it (Debian/Ubuntu: libcurl4, Fedora: libcurl)"
        case .couldNotResolveHost(let detail):
            return "could not resolve the host" + Self.rest(of: detail, after: "Could not resolve host", joiner: " ")
        case .couldNotConnect(let detail):
            return "could not connect" + Self.rest(of: detail, after: "Failed to connect", joiner: " ")
        case .timedOut: return "timed out"
        case .tls(let detail): return "TLS failed: \(detail)"
        case .responseTooLarge(let limit): return "the response is larger than \(limit) bytes"
        case .proxy(let detail): return "the proxy failed: \(detail)"
        case .invalidRequest(let detail): return "invalid request: \(detail)"
        case .other(let code, let message): return "libcurl error \(code): \(message)"
        }
    }
}

extension TransportError {
    /// libcurl's detail without the phrase the message already says ("Could not resolve host:
    /// x" after "could not resolve the host"): `joiner` + the rest, or ": " + the whole detail
    /// when it does not start so; nothing when it is empty.
    static func rest(of detail: String, after phrase: String, joiner: String) -> String {
        guard !detail.isEmpty else { return "" }
        guard detail.lowercased().hasPrefix(phrase.lowercased()) else { return ": " + detail }
        var rest = detail.dropFirst(phrase.count)
        if rest.hasPrefix(":") { rest = rest.dropFirst() }
        let trimmed = rest.drop { $0 == " " }
        return trimmed.isEmpty ? "" : joiner + trimmed
    }
}

extension TransportError: CustomStringConvertible {
    public var description: String { message }
}

/// The one seam between stscache and the network. Implementations: `CurlTransport`
/// (libcurl, loaded on first use) and the tests' fakes.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse
}
