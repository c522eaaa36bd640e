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
import STS
import StscacheSupport

/// The `STSCACHE_CHAIN` marker: the profiles an stscache process is resolving while it runs a
/// `credential_process` helper. A helper that calls stscache back for one of them would start
/// the same helper again, forever; the inner stscache sees its profile in the marker and stops.
///
/// Value: profile names joined with `,` (`%` and `,` inside a name percent-encoded).
package enum ProcessChain {
    package static let variable = "STSCACHE_CHAIN"

    package static func names(in environment: [String: String]) -> [String] {
        guard let value = environment[variable], !value.isEmpty else { return [] }
        return value.split(separator: ",", omittingEmptySubsequences: true).map { decode(String($0)) }
    }

    package static func encode(_ names: [String]) -> String {
        names.map { name in
            var out = ""
            for character in name {
                switch character {
                case "%": out += "%25"
                case ",": out += "%2C"
                default: out.append(character)
                }
            }
            return out
        }.joined(separator: ",")
    }

    private static func decode(_ name: String) -> String {
        var out = ""
        var rest = Substring(name)
        while let first = rest.first {
            if first == "%" {
                let escape = rest.prefix(3).uppercased()
                if escape == "%2C" { out += ","; rest = rest.dropFirst(3); continue }
                if escape == "%25" { out += "%"; rest = rest.dropFirst(3); continue }
            }
            out.append(first)
            rest = rest.dropFirst()
        }
        return out
    }

    /// Throws when `profile` is already being resolved by an stscache up the process tree.
    package static func refuseLoop(profile: String, environment: [String: String]) throws(SourceError) {
        let chain = names(in: environment)
        guard chain.contains(profile) else { return }
        throw SourceError(
            .processLoop,
            "profile \"\(profile)\" is already being resolved by the stscache that started this one "
                + "(\(variable): \((chain + [profile]).joined(separator: " -> "))): a credential_process on that path "
                + "calls stscache back, which would loop forever. Give that source profile its own credentials "
                + "(keys, or a helper that does not call stscache for these profiles).")
    }

    /// The helper's environment: ours, plus the marker extended with `profiles`.
    package static func environment(_ base: [String: String], adding profiles: [String]) -> [String: String] {
        var environment = base
        var chain = names(in: base)
        for name in profiles where !chain.contains(name) { chain.append(name) }
        environment[variable] = encode(chain)
        return environment
    }
}

/// A source profile's `credential_process`: run it, validate its Version-1 JSON by botocore's
/// rules (`ProcessProvider`), and hand back its credentials. Not cached by stscache: it runs
/// only when the role session on top of it needs (re)assuming, and helpers cache their own.
package struct ProcessCredentialSource {
    /// Long enough for an SSO helper's browser sign-in.
    package static let defaultTimeout: Double = 300
    package static let outputLimit = 64 * 1024

    package var timeout: Double = defaultTimeout

    /// - Parameters:
    ///   - profile: the source profile holding `credential_process` (for messages and the marker).
    ///   - roleProfile: the role it is the source of (also put in the marker).
    package func credentials(command: String, profile: String, roleProfile: String, environment: [String: String],
                     now: Date) throws(SourceError) -> AWSCredentials {
        let childEnvironment = ProcessChain.environment(environment, adding: [roleProfile, profile])
        let what = "the credential_process of profile \"\(profile)\" (the source of \"\(roleProfile)\")"
        let helper: HelperCommand
        do {
            helper = try HelperCommand.parse(command, environment: childEnvironment)
        } catch {
            throw SourceError(.processCouldNotStart, error.message(for: what))
        }
        let outcome: CapturedProcess.Outcome
        do {
            outcome = try helper.run(environment: childEnvironment, timeout: timeout, outputLimit: Self.outputLimit)
        } catch {
            switch error {
            case .couldNotStart(let code):
                throw SourceError(.processCouldNotStart, "could not start \(what) (\(helper.path)): \(String(cString: strerror(code))).")
            case .timedOut(let seconds):
                throw SourceError(
                    .processTimedOut,
                    "\(what) did not finish within \(Int(seconds)) seconds and was stopped; check that it does not wait "
                        + "for input (set STSCACHE_PROCESS_TIMEOUT to allow longer).")
            case .outputTooLarge(let limit):
                throw SourceError(
                    .processOutputTooLarge,
                    "\(what) printed more than \(limit) bytes; it must print only the credentials JSON on stdout.")
            }
        }
        guard outcome.termination.succeeded else {
            throw SourceError(
                .processFailed,
                "\(what) failed with \(outcome.termination.text); its error output, if any, is above. "
                    + "Run it by hand to see what it needs.")
        }
        return try Self.parse(outcome.stdout, what: what, now: now)
    }

    /// botocore's rules: a JSON object, `Version` 1, `AccessKeyId` and `SecretAccessKey`
    /// required, `SessionToken` optional, `Expiration` optional (RFC 3339). Expired
    /// credentials are refused. Messages never quote the output.
    package static func parse(_ output: [UInt8], what: String, now: Date) throws(SourceError) -> AWSCredentials {
        guard let document = JSONObjectFields.parse(output) else {
            throw SourceError(
                .processInvalidOutput,
                "\(what) did not print a JSON object on stdout (\(output.count) bytes); it must print the "
                    + "credential_process Version 1 JSON and nothing else.")
        }
        guard case .number(1)? = document["Version"] else {
            let found = document["Version"].map { "'\($0.text)'" } ?? "none"
            throw SourceError(
                .processInvalidOutput,
                "\(what) printed an unsupported Version (\(found)); only \"Version\": 1 is supported.")
        }
        var missing: [String] = []
        let accessKeyId = document.string("AccessKeyId")
        let secret = document.string("SecretAccessKey")
        if accessKeyId == nil { missing.append("AccessKeyId") }
        if secret == nil { missing.append("SecretAccessKey") }
        guard let accessKeyId, let secret else {
            throw SourceError(
                .processInvalidOutput, "\(what) printed JSON without \(missing.joined(separator: " and ")) (required).")
        }
        for optional in ["SessionToken", "Expiration"] {
            if let value = document[optional], value != .null, document.string(optional) == nil {
                throw SourceError(.processInvalidOutput, "\(what) printed a \(optional) that is not a non-empty string.")
            }
        }
        var expiration: Date?
        if let text = document.string("Expiration") {
            guard let parsed = Timestamps.parseRFC3339(text) else {
                throw SourceError(
                    .processInvalidOutput,
                    "\(what) printed an Expiration that is not an RFC 3339 timestamp (like 2026-11-29T12:34:56Z).")
            }
            guard parsed > now else {
                throw SourceError(
                    .processExpired,
                    "\(what) printed credentials that expired at \(Timestamps.formatRFC3339(parsed)); check its own cache "
                        + "or sign in with it again.")
            }
            expiration = parsed
        }
        return AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secret,
                              sessionToken: document.string("SessionToken"), expiration: expiration)
    }
}
