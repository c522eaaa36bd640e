import Foundation
import Testing

@testable import AWSConfig
@testable import Credentials
import StscacheSupport
import TestSupport

private let roleHead = "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/Admin\ncredential_source = EcsContainer\n"
private let readOnly = "arn:aws:iam::aws:policy/ReadOnlyAccess"

private func resolve(_ config: String) throws -> RoleProfile {
    let directory = try TempAWSDirectory()
    try directory.write(config: config)
    return try ProfileResolver.resolve(profile: "x", files: try directory.load(), environment: [:], userName: "alice")
}

@Suite("Scoped sessions: exec's session policies and a profile's caller scope")
struct SessionScopeTests {
    @Test("a caller scope is read from its two keys: names trimmed, the policies as policy_arns takes them")
    func callerScopeRead() throws {
        let role = try resolve(roleHead + "stscache_scoped_callers = codex , claude,my-agent.py\n"
            + "stscache_caller_policy_arns = \(readOnly), arn:aws:iam::123456789012:policy/team/Read\n")
        let scope = try #require(role.callerScope)
        #expect(scope.callers == ["codex", "claude", "my-agent.py"])
        #expect(scope.scope.policyArns == [readOnly, "arn:aws:iam::123456789012:policy/team/Read"])
        // The role itself is unscoped: the scope applies per caller.
        #expect(role.sessionParameters.isEmpty)
        #expect(scope.matches(["python3", "my-agent.py"]) && scope.matches(["codex"]))
        #expect(!scope.matches(["python3", "aws"]) && !scope.matches(["Codex"]) && !scope.matches([]))
        #expect(try resolve(roleHead).callerScope == nil)
    }

    @Test("a caller scope that cannot be honoured is refused at its line, naming the key", arguments: [
        ("stscache_scoped_callers = codex\n", "needs stscache_caller_policy_arns"),
        ("stscache_caller_policy_arns = \(readOnly)\n", "needs stscache_scoped_callers"),
        ("stscache_scoped_callers = /usr/bin/codex\nstscache_caller_policy_arns = \(readOnly)\n", "not its path"),
        ("stscache_scoped_callers = codex\nstscache_caller_policy_arns = ReadOnlyAccess\n", "arn:aws:iam::aws:policy/NAME"),
        ("stscache_scoped_callers = codex\nstscache_caller_policy_arns = \(readOnly)\npolicy_arns = \(readOnly)\n", "widen"),
        ("stscache_scoped_callers = \((1...33).map { "p\($0)" }.joined(separator: ","))\n"
            + "stscache_caller_policy_arns = \(readOnly)\n", "33 programs"),
        ("stscache_scoped_callers = codex\nstscache_caller_policy_arns = "
            + Array(repeating: readOnly, count: 11).joined(separator: ",") + "\n", "11 policies"),
    ])
    func callerScopeRefused(_ lines: String, _ needle: String) {
        let error = expectConfigError(.invalidRoleParameter) { _ = try resolve(roleHead + lines) }
        #expect(error?.message.contains(needle) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("stscache_") == true)
        #expect((4...6).contains(error?.location?.line ?? 0))
    }

    @Test("a caller scope on an Identity Center profile is refused: no AssumeRole takes it")
    func callerScopeOnIdentityCenter() {
        let config = """
            [profile x]
            sso_start_url = https://example.awsapps.com/start
            sso_region = us-east-1
            sso_account_id = 123456789012
            sso_role_name = Admin
            stscache_scoped_callers = codex
            stscache_caller_policy_arns = \(readOnly)

            """
        let error = expectConfigError(.invalidRoleParameter) { _ = try resolve(config) }
        #expect(error?.message.contains("Identity Center") == true, "\(error?.message ?? "")")
    }

    @Test("a scope makes another session under another cache key; the plain role's key is unchanged")
    func scopedKey() throws {
        let role = try resolve(roleHead)
        let scoped = SessionScope(policyArns: [readOnly]).applied(to: role)
        #expect(scoped.sessionParameters.policyArns == [readOnly])
        let keys = Set([role, scoped, SessionScope(policy: "{}").applied(to: role),
                        SessionScope(policyArns: [readOnly, "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]).applied(to: role)]
            .map { CredentialBroker.cacheKey(for: $0).stem })
        #expect(keys.count == 4)
        #expect(CredentialBroker.cacheKey(for: role) == CredentialBroker.cacheKey(for: try resolve(roleHead)))
    }

    @Test("a scope is refused for a profile with its own session policies, and for Identity Center")
    func refusals() throws {
        let scope = SessionScope(policyArns: [readOnly])
        #expect(scope.refusal(for: try resolve(roleHead), origin: "--policy-arn") == nil)
        let own = try #require(scope.refusal(for: try resolve(roleHead + "policy = {\"Version\": \"2012-10-17\"}\n"),
                                             origin: "--policy-arn"))
        #expect(own.contains("already scopes its session with policy;") && own.contains("--policy-arn"), "\(own)")
        let role = RoleProfile(name: "sso", roleArn: "x", roleSessionName: "identity-center", region: "us-east-1",
                               source: .identityCenter(IdentityCenterSettings(
                                   profile: "sso", startURL: "https://example.awsapps.com/start", region: "us-east-1",
                                   accountId: "123456789012", roleName: "Admin", sessionName: nil, registrationScopes: [])))
        #expect(scope.refusal(for: role, origin: "--policy-arn")?.contains("Identity Center") == true)
    }

    @Test("a flag's ARN is checked as policy_arns is, the message naming the flag")
    func flagArn() {
        #expect(SessionScope.policyArnProblem(readOnly, flag: "--policy-arn") == nil)
        let problem = SessionScope.policyArnProblem("ReadOnly\u{1b}[2J", flag: "--policy-arn")
        #expect(problem?.hasPrefix("--policy-arn ") == true)
        #expect(problem?.contains("\u{1b}") == false)
    }

    @Test("the audit record's scope: the ARNs, and an inline policy by digest only; none for a plain session")
    func auditScope() {
        #expect(AuditLog.scope(of: SessionParameters()) == nil)
        #expect(AuditLog.scope(of: SessionParameters(sourceIdentity: "alice")) == nil)
        #expect(AuditLog.scope(of: SessionParameters(policyArns: [readOnly, "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"]))
            == "\(readOnly),arn:aws:iam::aws:policy/job-function/ViewOnlyAccess")
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#
        let scope = AuditLog.scope(of: SessionParameters(policyArns: [readOnly], policy: policy))
        // sha256 of the document, as `printf %s "$policy" | sha256sum` gives it.
        #expect(scope?.hasPrefix("\(readOnly),policy:sha256:") == true)
        #expect(scope?.count == readOnly.count + ",policy:sha256:".count + 16)
        #expect(scope?.contains("GetObject") == false)
        #expect(AuditLog.scope(of: SessionParameters(policy: policy)) != AuditLog.scope(of: SessionParameters(policy: policy + " ")))
    }
}
