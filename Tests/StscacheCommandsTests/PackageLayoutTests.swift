import Foundation
import Testing

/// Package.swift is the feature list: each target says what it depends on, so a module that
/// imports one it does not declare hides a dependency from the reader (SwiftPM lets it compile
/// when the module is built anyway for another target).
@Suite("package layout")
struct PackageLayoutTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// Modules every target may import without declaring them.
    static let system: Set<String> = ["Glibc", "Darwin", "Musl", "Foundation", "FoundationEssentials", "Synchronization"]
    /// Products of package dependencies, by module name.
    static let products: [String: String] = ["ArgumentParser": "ArgumentParser"]

    /// `name: "X", dependencies: [...]` of every regular target, from the manifest's text.
    static func declared() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let pattern = try NSRegularExpression(
            pattern: #"\.(?:executableTarget|target)\(\s*name:\s*"([A-Za-z]+)",\s*dependencies:\s*\[(.*?)\]\s*[,)]"#,
            options: [.dotMatchesLineSeparators])
        var targets: [String: Set<String>] = [:]
        let range = NSRange(manifest.startIndex..., in: manifest)
        for match in pattern.matches(in: manifest, range: range) {
            let name = String(manifest[Range(match.range(at: 1), in: manifest)!])
            let list = String(manifest[Range(match.range(at: 2), in: manifest)!])
            let quoted = try NSRegularExpression(pattern: #""([A-Za-z0-9-]+)""#)
            let names = quoted.matches(in: list, range: NSRange(list.startIndex..., in: list)).map {
                String(list[Range($0.range(at: 1), in: list)!])
            }
            targets[name] = Set(names)
        }
        return targets
    }

    @Test("every target under Sources declares each module it imports")
    func importsDeclared() throws {
        let targets = try Self.declared()
        #expect(targets["StscacheCommands"] != nil && targets["Credentials"] != nil, "the manifest was read")
        let sources = Self.root.appendingPathComponent("Sources")
        for (target, dependencies) in targets {
            let directory = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard let index = words.firstIndex(of: "import"), index <= 1, index + 1 < words.count,
                          index == 0 || words[0] == "@testable" else { continue }
                    let module = String(words[index + 1])
                    guard !Self.system.contains(module), module != target else { continue }
                    let declared = dependencies.contains(module)
                        || Self.products[module].map { dependencies.contains($0) } == true
                    #expect(declared, "\(target)/\(file) imports \(module), which Package.swift does not declare for \(target)")
                }
            }
        }
    }
}
