#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SigV4
import Transport
import StscacheSupport

/// `credential_source = EcsContainer`: the task role's credentials from the container
/// credentials endpoint, following botocore's `ContainerProvider`:
///
/// - `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` → `http://169.254.170.2<uri>` (no Authorization);
/// - else `AWS_CONTAINER_CREDENTIALS_FULL_URI`, whose host must be a loopback address or one of
///   the ECS / EKS Pod Identity agent addresses, with the `Authorization` header from
///   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on every call) or
///   `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
/// - a 2-second timeout, 3 attempts a second apart.
package struct ContainerCredentialsSource {
    package static let relativeBase = "http://169.254.170.2"
    package static let allowedHosts = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"]
    package static let attempts = 3

    package var transport: any HTTPTransport
    package var environment: [String: String]
    package var sleep: @Sendable (Double) -> Void

    package func credentials() throws(SourceError) -> AWSCredentials {
        let url: String
        var headers: [(name: String, value: String)] = [(name: "Accept", value: "application/json")]
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            url = Self.relativeBase + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            try Self.checkAllowed(full)
            url = full
            if let token = try authorizationToken() { headers.append((name: "Authorization", value: token)) }
        } else {
            throw SourceError(
                .containerNotConfigured,
                "credential_source = EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
                    + "AWS_CONTAINER_CREDENTIALS_FULL_URI is set; ECS and EKS Pod Identity set them inside the "
                    + "container. Outside one, use another credential_source.")
        }
        let options = HTTPOptions(connectTimeout: 2, totalTimeout: 4, maxResponseBytes: 64 * 1024)
        let shown = Self.redactQuery(url)
        var lastFailure = ""
        for attempt in 1...Self.attempts {
            if attempt > 1 { sleep(1) }
            do {
                let response = try transport.send(HTTPRequest(method: "GET", url: url, headers: headers), options: options)
                if response.status == 200 {
                    return try InstanceMetadataSource.decodeCredentials(
                        response.body, from: "the container credentials endpoint \(shown)",
                        code: .containerBadResponse, tokenField: "Token")
                }
                lastFailure = "HTTP \(response.status)"
                // A refusal will not change on retry.
                if response.status == 401 || response.status == 403 || response.status == 404 { break }
            } catch let error as SourceError {
                throw error
            } catch {
                lastFailure = InstanceMetadataSource.describe(error)
            }
        }
        throw SourceError(
            .containerUnavailable,
            "could not get credentials from the container credentials endpoint \(shown) (\(lastFailure)); check the "
                + "task role (ECS) or pod identity association (EKS) and, for FULL_URI, the authorization token.")
    }

    private func value(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    private func authorizationToken() throws(SourceError) -> String? {
        let token: String
        if let path = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            let bytes: [UInt8]
            switch BoundedRead.regularFile(atPath: path, limit: 16 * 1024) {
            case .success(let read): bytes = read
            case .failure(let failure):
                throw SourceError(
                    .containerTokenUnreadable,
                    "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): \(failure.reason).")
            }
            token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        } else if let inline = value("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            token = inline
        } else {
            return nil
        }
        guard !token.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
            throw SourceError(.containerTokenUnreadable, "the container authorization token contains a line break; it must be a single line.")
        }
        return token.isEmpty ? nil : token
    }

    /// botocore's rule: a loopback address, or one of the container agents' link-local addresses.
    package static func checkAllowed(_ url: String) throws(SourceError) {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), let host = host(of: url) else {
            throw SourceError(
                .containerHostNotAllowed,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI = \(redactQuery(url)) is not an http(s) URL.")
        }
        if isLoopback(host) || allowedHosts.contains(host.lowercased()) { return }
        throw SourceError(
            .containerHostNotAllowed,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI points at \(host), but container credentials are only fetched from a "
                + "loopback address or \(allowedHosts.joined(separator: ", ")), as the AWS SDKs require.")
    }

    /// The URL's host without brackets, user info or port.
    package static func host(of url: String) -> String? {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        var authority = url[url.index(colon, offsetBy: 3)...].prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let host = authority[authority.index(after: authority.startIndex)..<close]
            return host.isEmpty ? nil : String(host)
        }
        let host = authority.prefix(while: { $0 != ":" })
        return host.isEmpty ? nil : String(host)
    }

    /// 127.0.0.0/8 (dotted quad) and ::1.
    package static func isLoopback(_ host: String) -> Bool {
        if host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && Int(part).map { $0 <= 255 } == true
        }) else { return false }
        return parts[0] == "127"
    }

    /// Query strings can carry credentials-like values; messages show the path only.
    package static func redactQuery(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        return String(url[..<question]) + "?…"
    }
}
