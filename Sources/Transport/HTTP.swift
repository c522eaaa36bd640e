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

public enum TransportError: Error, Equatable, Sendable {
    /// libcurl could not be loaded (not installed): says which library was looked for.
    case libraryUnavailable(String)
    case couldNotResolveHost(String)
    case couldNotConnect(String)
    case timedOut
    /// TLS handshake or certificate verification failed.
    case tls(String)
    case responseTooLarge(limit: Int)
    case proxy(String)
    /// Any other libcurl failure: its code and message.
    case other(code: Int, message: String)

    /// True for failures worth retrying (the network, not the request).
    public var isTransient: Bool {
        switch self {
        case .couldNotConnect, .timedOut, .other: return true
        case .couldNotResolveHost, .libraryUnavailable, .tls, .responseTooLarge, .proxy: return false
        }
    }
}

/// The one seam between stscache and the network. Implementations: `CurlTransport`
/// (libcurl, loaded on first use) and the tests' fakes.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest, options: HTTPOptions) throws -> HTTPResponse
}
