import ArgumentParser
import AWSConfig
import Credentials

/// Shell completion of profile and sso-session names (`--profile <Tab>`), through
/// swift-argument-parser's custom completion: the shell runs `stscache ---completion ...` and
/// offers the lines printed.
///
/// Names come from the section headers of the config and credentials files
/// (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`), read by `ConfigNames`: no value is decoded,
/// so no secret is held, and neither the key store nor the cache is opened.
enum NameCompletion {
    /// Which names an option takes.
    enum Kind {
        case profiles, ssoSessions
    }

    static func candidates(_ kind: Kind, context: Context) -> [String] {
        let names = ConfigNames.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        return (kind == .profiles ? names.profiles : names.ssoSessions).filter(isOffered)
    }

    /// Whether a name is offered. bash's generated script hands the candidates to
    /// `compgen -W`, which expands each one as shell text (`$(...)`, backquotes, `${...}`, braces,
    /// a leading `~`): a name from a config file someone else wrote would run as a command at
    /// <Tab>. So only names of plain characters are offered, in every shell; any other name still
    /// works when typed (quoted).
    static func isOffered(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "@"), UInt8(ascii: "+"),
                 UInt8(ascii: "/"), UInt8(ascii: ","):
                return true
            default:
                return false
            }
        }
    }
}

extension CompletionKind {
    /// Profile names from the config and credentials files (`NameCompletion`).
    static var profileNames: CompletionKind {
        .custom { _, _, _ in NameCompletion.candidates(.profiles, context: .live()) }
    }

    /// `[sso-session NAME]` names from the config file.
    static var ssoSessionNames: CompletionKind {
        .custom { _, _, _ in NameCompletion.candidates(.ssoSessions, context: .live()) }
    }
}
