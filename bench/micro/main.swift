// stscache-micro: the in-process pieces of a cache hit and a miss, timed one by one, so a
// regression in one of them shows even where process start-up dominates the end-to-end numbers.
// Run by bench/run (not by `swift test`):
//
//     stscache-micro [--quick]      per-call costs: median ns/op over batches, and the batch size
//     stscache-micro --first-calls  the first call of each OpenSSL primitive in a fresh process
//                                   (what every stscache run pays once; bench/run takes medians)
//
// Clock: clock_gettime(CLOCK_MONOTONIC).

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AWSConfig
import CredentialCache
import OpenSSLCrypto
import SigV4
import Credentials  // stscache's ResolutionPolicy, as a hit resolves with it

let quick = CommandLine.arguments.contains("--quick")
let batches = quick ? 3 : 15

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Keeps results alive so the optimiser cannot drop the work.
nonisolated(unsafe) var sink = 0

/// Median ns/op over `batches` batches of `iterations` calls (after one warm-up batch).
func measure(_ name: String, iterations: Int, _ body: () throws -> Int) rethrows {
    let count = quick ? max(1, iterations / 10) : iterations
    var perOp: [Double] = []
    for batch in 0...batches {
        let start = nanoseconds()
        for _ in 0..<count { sink &+= try body() }
        let elapsed = nanoseconds() - start
        if batch > 0 { perOp.append(Double(elapsed) / Double(count)) }
    }
    perOp.sort()
    let median = perOp[perOp.count / 2]
    let padded = name + String(repeating: " ", count: max(0, 44 - name.count))
    print("\(padded)\(String(Int(median.rounded())).leftPadded(10)) ns/op   (\(count) per batch)")
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

func fail(_ message: String) -> Never {
    FileHandleless.stderr("stscache-micro: \(message)\n")
    exit(1)
}

enum FileHandleless {
    static func stderr(_ text: String) {
        var text = text
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}

// --- a throw-away world: config files and one cache entry -------------------------------------

var template = Array("/tmp/stscache-micro.XXXXXX".utf8CString)
guard let made = mkdtemp(&template) else { fail("mkdtemp failed") }
let root = String(cString: made)
defer { _ = system("rm -rf '\(root)'") }

let configText = """
    [profile bench]
    credential_process = stscache credential-process --profile bench-role
    region = us-east-1

    [profile bench-role]
    role_arn = arn:aws:iam::123456789012:role/bench
    source_profile = base
    role_session_name = bench
    duration_seconds = 3600
    region = us-east-1

    [profile base]
    region = us-east-1

    """
let credentialsText = """
    [base]
    aws_access_key_id = AKIAIOSFODNN7EXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

    """

func writeFile(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { fail("cannot write \(path)") }
    var text = text
    text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

let configPath = root + "/config"
let credentialsPath = root + "/credentials"
writeFile(configPath, configText)
writeFile(credentialsPath, credentialsText)
mkdir(root + "/cache", 0o700)

let environment: [String: String] = ["HOME": root]
let roleArn = "arn:aws:iam::123456789012:role/bench"
let encryptionKey = [UInt8](repeating: 7, count: 32)
let token = String(repeating: "FQoGZXIvYXdzEBYaDXttzWQPPCDUlhSHM3j6PXuvvBHtjyun48H41juI3YDV", count: 6)
let cached = CachedCredentials(accessKeyId: "ASIAEXAMPLEEXAMPLE12", secretAccessKey: String(repeating: "s", count: 40),
                               sessionToken: token, expiration: Date(timeIntervalSince1970: 1_900_000_000))

/// One call, timed once: the first use of a primitive pays its set-up (OpenSSL's algorithm
/// fetch, for example), which the loops below amortise away.
func once(_ name: String, _ body: () throws -> Int) rethrows {
    let start = nanoseconds()
    sink &+= try body()
    let elapsed = nanoseconds() - start
    let padded = name + String(repeating: " ", count: max(0, 44 - name.count))
    print("\(padded)\(String(elapsed).leftPadded(10)) ns      (first call in the process)")
}

if CommandLine.arguments.contains("--first-calls") {
    // One sample per process by nature; bench/run runs this mode many times and takes medians.
    do {
        once("first SHA-256 (cache key)") {
            CacheKey(roleArn: roleArn, sessionName: "first", sourceIdentity: nil).digest.count
        }
        try once("first AES-256-GCM seal + open") {
            let key = [UInt8](repeating: 9, count: 32), nonce = [UInt8](repeating: 3, count: 12)
            let sealed = try AES256GCM.seal([1, 2, 3], key: key, nonce: nonce, authenticating: [])
            return try AES256GCM.open(sealed, key: key, nonce: nonce, authenticating: []).count
        }
        once("first HMAC-SHA256") {
            HMACSHA256.authenticationCode(key: [1], message: [2]).count
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

do {
    // Config: the parse alone, then what a hit does with the files (load + resolve the profile).
    try measure("config: INI parse (both files)", iterations: 2000) {
        let config = try INIDocument.parse(configText, path: configPath)
        let credentials = try INIDocument.parse(credentialsText, path: credentialsPath)
        return config.sections.count + credentials.sections.count
    }
    try measure("config: load files + resolve role profile", iterations: 1000) {
        let files = try ConfigFiles.load(configPath: configPath, credentialsPath: credentialsPath)
        let role = try ProfileResolver(files: files, environment: environment, policy: .stscache(userName: { "bench" }))
            .resolve(profile: "bench-role")
        return role.roleArn.utf8.count
    }

    // Cache: the entry name (SHA-256), the decryption alone, and the whole read of one entry.
    measure("cache: key (SHA-256 of the request)", iterations: 20000) {
        CacheKey(roleArn: roleArn, sessionName: "bench", sourceIdentity: "profile:base").digest.count
    }
    let key = CacheKey(roleArn: roleArn, sessionName: "bench", sourceIdentity: "profile:base")
    let cache = CredentialCache(directory: try CacheDirectory.open(path: root + "/cache"))
    try cache.write(cached, for: key, issuedAt: Date(timeIntervalSince1970: 1_899_996_400), encryptionKey: encryptionKey)
    let nonce = [UInt8](repeating: 1, count: 12)
    let plaintext = [UInt8](repeating: 0x41, count: 500)
    let sealed = try AES256GCM.seal(plaintext, key: encryptionKey, nonce: nonce, authenticating: [UInt8](repeating: 2, count: 180))
    try measure("cache: AES-256-GCM open, 500 bytes", iterations: 20000) {
        try AES256GCM.open(sealed, key: encryptionKey, nonce: nonce,
                           authenticating: [UInt8](repeating: 2, count: 180)).count
    }
    measure("cache: read entry (open, read, decrypt)", iterations: 5000) {
        guard case .hit(let credentials, _) = cache.read(key, encryptionKey: encryptionKey) else {
            fail("the cache entry did not read back")
        }
        return credentials.sessionToken.utf8.count
    }
    measure("cache: read header only (prompt)", iterations: 5000) {
        cache.readHeader(key)?.roleArn.utf8.count ?? 0
    }

    // Signing: one AssumeRole request, as the STS client signs it.
    let body = Array("Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbench&RoleSessionName=bench&Version=2011-06-15".utf8)
    let source = AWSCredentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    let date = Date(timeIntervalSince1970: 1_764_417_600)
    measure("sts: SigV4-sign an AssumeRole request", iterations: 5000) {
        SigV4.sign(method: "POST", url: "https://sts.us-east-1.amazonaws.com/",
                   headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")],
                   body: body, credentials: source, region: "us-east-1", service: "sts", date: date).count
    }
} catch {
    fail("\(error)")
}
if sink == 42 { print("") }
