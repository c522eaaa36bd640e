// PENDING (not built yet): needs AWSConfig's INI reader and profile resolution —
//   INIDocument.parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> INIDocument
//   INIDocument.parse(_ text: String, path: String) throws(ConfigError) -> INIDocument
//   ConfigFiles(config:credentials:configPath:credentialsPath:), .profileNames,
//     .profile(named:), .credentialProcess(forProfile:), .delegatedProfile(forProfile:)
//   ProfileResolver(files:environment:userName:).resolve(profile:) throws(ConfigError) -> RoleProfile,
//     .profiles(resolvingToRoleArn:sessionName:)
//   INIDocument(path:sections:), INIValue(text:location:subValues:), INISection.values (var)
// Wiring it in: fuzz/README.md, "Wiring in a pending target".
//
// Any bytes as ~/.aws/config (and, after a NUL byte, ~/.aws/credentials): parsing and resolving
// every profile must end in a value or a ConfigError — no crash, no hang on source_profile loops
// — and neither an error message nor a resolved profile's description may show a secret key.
//
// Secrets are checked with markers: after parsing, every aws_secret_access_key and
// aws_session_token value (and the environment's secret) is replaced by a marker that occurs
// nowhere else, so a marker in a message can only have come from a secret — a secret that
// happens to equal words of a message template cannot raise a false alarm.
import AWSConfig
import FuzzSupport

let markerPrefix = "\u{2039}secret-"
let secretKeys = ["aws_secret_access_key", "aws_session_token"]
let environmentSecret = "\(markerPrefix)env\u{203A}"

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
            return document
        } catch {
            invariant(!error.message.isEmpty, "ConfigError \(error.code) without a message")
            return nil
        }
    }
    var hidden = [environmentSecret]
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
    let resolver = ProfileResolver(
        files: files,
        environment: ["AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDFROMENVIRONMENT",
                      "AWS_SECRET_ACCESS_KEY": environmentSecret],
        userName: "fuzz")
    for name in files.profileNames.prefix(64) {
        invariant(files.profile(named: name) != nil, "profileNames lists \(name.debugDescription) but profile(named:) is nil")
        _ = files.credentialProcess(forProfile: name)
        _ = files.delegatedProfile(forProfile: name)
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
    _ = resolver.profiles(resolvingToRoleArn: "arn:aws:iam::123456789012:role/Admin", sessionName: "alice")
}
