#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AWSConfig
import StscacheSupport

/// `--policy-arn ARN` (repeatable) and `--policy-file FILE`: the session policies `exec` scopes
/// the child's session by (`SessionScope`). Checked before anything else runs: a bad ARN or file
/// costs no STS call.
struct ScopeOptions: ParsableArguments {
    @Option(name: .customLong("policy-arn"),
            help: "Scope the session by this managed policy (a session policy; repeat for up to 10). The session gets what the role and the policies both allow.")
    var policyArns: [String] = []

    @Option(name: .customLong("policy-file"),
            help: "Scope the session by the JSON session policy in this file (yours, not writable by others, at most 2048 characters).")
    var policyFile: String?

    /// The scope the options ask for, checked; empty without them.
    func scope() throws -> SessionScope {
        for arn in policyArns {
            if let problem = SessionScope.policyArnProblem(arn, flag: "--policy-arn") {
                throw CommandError(.invalidScope, problem)
            }
        }
        guard policyArns.count <= STSParameterRules.maximumPolicyArns else {
            throw CommandError(.invalidScope, "--policy-arn is given \(policyArns.count) times; STS takes at most "
                + "\(STSParameterRules.maximumPolicyArns) managed session policies: combine some into one --policy-file.")
        }
        return SessionScope(policyArns: policyArns, policy: try policyFile.map(Self.readPolicy))
    }

    /// At most this many bytes are read: the largest policy STS takes (2048 characters of at
    /// most two UTF-8 bytes each), and a little for a final newline.
    static let fileLimit = 2 * STSParameterRules.policyLength.upperBound + 2

    /// The policy in `path`: a regular file owned by the user (or root) that no one else can
    /// write (whoever could write it could widen the scope), at most `fileLimit` bytes, UTF-8,
    /// one JSON object STS takes as a session policy.
    static func readPolicy(_ path: String) throws -> String {
        let shown = TerminalText.escaped(path)
        func refuse(_ problem: String) -> CommandError {
            CommandError(.invalidScope, "--policy-file \(shown) \(problem)")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw refuse("cannot be opened: \(String(cString: strerror(errno))); give the path of a JSON session policy.")
        }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw refuse("cannot be examined: \(String(cString: strerror(errno))).") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw refuse("is not a regular file; give a JSON policy file.") }
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            throw refuse("belongs to uid \(info.st_uid), not to you; a policy someone else owns could be changed to widen the "
                + "session: copy it to a file of your own (chmod 644).")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw refuse("is writable by others (mode \(octal(UInt32(info.st_mode & 0o777)))), who could widen the session "
                + "through it; run chmod go-w on it.")
        }
        let bytes: [UInt8]
        switch BoundedRead.toEnd(fd, limit: fileLimit, sizeHint: Int(info.st_size)) {
        case .success(let read): bytes = read
        case .failure(.tooLarge):
            throw refuse("is larger than STS's limit for a session policy (\(STSParameterRules.policyLength.upperBound) "
                + "characters); shorten it (whitespace counts), or use managed policies with --policy-arn.")
        case .failure(let failure): throw refuse("cannot be read: \(failure.reason).")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw refuse("is not UTF-8 text; write the policy as JSON.")
        }
        let policy = text.trimmingWhitespace()
        if let problem = STSParameterRules.policyProblem(policy) {
            throw refuse("is not a session policy STS accepts: \(problem); write one JSON policy document "
                + "({\"Version\": \"2012-10-17\", \"Statement\": [...]}) of at most "
                + "\(STSParameterRules.policyLength.upperBound) characters.")
        }
        return policy
    }
}
