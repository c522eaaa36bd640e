// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for stscache, built only by scripts/fuzz (see fuzz/README.md):
//
//     swift build --package-path fuzz --scratch-path .build-fuzz -c release \
//         -Xswiftc -sanitize=fuzzer,address --product <fuzzer>
//
// A package of its own so the main package's `swift build` / `swift test` never see a fuzzer
// and its Package.swift stays as it is. The libraries under test are the main package's own
// source folders, reached through symlinks in Sources/ (SwiftPM refuses target paths outside
// the package root, and the main package exports no library products to depend on). The
// symlinked targets must mirror the main package's dependency graph.
//
// Every harness is an executable whose main.swift calls `fuzz { input in ... }` (FuzzSupport).
// Adding one: write Sources/Fuzz<Name>/main.swift, add a `fuzzer(...)` line below, add seeds in
// corpus/<name>/ (and a max_len in scripts/fuzz if 4096 bytes is not right).

/// One harness: `name` is the product (and the name scripts/fuzz and corpus/ use), the target
/// is `Fuzz` + the name in UpperCamelCase, written out so a search finds it.
func fuzzer(_ name: String, _ target: String, _ dependencies: [Target.Dependency]) -> (Product, Target) {
    (.executable(name: name, targets: [target]),
     .executableTarget(name: target, dependencies: ["FuzzSupport"] + dependencies))
}

let fuzzers: [(Product, Target)] = [
    fuzzer("sigv4-canonical", "FuzzSigV4Canonical", ["SigV4"]),
    fuzzer("sigv4-sign", "FuzzSigV4Sign", ["SigV4"]),
    fuzzer("aes-gcm-open", "FuzzAESGCMOpen", ["OpenSSLCrypto"]),
    fuzzer("hex-decode", "FuzzHexDecode", ["OpenSSLCrypto"]),
    fuzzer("config-ini", "FuzzConfigINI", ["AWSConfig", "Credentials"]),
    fuzzer("sts-response", "FuzzSTSResponse", ["STS"]),
    fuzzer("cache-entry", "FuzzCacheEntry", ["CredentialCache"]),
    fuzzer("access-key-store", "FuzzAccessKeyStore", ["CredentialCache"]),
    fuzzer("session-display", "FuzzSessionDisplay", ["CredentialCache", "Credentials", "StscacheCommands"]),
    fuzzer("endpoint-request", "FuzzEndpointRequest", ["Credentials", "LocalEndpoint", "SignIn"]),
    fuzzer("login-session-file", "FuzzLoginSessionFile", ["Credentials"]),
]

let package = Package(
    name: "stscache-fuzz",
    products: fuzzers.map(\.0),
    dependencies: [
        // The command layer's parser (session-display reaches prompt's and list's rendering).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: fuzzers.map(\.1) + [
        // Harness support: the libFuzzer entry point and a byte-splitting input reader.
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        // Declares LLVMFuzzerRunDriver; the symbol comes from the runtime -sanitize=fuzzer links.
        .systemLibrary(name: "CLibFuzzer"),

        // The main package's libraries (symlinks into ../Sources), same graph as ../Package.swift.
        .target(name: "StscacheSupport", dependencies: ["CProcessControl"]),
        .target(name: "SigV4", dependencies: ["OpenSSLCrypto", "StscacheSupport"]),
        .target(name: "OpenSSLCrypto", dependencies: ["COpenSSL", "StscacheSupport"]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto"),
        .target(name: "AWSConfig", dependencies: ["StscacheSupport"]),
        .target(name: "STS", dependencies: ["SigV4", "Transport", "StscacheSupport"]),
        .target(name: "Transport", dependencies: ["CCurlShim", "StscacheSupport"]),
        .target(name: "CCurlShim", linkerSettings: [.linkedLibrary("dl")]),
        // cache-entry reaches EntryFormat (internal) through @testable import:
        .target(name: "CredentialCache", dependencies: ["OpenSSLCrypto", "CKeyring", "StscacheSupport"],
                swiftSettings: [.unsafeFlags(["-enable-testing"])]),
        .target(name: "CKeyring"),
        .target(name: "Credentials",
                dependencies: ["AWSConfig", "SigV4", "STS", "Transport", "CredentialCache", "OpenSSLCrypto", "StscacheSupport"]),
        // session-display reaches PromptCommand and ListCommand (internal) through @testable import:
        .target(name: "LocalEndpoint", dependencies: ["SigV4", "OpenSSLCrypto", "StscacheSupport", "CProcessControl"]),
        .target(name: "KeepWarm",
                dependencies: ["Credentials", "AWSConfig", "CredentialCache", "StscacheSupport", "CProcessControl"]),
        .target(name: "SignIn",
                dependencies: ["Credentials", "LocalEndpoint", "AWSConfig", "CredentialCache", "SigV4", "STS", "Transport",
                               "OpenSSLCrypto", "StscacheSupport"]),
        .target(name: "Setup", dependencies: ["Credentials", "AWSConfig", "CredentialCache", "SigV4", "STS", "StscacheSupport"]),
        .target(name: "StscacheCommands",
                dependencies: ["Credentials", "LocalEndpoint", "KeepWarm", "SignIn", "Setup",
                               "AWSConfig", "SigV4", "STS", "Transport", "CredentialCache", "StscacheSupport", "CProcessControl",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: [.unsafeFlags(["-enable-testing"])]),
        .target(name: "CProcessControl"),
    ]
)
