#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StscacheSupport

/// One session tag (`session_tags = key=value,...`).
public struct SessionTag: Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// What a profile adds to AssumeRole beyond the role and session name: aws-vault's
/// `source_identity`, `session_tags` and `transitive_session_tags`, and the session policies
/// `policy_arns` and `policy` (a session scoped below the role). Empty for most profiles.
///
/// A session made with any of them is another session than the role's plain one: its cache
/// key carries `cacheIdentity`, so it is never served for a profile without them (nor the
/// reverse).
public struct SessionParameters: Sendable, Equatable {
    public var sourceIdentity: String?
    public var tags: [SessionTag]
    public var transitiveTagKeys: [String]
    public var policyArns: [String]
    /// An inline session policy (JSON), as written.
    public var policy: String?

    public init(sourceIdentity: String? = nil, tags: [SessionTag] = [], transitiveTagKeys: [String] = [],
                policyArns: [String] = [], policy: String? = nil) {
        self.sourceIdentity = sourceIdentity
        self.tags = tags
        self.transitiveTagKeys = transitiveTagKeys
        self.policyArns = policyArns
        self.policy = policy
    }

    public var isEmpty: Bool {
        sourceIdentity == nil && tags.isEmpty && transitiveTagKeys.isEmpty && policyArns.isEmpty && policy == nil
    }

    /// A length-prefixed encoding of every parameter, for the cache key; nil when there are
    /// none, so a plain role's key is what it always was.
    public var cacheIdentity: String? {
        if isEmpty { return nil }
        var text = "session-parameters/1"
        func field(_ name: String, _ value: String) { text += "\n\(name):\(value.utf8.count):\(value)" }
        if let sourceIdentity { field("source-identity", sourceIdentity) }
        for tag in tags {
            field("tag-key", tag.key)
            field("tag-value", tag.value)
        }
        for key in transitiveTagKeys { field("transitive", key) }
        for arn in policyArns { field("policy-arn", arn) }
        if let policy { field("policy", policy) }
        return text
    }
}

/// STS's documented patterns and lengths for the AssumeRole parameters a profile sets, checked
/// before anything is sent (AWS STS API Reference: AssumeRole, Tag, PolicyDescriptorType).
/// A value STS would refuse (or, with a `;` comment that botocore keeps in the value, refuse as
/// a bad signature) is an error naming the key, its line and the allowed form.
public enum STSParameterRules {
    /// A plain pattern: ASCII letters, digits, `_` (`\w`) and `extra`, within `length`.
    public struct Rule: Sendable {
        public let extra: String
        public let length: ClosedRange<Int>
        /// The pattern as the API reference writes it.
        public let pattern: String

        public var form: String {
            let others = extra.map { String($0) }.joined(separator: " ")
            return "\(length.lowerBound) to \(length.upperBound) characters from letters, digits and _ \(others) "
                + "(STS's \(pattern))"
        }

        func allows(_ scalar: Unicode.Scalar) -> Bool {
            if scalar.isASCII {
                let byte = UInt8(scalar.value)
                if (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x5F {
                    return true
                }
            }
            return extra.unicodeScalars.contains(scalar)
        }

        /// What is wrong with `value`, in words, or nil when STS accepts it.
        public func problem(_ value: String) -> String? {
            STSParameterRules.problem(value, length: length, allows: allows)
        }
    }

    public static let roleSessionName = Rule(extra: "+=,.@-", length: 2...64, pattern: "[\\w+=,.@-]{2,64}")
    public static let externalId = Rule(extra: "+=,.@:/-", length: 2...1224, pattern: "[\\w+=,.@:/-]{2,1224}")
    public static let serialNumber = Rule(extra: "+=/:,.@-", length: 9...256, pattern: "[\\w+=/:,.@-]{9,256}")
    public static let sourceIdentity = Rule(extra: "+=,.@-", length: 2...64, pattern: "[\\w+=,.@-]{2,64}")

    public static let maximumTags = 50
    public static let tagKeyLength = 1...128
    public static let tagValueLength = 0...256
    public static let maximumPolicyArns = 10
    public static let policyArnLength = 20...2048
    /// The plain-text inline policy: 1 to 2048 characters from tab, line feed, carriage return
    /// and U+0020–U+00FF. STS also limits the packed (compressed) size of the policies and tags
    /// together, which only STS can measure: it answers `PackedPolicyTooLarge`.
    public static let policyLength = 1...2048
    public static let tagForm = "letters, digits, spaces and _ . : / = + - @ (STS's [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@])"
    public static let roleArnForm = "arn:aws:iam::123456789012:role/NAME (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, "
        + "a 12-digit account)"
    public static let policyArnForm = "arn:aws:iam::aws:policy/NAME or arn:aws:iam::123456789012:policy/NAME"

    /// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: a tag key's or value's characters.
    static func tagAllows(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .spaceSeparator, .lineSeparator, .paragraphSeparator,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return "_.:/=+-@".unicodeScalars.contains(scalar)
        }
    }

    public static func tagKeyProblem(_ key: String) -> String? { problem(key, length: tagKeyLength, allows: tagAllows) }
    public static func tagValueProblem(_ value: String) -> String? {
        problem(value, length: tagValueLength, allows: tagAllows)
    }

    /// Length first (in characters, as STS counts them), then the characters outside the set.
    static func problem(_ value: String, length: ClosedRange<Int>, allows: (Unicode.Scalar) -> Bool) -> String? {
        let count = value.unicodeScalars.count
        var bad: [Unicode.Scalar] = []
        for scalar in value.unicodeScalars where !allows(scalar) && !bad.contains(scalar) {
            bad.append(scalar)
        }
        if !bad.isEmpty {
            let shown = bad.prefix(4).map(describe).joined(separator: ", ")
            return "it holds \(shown)\(bad.count > 4 ? ", ..." : "")"
        }
        if count < length.lowerBound { return "it is \(count) character\(count == 1 ? "" : "s") long" }
        if count > length.upperBound { return "it is \(count) characters long" }
        return nil
    }

