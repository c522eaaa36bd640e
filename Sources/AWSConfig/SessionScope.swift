import StscacheSupport

/// Session policies a command adds to a profile's role: `exec --policy-arn`/`--policy-file`, or
/// the caller scope a profile names for some of `credential-process`'s callers (`CallerScope`).
///
/// The rule for combining them with the profile's own `policy_arns`/`policy` is to refuse:
/// STS grants a session the intersection of the role's policies with the UNION of its session
/// policies, so adding a scope's policies to the profile's would widen the profile's session, and
/// replacing them would drop what the profile narrows. Neither is narrowing; there is no one
/// AssumeRole call that narrows both ways. A scope applies to a role whose own session policies
/// are unset, and the error says so.
public struct SessionScope: Sendable, Equatable {
    public var policyArns: [String]
    /// An inline session policy (JSON), as read.
    public var policy: String?

    public init(policyArns: [String] = [], policy: String? = nil) {
        self.policyArns = policyArns
        self.policy = policy
    }

    public var isEmpty: Bool { policyArns.isEmpty && policy == nil }

    /// Why `role` cannot take this scope, in words naming `origin` (the flags or the key), or
    /// nil when it can.
    public func refusal(for role: RoleProfile, origin: String) -> String? {
        switch role.source {
        case .identityCenter:
            return "profile \"\(role.name)\" is an Identity Center profile: its credentials come from the portal, with no "
                + "AssumeRole to take a session policy, so \(origin) cannot scope it; make a role profile with "
                + "source_profile = \(role.name) and a role_arn, and scope that one."
        case .loginSession:
            return "profile \"\(role.name)\" is an aws login session: its credentials are the sign-in's own, with no "
                + "AssumeRole to take a session policy, so \(origin) cannot scope it; make a role profile with "
                + "source_profile = \(role.name) and a role_arn, and scope that one."
        default:
            break
        }
        let own = role.sessionParameters
        if !own.policyArns.isEmpty || own.policy != nil {
            let keys = [own.policyArns.isEmpty ? nil : "policy_arns", own.policy == nil ? nil : "policy"]
                .compactMap { $0 }.joined(separator: " and ")
            return "profile \"\(role.name)\" already scopes its session with \(keys); \(origin) cannot be added to it "
                + "(STS grants the union of a session's policies, so adding would widen the profile's scope and replacing "
                + "would drop it); use a profile without \(keys) for the same role, or put the policy in the profile."
        }
        return nil
    }

    /// `role` with this scope's policies as its session policies: another session, under its own
    /// cache key (`SessionParameters.cacheIdentity` carries them). Check `refusal` first.
    public func applied(to role: RoleProfile) -> RoleProfile {
        var scoped = role
        scoped.sessionParameters.policyArns = policyArns
        scoped.sessionParameters.policy = policy
        return scoped
    }

    /// The policy ARN given as `flag`, checked as a profile's `policy_arns` is: the error names
    /// the flag and the allowed form.
    public static func policyArnProblem(_ arn: String, flag: String) -> String? {
        guard let problem = STSParameterRules.policyArnProblem(arn) else { return nil }
        return "\(flag) \(TerminalText.escaped(String(arn.prefix(200)))) is not an IAM policy ARN: \(problem); give "
            + "\(STSParameterRules.policyArnForm)."
    }
}

/// A profile's scope for named callers of `credential-process`:
///
/// ```ini
/// stscache_scoped_callers = codex, claude, my-agent.py
/// stscache_caller_policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess
/// ```
///
/// A caller whose program name (`CallerProcess.names`) is listed gets the role's session scoped
/// by the policies; every other caller gets the role's plain session. A convenience, not a
/// boundary: a same-user process chooses its own name and its own parent.
public struct CallerScope: Sendable, Equatable {
    public static let callersKey = "stscache_scoped_callers"
    public static let policyArnsKey = "stscache_caller_policy_arns"
    /// Program names in one list: enough for every agent and tool on a machine, and a bound on
    /// the matching the hit path does.
    public static let maximumCallers = 32
    /// A file name's limit (NAME_MAX).
    public static let nameLength = 1...255

    public var callers: [String]
    public var scope: SessionScope

    public init(callers: [String], scope: SessionScope) {
        self.callers = callers
        self.scope = scope
    }

    /// Whether any of the caller's names is listed (exact, case-sensitive, as file names are).
    public func matches(_ names: [String]) -> Bool {
        names.contains { callers.contains($0) }
    }

    /// Why `name` cannot be a program name in the list, or nil.
    static func nameProblem(_ name: String) -> String? {
        if name.contains("/") { return "it holds a /; list the program's file name, not its path" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "it holds a control character" }
        if name == "." || name == ".." { return "it is not a file name" }
        if !nameLength.contains(name.utf8.count) { return "it is \(name.utf8.count) bytes long (at most \(nameLength.upperBound))" }
        return nil
    }
}
