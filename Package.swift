// swift-tools-version:6.0
import PackageDescription

// Release builds: `swift build -c release --static-swift-stdlib --product stscache` (see
// scripts/build; the product alone, as TestSupport imports Testing, which the static resource
// directory lacks).
// The hit path (credential-process answered from cache) and `prompt` must stay near process
// start-up cost, so libcurl is never linked: Transport loads it with dlopen on first use.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

// libcrypto: on Linux the static archive from libssl-dev, so a cache hit pays neither the shared
// library's load and symbol binding nor a search of the RUNPATH for it (1.4 ms of a 5.4 ms hit,
// measured by bench/run). Its symbols stay private to the binary (Swift links executables with
// --exclude-libs ALL), so the shared libcrypto that libcurl's libssl brings on a miss keeps its
// own state and its own openssl.cnf. No pkg-config there: its `-lcrypto` would link the shared
// library as well.
#if os(Linux)
let libcryptoPkgConfig: String? = nil
let libcryptoLink: [LinkerSetting] = [.linkedLibrary(":libcrypto.a")]
#else
let libcryptoPkgConfig: String? = "libcrypto"
let libcryptoLink: [LinkerSetting] = [.linkedLibrary("crypto")]
#endif

let package = Package(
    name: "stscache",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stscache", targets: ["stscache"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .executableTarget(
            name: "stscache",
            dependencies: ["StscacheCommands"],
            swiftSettings: strict,
            // No dynamic symbol table of our own: nothing loads symbols from the executable, and
            // the runtime's first dladdr (locating its root path) scans every exported symbol
            // on each start; the module split made ~500 more of them `package`.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))]),
        // The commands: swift-argument-parser's tree (FastPath for the hot command lines), one file
        // per command; parses, calls the feature targets below, prints.
        .target(
            name: "StscacheCommands",
            dependencies: [
                "Credentials", "LocalEndpoint", "KeepWarm", "SignIn", "Setup",
                "AWSConfig", "SigV4", "STS", "Transport", "CredentialCache", "StscacheSupport", "CProcessControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // The session pipeline and its sources: CredentialBroker, role/MFA/web-identity/Identity
        // Center sessions, role lookup, network settings, the world a command runs in (Context).
        .target(
            name: "Credentials",
            dependencies: ["AWSConfig", "SigV4", "STS", "Transport", "CredentialCache", "OpenSSLCrypto", "StscacheSupport"],
            swiftSettings: strict),
        // The local container-credentials endpoint (exec --server) and the loopback HTTP server it
        // shares with login's redirect: knows nothing of sessions, the cache or the config.
        .target(
            name: "LocalEndpoint",
            dependencies: ["SigV4", "OpenSSLCrypto", "StscacheSupport", "CProcessControl"],
            swiftSettings: strict),
        // The keep-warm agent (stscache agent): plans and runs refreshes through child processes.
        .target(
            name: "KeepWarm",
            dependencies: ["Credentials", "AWSConfig", "CredentialCache", "StscacheSupport", "CProcessControl"],
            swiftSettings: strict),
        // Signing in with a browser: Identity Center login (device and PKCE), aws login's sign-in for
        // login_session profiles, the console URL.
        .target(
            name: "SignIn",
            dependencies: ["Credentials", "LocalEndpoint", "AWSConfig", "CredentialCache", "SigV4", "STS", "Transport",
                           "OpenSSLCrypto", "StscacheSupport"],
            swiftSettings: strict),
        // Changing the user's AWS config and keys: setup, doctor, keys (import, rotate); never on a hit.
        .target(
            name: "Setup",
            dependencies: ["Credentials", "AWSConfig", "CredentialCache", "SigV4", "STS", "StscacheSupport"],
            swiftSettings: strict),
        // The lowest module: the error protocol and CodedError, text, clocks, bounded reads, the
        // atomic writer and the one writer of the user's AWS files, process spawning.
        .target(name: "StscacheSupport", dependencies: ["CProcessControl"], swiftSettings: strict),
        // Pure: INI reader and botocore-compatible profile resolution.
        .target(name: "AWSConfig", dependencies: ["StscacheSupport"], swiftSettings: strict),
        // Pure: AWS Signature Version 4, date passed in.
        .target(name: "SigV4", dependencies: ["OpenSSLCrypto", "StscacheSupport"], swiftSettings: strict),
        // STS AssumeRole request/response codec, endpoint rules, retrying client over a transport.
        .target(name: "STS", dependencies: ["SigV4", "Transport", "StscacheSupport"], swiftSettings: strict),
        // HTTP transport protocol and the libcurl implementation (dlopen'd on demand).
        .target(name: "Transport", dependencies: ["CCurlShim", "StscacheSupport"], swiftSettings: strict),
        .target(name: "CCurlShim", linkerSettings: [.linkedLibrary("dl")]),
        // OpenSSL's libcrypto: SHA-256, HMAC-SHA256, AES-256-GCM (random bytes come from getrandom).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: libcryptoPkgConfig,
            providers: [.apt(["libssl-dev"])]),
        .target(name: "OpenSSLCrypto", dependencies: ["COpenSSL", "StscacheSupport"], swiftSettings: strict,
                linkerSettings: libcryptoLink),
        // Encrypted on-disk cache: directory hygiene, entry format, key stores, flock.
        .target(name: "CredentialCache", dependencies: ["OpenSSLCrypto", "CKeyring", "StscacheSupport"], swiftSettings: strict),
        // Linux kernel user keyring through raw add_key/keyctl syscalls (no libkeyutils).
        .target(name: "CKeyring"),
        // What Glibc's Swift module lacks: prctl and prlimit (the core-dump guard), accept4 (the
        // endpoint), timerfd, signalfd and POSIX_SPAWN_SETSID (the agent), exec's signal forwarder.
        .target(name: "CProcessControl"),
        // Micro-benchmark of the in-process pieces (config parse, entry decrypt, signing), run by
        // bench/run; not a test.
        .executableTarget(
            name: "stscache-micro",
            dependencies: ["AWSConfig", "CredentialCache", "OpenSSLCrypto", "SigV4", "Credentials", "StscacheCommands"],
            path: "bench/micro",
            swiftSettings: strict),

        // What several test targets share: temporary directories and config files, output
        // captures, transports that fail closed, the fixed clock, the sources' fixture.
        .target(name: "TestSupport", dependencies: ["AWSConfig", "CredentialCache", "Credentials", "SigV4", "Transport"],
                path: "Tests/TestSupport"),
        .testTarget(name: "StscacheSupportTests", dependencies: ["StscacheSupport", "TestSupport"]),
        .testTarget(name: "AWSConfigTests", dependencies: ["AWSConfig", "TestSupport"]),
        .testTarget(
            name: "SigV4Tests", dependencies: ["SigV4", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "STSTests", dependencies: ["STS", "Transport"]),
        .testTarget(
            name: "OpenSSLCryptoTests", dependencies: ["OpenSSLCrypto"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "CredentialCacheTests", dependencies: ["CredentialCache", "TestSupport"]),
        .testTarget(name: "CredentialsTests", dependencies: ["Credentials", "AWSConfig", "TestSupport"]),
        .testTarget(name: "LocalEndpointTests", dependencies: ["LocalEndpoint", "TestSupport"]),
        .testTarget(name: "KeepWarmTests", dependencies: ["KeepWarm", "Credentials", "TestSupport"]),
        .testTarget(name: "SignInTests", dependencies: ["SignIn", "LocalEndpoint", "Credentials", "AWSConfig", "TestSupport"]),
        .testTarget(name: "SetupTests", dependencies: ["Setup", "Credentials", "AWSConfig", "TestSupport"]),
        .testTarget(
            name: "StscacheCommandsTests",
            dependencies: ["StscacheCommands", "Credentials", "KeepWarm", "LocalEndpoint", "SignIn", "Setup", "AWSConfig",
                           "TestSupport"]),
    ]
)
