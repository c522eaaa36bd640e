#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SigV4
import STS
import Transport
import StscacheSupport

/// `credential_source = Ec2InstanceMetadata`: the instance role's credentials from IMDSv2,
/// following botocore's `InstanceMetadataFetcher`: a session token from
/// `PUT /latest/api/token`, then `GET /latest/meta-data/iam/security-credentials/` for the
/// role name and `.../<role>` for the credentials, with a one-second timeout and one attempt
/// unless configured otherwise. A token endpoint that answers 403/404/405 or times out means
/// an IMDSv1-only service: the GETs go without a token (unless `AWS_EC2_METADATA_V1_DISABLED`).
///
/// Environment: `AWS_EC2_METADATA_DISABLED`, `AWS_EC2_METADATA_SERVICE_ENDPOINT`,
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4`/`IPv6`), `AWS_EC2_METADATA_V1_DISABLED`,
/// `AWS_METADATA_SERVICE_TIMEOUT`, `AWS_METADATA_SERVICE_NUM_ATTEMPTS`.
package struct InstanceMetadataSource {
    package static let defaultEndpoint = "http://169.254.169.254"
    package static let ipv6Endpoint = "http://[fd00:ec2::254]"
    package static let tokenPath = "/latest/api/token"
    package static let credentialsPath = "/latest/meta-data/iam/security-credentials/"
    package static let tokenTTL = "21600"

    package var transport: any HTTPTransport
    package var environment: [String: String]

    package func credentials() throws(SourceError) -> AWSCredentials {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            throw SourceError(
                .imdsDisabled,
                "credential_source = Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED=true turns the instance "
                    + "metadata service off; unset it, or use another credential_source.")
        }
        let base = try endpoint()
        let timeout = environment["AWS_METADATA_SERVICE_TIMEOUT"].flatMap(NetworkSettings.seconds) ?? 1
        let attempts = max(1, min(environment["AWS_METADATA_SERVICE_NUM_ATTEMPTS"].flatMap { Int($0) } ?? 1, 10))
        // The metadata service is link-local: never through a proxy.
        let options = HTTPOptions(connectTimeout: timeout, totalTimeout: timeout * 2, maxResponseBytes: 64 * 1024)

        let token = try sessionToken(base: base, options: options, attempts: attempts)
        var headers: [(name: String, value: String)] = []
        if let token { headers.append((name: "X-aws-ec2-metadata-token", value: token)) }

        let listing = try get(base, Self.credentialsPath, headers: headers, options: options, attempts: attempts,
                              what: "the instance's role name")
        guard let roleName = String(decoding: listing, as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map({ $0.trimmingWhitespace() }),
            !roleName.isEmpty
        else {
            throw SourceError(.imdsNoRole, "the instance metadata service at \(base) lists no IAM role: attach an instance profile with a role to this instance.")
        }
        let body = try get(base, Self.credentialsPath + roleName, headers: headers, options: options,
                           attempts: attempts, what: "the credentials of instance role \(roleName)")
        return try Self.decodeCredentials(body, from: "the instance metadata service (role \(roleName))",
                                          code: .imdsBadResponse, tokenField: "Token")
    }

    private func endpoint() throws(SourceError) -> String {
        var url: String
        if let configured = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"], !configured.isEmpty {
            url = configured
        } else if environment["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6" {
            url = Self.ipv6Endpoint
        } else {
            url = Self.defaultEndpoint
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > lower.prefix(while: { $0 != ":" }).count + 3 else {
            throw SourceError(
                .imdsInvalidEndpoint,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT = \(url) is not an http(s) URL; use e.g. http://169.254.169.254.")
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// botocore: 200 → token; 403/404/405 or a read timeout → IMDSv1; 400 → error.
    private func sessionToken(base: String, options: HTTPOptions, attempts: Int) throws(SourceError) -> String? {
        let request = HTTPRequest(method: "PUT", url: base + Self.tokenPath,
                                  headers: [(name: "X-aws-ec2-metadata-token-ttl-seconds", value: Self.tokenTTL)])
        var lastFailure = ""
        for _ in 0..<attempts {
            do {
                let response = try transport.send(request, options: options)
                switch response.status {
                case 200:
                    let token = String(decoding: response.body, as: UTF8.self).trimmingWhitespace()
                    if !token.isEmpty { return token }
                    lastFailure = "an empty token"
                case 403, 404, 405:
                    return try fallbackToV1(base: base, reason: "HTTP \(response.status)")
                case 400:
                    throw SourceError(.imdsBadResponse, "the instance metadata service at \(base) refused the token request (HTTP 400).")
                default:
                    lastFailure = "HTTP \(response.status)"
                }
            } catch let error as SourceError {
                throw error
            } catch TransportError.timedOut {
                return try fallbackToV1(base: base, reason: "a timeout")
            } catch {
                lastFailure = Self.describe(error)
            }
        }
        throw unavailable(base, lastFailure)
    }

    private func fallbackToV1(base: String, reason: String) throws(SourceError) -> String? {
        if environment["AWS_EC2_METADATA_V1_DISABLED"]?.lowercased() == "true" {
            throw SourceError(
                .imdsUnavailable,
                "the instance metadata service at \(base) gave no IMDSv2 token (\(reason)) and "
                    + "AWS_EC2_METADATA_V1_DISABLED=true forbids IMDSv1.")
        }
        return nil
    }

    private func get(_ base: String, _ path: String, headers: [(name: String, value: String)], options: HTTPOptions, attempts: Int,
                     what: String) throws(SourceError) -> [UInt8] {
        var lastFailure = ""
        for _ in 0..<attempts {
            do {
                let response = try transport.send(HTTPRequest(method: "GET", url: base + path, headers: headers), options: options)
                if response.status == 200, !response.body.isEmpty { return response.body }
                if response.status == 404 {
                    throw SourceError(
                        .imdsNoRole,
                        "the instance metadata service has no \(what) (HTTP 404): attach an instance profile with a "
                            + "role to this instance.")
                }
                lastFailure = response.status == 200 ? "an empty answer" : "HTTP \(response.status)"
            } catch let error as SourceError {
                throw error
            } catch {
                lastFailure = Self.describe(error)
            }
        }
        throw unavailable(base, "getting \(what): \(lastFailure)")
    }

    private func unavailable(_ base: String, _ failure: String) -> SourceError {
        SourceError(
            .imdsUnavailable,
            "could not reach the instance metadata service at \(base) (\(failure)); credential_source = "
                + "Ec2InstanceMetadata works only on an EC2 instance (or with AWS_EC2_METADATA_SERVICE_ENDPOINT "
                + "pointing at one), with the metadata service enabled and a hop limit that reaches this process.")
    }

    package static func describe(_ error: any Error) -> String {
        if let error = error as? TransportError { return error.message }
        return "\(error)"
    }

    /// The credentials document IMDS and the container endpoint both send:
    /// `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` (all required), and for IMDS a
    /// `Code` that must be `Success` when present.
    package static func decodeCredentials(_ body: [UInt8], from source: String, code: SourceError.Code,
                                  tokenField: String) throws(SourceError) -> AWSCredentials {
        guard let document = JSONObjectFields.parse(body) else {
            throw SourceError(code, "\(source) answered with something that is not a JSON object.")
        }
        if let status = document.string("Code"), status != "Success" {
            throw SourceError(code, "\(source) reported \(status) instead of credentials.")
        }
        let required = ["AccessKeyId", "SecretAccessKey", tokenField, "Expiration"]
        let missing = required.filter { document.string($0) == nil }
        guard missing.isEmpty, let accessKeyId = document.string("AccessKeyId"),
              let secret = document.string("SecretAccessKey"), let token = document.string(tokenField),
              let expirationText = document.string("Expiration")
        else {
            throw SourceError(code, "\(source) answered without \(missing.joined(separator: ", ")).")
        }
        guard let expiration = Timestamps.parseRFC3339(expirationText) else {
            throw SourceError(code, "\(source) sent an Expiration that is not an RFC 3339 timestamp.")
        }
        return AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
