#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
import StscacheSupport
#endif

/// The top level of a small JSON object (credential_process output, IMDS and container
/// answers, Identity Center files): its scalar members and lists of strings, with other nested
/// values kept only as "something else".
package struct JSONObjectFields: Decodable {
    package enum Value: Decodable, Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        /// A list of strings (an Identity Center registration's `scopes` and `grantTypes`).
        case strings([String])
        case other

        package init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([String].self) { self = .strings(value) }
            else { self = .other }
        }

        /// How botocore would print it in "Unsupported version '...'".
        var text: String {
            switch self {
            case .string(let s): return s
            case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
            case .bool(let b): return b ? "True" : "False"
            case .null: return "None"
            case .strings(let list): return "[" + list.map { "'\($0)'" }.joined(separator: ", ") + "]"
            case .other: return "<object>"
            }
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package var fields: [String: Value]

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var fields: [String: Value] = [:]
        for key in container.allKeys {
            fields[key.stringValue] = try container.decode(Value.self, forKey: key)
        }
        self.fields = fields
    }

    /// Nil when the bytes are not a JSON object.
    package static func parse(_ bytes: [UInt8]) -> JSONObjectFields? {
        try? JSONDecoder().decode(JSONObjectFields.self, from: Data(bytes))
    }

    package subscript(_ name: String) -> Value? { fields[name] }

    /// A non-empty string member.
    package func string(_ name: String) -> String? {
        guard case .string(let value)? = fields[name], !value.isEmpty else { return nil }
        return value
    }
}

extension JSONObjectFields {
    /// A whole-number member.
    package func integer(_ name: String) -> Int? {
        guard case .number(let value)? = self[name], value == value.rounded(), abs(value) < 1e15 else { return nil }
        return Int(value)
    }
}
