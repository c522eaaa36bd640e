#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StscacheSupport

/// Any JSON value, nested objects included: what a file another program owns may hold, kept
/// whole so that writing it back loses nothing (the `aws login` cache file's unknown members).
package indirect enum JSONValue: Decodable, Equatable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// Nil when the bytes are not a JSON object.
    package static func parseObject(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        return members
    }

    package var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    package var object: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// A whole number (JSON has one number type).
    package var integer: Int? {
        guard case .number(let value) = self, value == value.rounded(), abs(value) < 1e15 else { return nil }
        return Int(value)
    }

    /// The JSON text as Python's `json.dumps` writes it by default (`", "` and `": "`), which is
    /// how botocore writes its cache files. `order` puts those members first, in that order
    /// (the rest follow sorted); nested objects are ordered by `nestedOrder` the same way.
    package func encoded(order: [String] = [], nestedOrder: [String: [String]] = [:]) -> String {
        switch self {
        case .string(let value): return JSONText.quoted(value)
        case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .array(let values): return "[" + values.map { $0.encoded() }.joined(separator: ", ") + "]"
        case .object(let members):
            let first = order.filter { members[$0] != nil }
            let names = first + members.keys.filter { !first.contains($0) }.sorted()
            return "{" + names.map { name in
                JSONText.quoted(name) + ": " + members[name]!.encoded(order: nestedOrder[name] ?? [])
            }.joined(separator: ", ") + "}"
        }
    }
}