    /// A character for a message: printable ones quoted, others by code point.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar == " " { return "a space" }
        if TerminalText.needsEscape(scalar) || scalar.properties.generalCategory == .spaceSeparator {
            return "U+" + String(scalar.value, radix: 16, uppercase: true)
        }
        return "'\(scalar)'"
    }

    /// Why `arn` is not an IAM role ARN, or nil when it is one. Runs on every cache hit: a byte
    /// scan says yes; only a refused ARN takes the slower path that says why.
    public static func roleArnProblem(_ arn: String) -> String? {
        if isRoleArn(arn) { return nil }
        return iamArnProblem(arn, resource: "role/", accounts: { AccountID.isValid($0) })
            ?? "it is not in the form below"
    }

    /// `arn:aws[a-z-]*:iam::<12 digits>:role/<[\w+=,.@/-]+>`, checked over the bytes.
    static func isRoleArn(_ arn: String) -> Bool {
        var arn = arn
        return arn.withUTF8 { bytes in
            guard let fields = ARNFields(bytes) else { return false }
            func equals(_ field: Slice<UnsafeBufferPointer<UInt8>>, _ text: StaticString) -> Bool {
                field.count == text.utf8CodeUnitCount
                    && zip(field, UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)).allSatisfy { $0 == $1 }
            }
            let partition = fields.partition
            guard equals(fields.prefix, "arn"), equals(fields.service, "iam"), fields.region.isEmpty,
                  partition.count >= 3, equals(partition.prefix(3), "aws"),
                  partition.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }),
                  fields.account.count == 12, fields.account.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  fields.resource.count > 5, equals(fields.resource.prefix(5), "role/")
            else { return false }
            return fields.resource.dropFirst(5).allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x5F || byte == 0x2B || byte == 0x3D || byte == 0x2C || byte == 0x2E || byte == 0x40
                    || byte == 0x2F || byte == 0x2D
            } && fields.resource.count <= 2048
        }
    }

    /// Why `arn` is not an IAM policy ARN (an AWS managed policy's account is `aws`), or nil.
    public static func policyArnProblem(_ arn: String) -> String? {
        if let problem = iamArnProblem(arn, resource: "policy/", accounts: { $0 == "aws" || AccountID.isValid($0) }) {
            return problem
        }
        let count = arn.unicodeScalars.count
        guard policyArnLength.contains(count) else { return "it is \(count) characters long" }
        return nil
    }

    /// `arn:aws*:iam::ACCOUNT:<resource>NAME`, NAME from `[\w+=,.@/-]`.
    static func iamArnProblem(_ arn: String, resource: String, accounts: (Substring) -> Bool) -> String? {
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6 else {
            return "it has \(fields.count) colon-separated field\(fields.count == 1 ? "" : "s"), not 6"
        }
        guard fields[0] == "arn" else { return "it does not start with arn:" }
        let partition = fields[1]
        guard partition.hasPrefix("aws"),
              partition.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == UInt8(ascii: "-") }) else {
            return "its partition is not aws, aws-cn, aws-us-gov, ..."
        }
        guard fields[2] == "iam" else { return "its service is not iam" }
        guard fields[3].isEmpty else { return "it has a region (IAM ARNs have none: iam::)" }
        guard accounts(fields[4]) else { return "its account is not 12 digits" }
        let path = fields[5]
        guard path.hasPrefix(resource), path.count > resource.count else {
            return "it does not name a \(resource.dropLast()) (\(resource)NAME)"
        }
        let name = Rule(extra: "+=,.@/-", length: 1...2048, pattern: "")
        if let problem = name.problem(String(path.dropFirst(resource.count))) { return problem }
        return nil
    }


    /// Why `policy` is not a session policy STS can take, or nil: its length and characters,
    /// then JSON syntax with an object at the top.
    public static func policyProblem(_ policy: String) -> String? {
        let allowed: (Unicode.Scalar) -> Bool = { scalar in
            scalar == "\t" || scalar == "\n" || scalar == "\r" || (0x20...0xFF).contains(scalar.value)
        }
        if let problem = problem(policy, length: policyLength, allows: allowed) { return problem }
        guard let decoded = try? JSONDecoder().decode(JSONShape.self, from: Data(policy.utf8)) else {
            return "it is not valid JSON"
        }
        guard case .object = decoded else { return "it is not a JSON object ({\"Version\": ..., \"Statement\": ...})" }
        return nil
    }

    /// Enough of JSON to check a document's syntax and top-level kind.
    enum JSONShape: Decodable {
        case object, other

        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: AnyKey.self) {
                for key in object.allKeys { _ = try object.decode(Nested.self, forKey: key) }
                self = .object
                return
            }
            _ = try Nested(from: decoder)
            self = .other
        }
    }

    /// Any JSON value, walked so that nothing malformed inside passes.
    struct Nested: Decodable {
        init(from decoder: any Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                while !array.isAtEnd { _ = try array.decode(Nested.self) }
            } else if let object = try? decoder.container(keyedBy: AnyKey.self) {
                for key in object.allKeys { _ = try object.decode(Nested.self, forKey: key) }
            } else {
                let single = try decoder.singleValueContainer()
                if single.decodeNil() { return }
                if (try? single.decode(Bool.self)) != nil { return }
                if (try? single.decode(Double.self)) != nil { return }
                _ = try single.decode(String.self)
            }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
