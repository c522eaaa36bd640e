/// The argument shapes tools run on every call (`credential_process` lines), recognised by hand
/// so the hot paths skip swift-argument-parser.
///
/// The parser finds a command's options by reflection and walks the protocol conformance
/// tables to do it: on a cache hit that was 8 of 23 million instructions, more than the cache
/// read, the decryption and the config files together. Only plain shapes are recognised here:
/// the subcommand first, then its known options as separate words (`--profile NAME`), each at
/// most once, values not starting with `-`. Anything else (help, `--opt=value`, a typo, a
/// missing value) returns nil and goes to the parser, so help texts and usage errors are the
/// parser's, unchanged. StscacheKitTests check that every shape accepted here parses to the
/// same options through the parser.
enum FastPath {
    enum Invocation: Equatable {
        case credentialProcess(CredentialProcessOptions)
    }

    static func match(_ arguments: [String]) -> Invocation? {
        guard let command = arguments.first else { return nil }
        switch command {
        case "credential-process":
            guard let words = Words(arguments.dropFirst(), options: ["--profile", "--refresh-window"],
                                    flags: ["--force-refresh", "--verbose"]),
                  let profile = words.options["--profile"]
            else { return nil }
            return .credentialProcess(CredentialProcessOptions(
                profile: profile,
                forceRefresh: words.flags.contains("--force-refresh"),
                refreshWindow: words.options["--refresh-window"],
                verbose: words.flags.contains("--verbose")))
        default:
            return nil
        }
    }

    /// Options and flags of one subcommand; nil for anything outside the plain shapes.
    struct Words {
        var options: [String: String] = [:]
        var flags: Set<String> = []

        init?(_ words: ArraySlice<String>, options known: Set<String>, flags knownFlags: Set<String>) {
            var index = words.startIndex
            while index < words.endIndex {
                let word = words[index]
                if known.contains(word) {
                    let next = words.index(after: index)
                    guard next < words.endIndex, options[word] == nil else { return nil }
                    let value = words[next]
                    guard !value.isEmpty, !value.hasPrefix("-") else { return nil }
                    options[word] = value
                    index = words.index(after: next)
                } else if knownFlags.contains(word), !flags.contains(word) {
                    flags.insert(word)
                    index = words.index(after: index)
                } else {
                    return nil
                }
            }
        }
    }
}
