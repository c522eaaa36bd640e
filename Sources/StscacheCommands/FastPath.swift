/// The argument shapes tools run on every call (`credential_process` lines, and the agent's
/// refresh children), recognised by hand so the hot paths skip swift-argument-parser.
///
/// The parser finds a command's options by reflection and walks the protocol conformance
/// tables to do it: on a cache hit that was 8 of 23 million instructions, more than the cache
/// read, the decryption and the config files together. Only plain shapes are recognised here:
/// the subcommand first, then its known options as separate words (`--profile NAME`), each at
/// most once, values not starting with `-`. Anything else (help, `--opt=value`, a typo, a
/// missing value) returns nil and goes to the parser, so help texts and usage errors are the
/// parser's, unchanged. StscacheCommandsTests check that every shape accepted here parses to the
/// same options through the parser.
enum FastPath {
    enum Invocation: Equatable {
        case credentialProcess(CredentialProcessOptions)
    }

    static func match(_ arguments: [String]) -> Invocation? {
        guard let command = arguments.first else { return nil }
        switch command {
        case "credential-process":
            guard let words = Words(arguments.dropFirst(), options: ["--profile", "--refresh-window", "--lead"],
                                    flags: ["--force-refresh", "--verbose", "--refresh-only"]),
                  let profile = words.options["--profile"]
            else { return nil }
            return .credentialProcess(CredentialProcessOptions(
                profile: profile,
                forceRefresh: words.flags.contains("--force-refresh"),
                refreshWindow: words.options["--refresh-window"],
                lead: words.options["--lead"],
                verbose: words.flags.contains("--verbose"),
                refreshOnly: words.flags.contains("--refresh-only")))
        default:
            return nil
        }
    }

    /// Options and flags of one subcommand; nil for anything outside the shapes `syntax` allows
    /// (the parser then reads the words, and explains them when they are wrong).
    struct Words {
        /// Which of the parser's shapes a caller takes without it, beyond `--name value` with a
        /// non-empty value not starting with `-`, each option and flag at most once.
        struct Syntax {
            /// `--name=value` (the value may then start with `-`).
            var equalsForm = false
            var emptyValues = false
            var repeatedFlags = false
        }

        var options: [String: String] = [:]
        var flags: [String] = []

        /// Arrays, not sets: two or three names, and building a `Set` costs more than searching them.
        init?(_ words: ArraySlice<String>, options known: [String], flags knownFlags: [String],
              syntax: Syntax = Syntax()) {
            var index = words.startIndex
            while index < words.endIndex {
                let word = words[index]
                if knownFlags.contains(word) {
                    guard syntax.repeatedFlags || !flags.contains(word) else { return nil }
                    flags.append(word)
                    index = words.index(after: index)
                    continue
                }
                let name: String
                let value: String
                if syntax.equalsForm, word.hasPrefix("--"), let eq = word.firstIndex(of: "=") {
                    name = String(word[..<eq])
                    value = String(word[word.index(after: eq)...])
                    index = words.index(after: index)
                } else {
                    // The parser reads a following word that starts with "-" as a missing value.
                    let next = words.index(after: index)
                    guard next < words.endIndex, !words[next].hasPrefix("-") else { return nil }
                    name = word
                    value = words[next]
                    index = words.index(after: next)
                }
                guard known.contains(name), options[name] == nil, syntax.emptyValues || !value.isEmpty else { return nil }
                options[name] = value
            }
        }
    }
}
