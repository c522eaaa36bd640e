// config-ini: AWSConfig's INI reader and profile resolution —
//   INIDocument.parse(_ bytes: [UInt8], path:) / parse(_ text: String, path:) / parseHeaders, ConfigFiles,
//   ProfileResolver(files:environment:policy: .stscache(...)).resolve(profile:) and
//   .profiles(resolvingToRoleArn:sessionName:) — the resolver with stscache's ResolutionPolicy
//   and delegation (Credentials), as stscache runs it.
//
// Any bytes as ~/.aws/config (and, after a NUL byte, ~/.aws/credentials): parsing and resolving
// every profile must end in a value or a ConfigError — no crash, no hang on source_profile loops
// — and neither an error message nor a resolved profile's description may show a secret key.
//
// Every profile is resolved under two environments: keys only (so credential_source =
// Environment gives long-term keys, the MFA-session path), and keys with a session token plus
// AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN / AWS_ROLE_SESSION_NAME (the web identity path that
// the environment turns on for the profile asked for).
//
// Secrets are checked with markers: after parsing, every aws_secret_access_key,
// aws_session_token and aws_security_token value (and the environment's secrets) is replaced by
// a marker that occurs nowhere else, so a marker in a message can only have come from a secret —
// a secret that happens to equal words of a message template cannot raise a false alarm.
import AWSConfig
import FuzzSupport
import Credentials  // delegation and stscache's resolver

let markerPrefix = "\u{2039}secret-"
// aws_security_token: the legacy name for aws_session_token, which botocore (and the resolver) still read.
let secretKeys = ["aws_secret_access_key", "aws_session_token", "aws_security_token"]
let environmentSecret = "\(markerPrefix)env\u{203A}"
let environmentToken = "\(markerPrefix)env-token\u{203A}"
let environments: [[String: String]] = [
    ["AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDFROMENVIRONMENT",
     "AWS_SECRET_ACCESS_KEY": environmentSecret],
    ["AWS_ACCESS_KEY_ID": "ASIAFROMENVIRONMENT", "AWS_SECRET_ACCESS_KEY": environmentSecret,
     "AWS_SESSION_TOKEN": environmentToken, "AWS_WEB_IDENTITY_TOKEN_FILE": "/fuzz/token",
     "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/FromEnvironment", "AWS_ROLE_SESSION_NAME": "fuzz-session",
     "STSCACHE_MFA_SESSION_DURATION": "2h"],
]

/// `document` with each non-empty secret value replaced by a numbered marker.
func hidingSecrets(_ document: INIDocument, from first: Int) -> (INIDocument, [String]) {
    var markers: [String] = []
    let sections = document.sections.map { section in
        var section = section
        for key in secretKeys {
            guard let value = section.values[key], !value.text.isEmpty else { continue }
            let marker = "\(markerPrefix)\(first + markers.count)\u{203A}"
            section.values[key] = INIValue(text: marker, location: value.location, subValues: value.subValues)
            markers.append(marker)
        }
        return section
    }
    return (INIDocument(path: document.path, sections: sections), markers)
}

/// Resolves `name`: a role with a role ARN, or a ConfigError with a message; neither shows a secret.
func check(_ resolver: ProfileResolver, _ name: String) {
    do throws(ConfigError) {
        let role = try resolver.resolve(profile: name)
        invariant(!role.roleArn.isEmpty, "profile \(name.debugDescription) resolved to an empty role_arn")
        let shown = String(describing: role)
        invariant(!shown.contains(markerPrefix), "a resolved profile's description shows a secret: \(shown)")
    } catch {
        invariant(!error.message.isEmpty, "ConfigError \(error.code) without a message")
        invariant(!error.message.contains(markerPrefix), "resolve error shows a secret: \(error.message)")
    }
}

fuzz { input in
    let bytes = input.bytes
    if input.text.contains(markerPrefix) { return }
    let split = bytes.firstIndex(of: 0) ?? bytes.count
    let configBytes = Array(bytes[..<split])
    let credentialsBytes: [UInt8]? = split < bytes.count ? Array(bytes[(split + 1)...]) : nil

    func parse(_ bytes: [UInt8], path: String) -> INIDocument? {
        do throws(ConfigError) {
            let document = try INIDocument.parse(bytes, path: path)
            // The String entry point reads valid UTF-8 exactly as the byte entry point does.
            if let text = String(validating: bytes, as: UTF8.self) {
                let again = try? INIDocument.parse(text, path: path)
                invariant(again?.sections == document.sections, "parse(String) and parse([UInt8]) disagree")
            }
            // Shell completion's headers-only reading finds the same sections and keeps no value.
            let headers = try? INIDocument.parseHeaders(bytes, path: path)
            invariant(headers?.sections.map(\.name) == document.sections.map(\.name), "parseHeaders and parse disagree")
            invariant(headers?.sections.allSatisfy { $0.values.isEmpty } == true, "parseHeaders kept a value")
            return document
        } catch {
            invariant(!error.message.isEmpty, "ConfigError \(error.code) without a message")
            return nil
        }
    }
    var hidden = [environmentSecret, environmentToken]
    var config = parse(configBytes, path: "/fuzz/.aws/config")
    var credentials = credentialsBytes.flatMap { parse($0, path: "/fuzz/.aws/credentials") }
    if config == nil && credentials == nil { return }
    if let document = config {
        let (rewritten, markers) = hidingSecrets(document, from: hidden.count)
        config = rewritten
        hidden += markers
    }
    if let document = credentials {
        let (rewritten, markers) = hidingSecrets(document, from: hidden.count)
        credentials = rewritten
        hidden += markers
    }

    let files = ConfigFiles(config: config, credentials: credentials,
                            configPath: "/fuzz/.aws/config", credentialsPath: "/fuzz/.aws/credentials")
    for name in files.profileNames.prefix(64) {
        invariant(files.profile(named: name) != nil, "profileNames lists \(name.debugDescription) but profile(named:) is nil")
        _ = files.credentialProcess(forProfile: name)
        _ = files.delegatedProfile(forProfile: name)
    }
    let resolvers = environments.map { ProfileResolver(files: files, environment: $0, policy: .stscache(userName: { "fuzz" })) }
    for resolver in resolvers {
        for name in files.profileNames.prefix(64) {
            check(resolver, name)
        }
    }
    _ = resolvers[0].profiles(resolvingToRoleArn: "arn:aws:iam::123456789012:role/Admin", sessionName: "alice")
}
