#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SigV4
import Transport
import StscacheSupport

/// Signs one request: returns the headers to add (`X-Amz-Date`, `Authorization`, and
/// `X-Amz-Security-Token` for temporary credentials). Same shape as `SigV4.sign`, so the
/// production wiring is a direct pass-through; tests inject a fake.
public typealias STSSigningFunction = @Sendable (
    _ method: String, _ url: String, _ headers: [(name: String, value: String)], _ body: [UInt8],
    _ credentials: AWSCredentials, _ region: String, _ service: String, _ date: Date
) -> [(name: String, value: String)]

/// Calls STS over an `HTTPTransport`. A value type: the transport, options, clock, signer,
/// sleep and jitter all come from the caller, so tests run on fakes and fixed clocks.
public struct STSClient: Sendable {
    public struct Options: Sendable, Equatable {
        public var http: HTTPOptions
        public var retry: RetryPolicy

        public init(http: HTTPOptions = HTTPOptions(), retry: RetryPolicy = RetryPolicy()) {
            self.http = http
            self.retry = retry
        }
    }

    public var transport: any HTTPTransport
    public var options: Options
    public var clock: @Sendable () -> Date
    public var sign: STSSigningFunction
    /// Blocks for the given number of seconds between attempts.
    public var sleep: @Sendable (Double) -> Void
    /// A uniform random number in [0, 1) for backoff jitter.
    public var jitter: @Sendable () -> Double
    /// Told when STS refused a request's timestamp and the request was re-signed with STS's time:
    /// the seconds STS's clock is ahead of ours (negative: behind). The caller warns the user —
    /// the local clock is wrong, and everything else signed on this machine suffers too.
    public var onClockSkewCorrected: (@Sendable (Double) -> Void)?

    public init(transport: any HTTPTransport, options: Options = Options(), clock: @escaping @Sendable () -> Date,
                sign: @escaping STSSigningFunction,
                sleep: @escaping @Sendable (Double) -> Void = sleepSeconds,
                jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.transport = transport
        self.options = options
        self.clock = clock
        self.sign = sign
        self.sleep = sleep
        self.jitter = jitter
    }

    /// [AssumeRole](https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html):
    /// temporary credentials for `request.roleArn`, signed with `credentials`.
    /// Throws `STSError`; an error thrown by the transport that is not a `TransportError`
    /// (a test double's, say) passes through unchanged.
    public func assumeRole(_ request: AssumeRoleRequest, credentials: AWSCredentials, endpoint: STSEndpoint) throws
        -> (credentials: AWSCredentials, assumedRoleArn: String)
    {
        let result = try perform(
            action: "AssumeRole", parameters: request.formParameters, credentials: credentials, endpoint: endpoint,
            decode: STSResponseDecoder.decodeAssumeRole)
        // decodeAssumeRole insists on <AssumedRoleUser>.
        return (result.credentials, result.assumedRoleUser?.arn ?? "")
    }

    /// One Query-protocol call with retries, deadline and clock-skew correction.
    /// `credentials == nil` sends the request unsigned (AssumeRoleWithWebIdentity).
    /// `service` is the SigV4 service name: `sts`, or `iam` for the IAM Query calls that share
    /// this transport, retry and signing (IAMCalls.swift).
    func perform<Result>(
        action: String, parameters: [(name: String, value: String)], credentials: AWSCredentials?,
        endpoint: STSEndpoint, service: String = "sts", decode: ([UInt8]) throws -> Result
    ) throws -> Result {
        let endpointForMessages = redactUserInfo(endpoint.url)
        let policy = options.retry
        var skew: Double = 0
        var skewCorrected = false
        var sent = 0
        // The offset STS's Date header showed, when it refused our timestamp.
        var measuredSkew: Double?

        func attempt(_ http: HTTPOptions) throws -> RetryPolicy.Outcome<Result, STSError> {
            var request = STSRequestBuilder.request(parameters: parameters, endpoint: endpoint)
            if let credentials {
                let date = clock().addingTimeInterval(skew)
                request.headers += sign(
                    request.method, request.url, request.headers, request.body, credentials,
                    endpoint.signingRegion, service, date)
            }

            let error: STSError
            var serverDate: Date?
            do {
                sent += 1
                let response = try transport.send(request, options: http)
                if (200..<300).contains(response.status) {
                    return .success(try decode(response.body))
                }
                serverDate = response.header("Date").flatMap(Timestamps.parseHTTPDate)
                if let document = try? STSResponseDecoder.decodeError(response.body) {
                    error = STSError(.service(document, status: response.status, action: action, region: endpoint.signingRegion))
                } else {
                    error = STSError(.unexpectedResponse(status: response.status, action: action, endpoint: endpointForMessages))
                }
            } catch let transportError as TransportError {
                error = STSError(.transport(transportError, action: action, endpoint: endpointForMessages))
            }

            if error.isClockSkew, let serverDate {
                let measured = serverDate.timeIntervalSince(clock())
                measuredSkew = measured
                // Below a minute the clock is not what STS objects to; re-signing would not help.
                if policy.correctsClockSkew, !skewCorrected, abs(measured - skew) >= 60 {
                    skew = measured
                    skewCorrected = true
                    onClockSkewCorrected?(measured)
                    return .resend(error)
                }
            }
            return error.isRetryable ? .retryable(error) : .final(error)
        }

        do {
            return try policy.run(http: options.http, clock: clock, sleep: sleep, jitter: jitter, attempt)
        } catch var error as STSError {
            error.attempts = sent
            if error.isClockSkew { error.clockOffset = measuredSkew }
            throw error
        }
    }

}
