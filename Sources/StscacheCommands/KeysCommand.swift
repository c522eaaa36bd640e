#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AWSConfig
import CredentialCache
import Credentials
import SigV4
import StscacheSupport
import Setup

/// `stscache keys`: long-term access keys kept encrypted in stscache's store instead of in
/// plaintext in `~/.aws/credentials`.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Keep long-term access keys encrypted in stscache's store: add, list, import, export, rotate, remove.",
        discussion: """
            A profile whose keys are stored needs no entry in ~/.aws/credentials: a role \
            profile's source_profile may name it, and `stscache exec --profile P` / `export` hand \
            them out directly. Keys for one profile both in the store and in the config files are \
            refused (run 'stscache keys import PROFILE').
            """,
        subcommands: [KeysAddCommand.self, KeysListCommand.self, KeysRemoveCommand.self, KeysImportCommand.self,
                      KeysExportCommand.self, KeysRotateCommand.self])
}

extension LongTermKeys {
    /// The config files and the key store selection, as every `keys` command needs them.
    static func open(context: Context, verbose: Bool) throws -> LongTermKeys {
        let files = try ConfigFiles.load(configPath: context.configFilePath, credentialsPath: context.credentialsFilePath)
        let selection = try KeyStoreSelection.make(environment: context.environment, home: context.homeDirectory,
                                                   verbose: verbose)
        let keys = LongTermKeys(context: context, files: files, cacheKeyStore: selection.store,
                                settings: try NetworkSettings(environment: context.environment))
        if verbose {
            context.output.stderr("stscache: long-term key store \(keys.stored.store.path), its key in "
                                  + "\(keys.stored.encryptionKeyStore.location)\n")
        }
        return keys
    }
}

struct KeysAddCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a profile's access key, read from the terminal (or stdin), after checking it with STS.",
        discussion: """
            The secret is read from /dev/tty without echo, never from the command line. With \
            --stdin, two lines: the access key id, then the secret access key. The keys are \
            checked with one signed GetCallerIdentity (the profile's region and endpoint_url, \
            AWS_ENDPOINT_URL_STS) before they are stored.
            """)

    @Argument(help: "The profile the keys are for (a role profile's source_profile).")
    var profile: String

    @Flag(name: .long, help: "Read two lines from stdin (access key id, secret access key) instead of the terminal.")
    var stdin = false

    @Flag(name: .long, help: "Replace keys already stored for the profile.")
    var replace = false

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        let entered = stdin ? try KeysInput.fromStandardInput() : try KeysInput.fromTerminal(profile: profile)
        let identity = try keys.add(profile: profile, keys: entered, replace: replace)
        context.output.stdout("stored \(entered.accessKeyId) for profile \(profile) (\(identity.arn))\n")
    }
}

struct KeysListCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the stored profiles: access key id, when added, when last rotated (no secrets).")

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        let rows = try keys.list().map { record in
            [oneLine(record.profile), record.accessKeyId, Timestamps.formatRFC3339(record.addedAt),
             record.rotatedAt.map(Timestamps.formatRFC3339) ?? "never",
             record.rotation.map { "rotation unfinished: \($0); run 'stscache keys rotate'" } ?? "ok"]
        }
        if context.output.stdoutIsTerminal {
            context.output.stdout(TextTable.aligned([["PROFILE", "ACCESS KEY ID", "ADDED", "LAST ROTATED", "STATE"]] + rows))
        } else {
            context.output.stdout(rows.map { $0.joined(separator: "\t") + "\n" }.joined())
        }
    }
}

struct KeysRemoveCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Forget a profile's stored keys (the key stays valid in IAM).",
        discussion: """
            When the store holds the only copy (no keys for the profile in the config files), \
            asks first on the terminal; without one, refuses unless --yes. \
            'stscache keys export PROFILE' puts them back into ~/.aws/credentials instead.
            """)

    @Argument(help: "The profile whose stored keys to forget.")
    var profile: String

    @Flag(name: .long, help: "Remove the only copy of the keys without asking.")
    var yes = false

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        if !yes, !keys.hasPlaintextKeys(profile), let record = try keys.record(profile: profile) {
            let question = "Profile \(oneLine(profile))'s keys (\(record.accessKeyId)) are only in stscache's store; removing "
                + "them loses the secret (the key stays valid in IAM). Remove them? [y/N] "
            guard isatty(0) == 1, let answer = KeysInput.ask(question) else {
                throw CommandError(.confirmationNeeded, "profile \(oneLine(profile))'s keys (\(record.accessKeyId)) are only in "
                    + "stscache's store, and removing them loses the secret; save them first with 'stscache keys export "
                    + "\(ExportCommand.profileWord(profile))' (back into \(context.credentialsFilePath)), or pass --yes to remove "
                    + "them anyway")
            }
            guard ["y", "yes"].contains(answer.lowercased()) else {
                context.output.stdout("kept the stored keys of profile \(oneLine(profile))\n")
                return
            }
        }
        if try keys.remove(profile: profile) {
            context.output.stdout("removed the stored keys of profile \(oneLine(profile))\n")
        } else {
            context.output.stdout("nothing to remove: no keys are stored for profile \(oneLine(profile))\n")
        }
    }
}

struct KeysImportCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Move a profile's keys from ~/.aws/credentials into the store.",
        discussion: """
            The keys are checked with STS and stored, then their two lines are removed from the \
            credentials file (the section header too when nothing else is left in it); comments \
            and other sections are kept byte for byte. The file is replaced atomically, and not \
            at all if it changed meanwhile; the previous version is kept as \
            credentials.stscache-backup-<UTC time> (0600), with the secret's line replaced by a \
            comment, and older backups that still hold the secret are deleted. A credentials file \
            that is a symbolic link stays one (the file it points at is edited) and keeps its mode.
            """)

    @Argument(help: "The profile ([PROFILE] in the credentials file).")
    var profile: String

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        let imported = try keys.importPlaintext(profile: profile)
        context.output.stdout("stored \(imported.accessKeyId) for profile \(oneLine(profile)) (\(imported.identity.arn)) and "
                              + "removed it from \(context.credentialsFilePath); backup: \(imported.backupPath)\n")
        for deleted in imported.deletedBackups {
            context.output.stdout("deleted \(deleted): an older backup that still held the secret\n")
        }
    }
}

struct KeysExportCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Move a profile's stored keys back into ~/.aws/credentials (or print them with --stdout).",
        discussion: """
            The inverse of import: the two key lines go back under [PROFILE] in the credentials \
            file (a new section at its end when there is none; the file is replaced atomically, \
            with a backup, and made 0600 when missing), then the keys leave the store. The AWS \
            CLI can use the profile by itself again.

            --stdout prints the section instead ([PROFILE], aws_access_key_id, \
            aws_secret_access_key) and keeps the store's copy: pipe it into a secrets manager \
            (pass insert -m, a vault CLI reading stdin), never into a command's arguments. \
            Refused when stdout is a terminal unless --force, as for 'stscache export': the \
            secret would stay in its scrollback.
            """)

    @Argument(help: "The stored profile.")
    var profile: String

    @Flag(name: .long, help: "Print the keys as a credentials-file section on stdout; keep them in the store.")
    var stdout = false

    @Flag(name: .long, help: "With --stdout: print even when stdout is a terminal.")
    var force = false

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        guard stdout else {
            let exported = try keys.exportToCredentialsFile(profile: profile)
            context.output.stdout("wrote \(exported.accessKeyId) for profile \(oneLine(profile)) to "
                + "\(context.credentialsFilePath) and removed it from stscache's store"
                + (exported.backupPath.map { "; backup: \($0)" } ?? "") + "\n")
            return
        }
        if context.output.stdoutIsTerminal && !force {
            throw CommandError(.terminalRefused, "not printing the secret access key to a terminal: it would stay in its "
                + "scrollback; pipe it into a secrets manager (stscache keys export \(ExportCommand.profileWord(profile)) "
                + "--stdout | pass insert -m aws/\(ExportCommand.profileWord(profile))) or pass --force")
        }
        guard let record = try keys.record(profile: profile) else {
            throw KeysError(.notStored, "no keys are stored for profile \"\(oneLine(profile))\"; 'stscache keys list' shows "
                + "the stored profiles")
        }
        context.output.stdout("[\(profile)]\naws_access_key_id = \(record.accessKeyId)\n"
            + "aws_secret_access_key = \(record.secretAccessKey)\n")
    }
}

struct KeysRotateCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate a stored key: IAM CreateAccessKey, check it works, store it, DeleteAccessKey of the old one.",
        discussion: """
            Each step is recorded before the call it prepares, so an interrupted rotation is \
            finished by running this again; the old key is deleted only once the new one is \
            stored and works as the same user, and a key stscache did not record is never \
            deleted. IAM calls go to AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL or the \
            profile's endpoint_url, else IAM's global endpoint. The IAM user may have at most \
            one other key (IAM allows two). With mfa_serial on the profile, the IAM calls are \
            signed with an MFA session of the key (mfa_process, STSCACHE_MFA_TOKEN or the terminal).
            """)

    @Argument(help: "The stored profile whose key to rotate.")
    var profile: String

    @OptionGroup var cacheOptions: CacheOptions

    func run(context: Context) throws {
        let keys = try LongTermKeys.open(context: context, verbose: cacheOptions.verbose || context.verbose)
        let rotation = try keys.rotate(profile: profile)
        context.output.stdout("rotated profile \(oneLine(profile)): \(rotation.newAccessKeyId) stored, \(rotation.oldAccessKeyId) "
                              + "deleted\(rotation.resumed ? " (an interrupted rotation was finished)" : "")\n")
    }
}

/// Where `keys add` reads keys from: never the command line (argv is readable by every
/// process on the machine through /proc).
enum KeysInput {
    static let promptTimeout: Double = 300

    /// Two lines from stdin: access key id, secret access key (surrounding white space trimmed).
    static func fromStandardInput() throws -> AWSCredentials {
        var bytes: [UInt8] = []
        switch BoundedRead.toEnd(0, limit: 8192, sizeHint: 256) {
        case .success(let read): bytes = read
        case .failure:
            throw KeysError(.invalidInput, "could not read two lines (access key id, secret access key) from stdin; at most 8 KiB")
        }
        defer { EntryFormat.wipe(&bytes) }
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self).trimmingWhitespace() }
            .filter { !$0.isEmpty }
        guard lines.count == 2 else {
            throw KeysError(.invalidInput, "--stdin expects exactly two lines, the access key id then the secret access key "
                + "(got \(lines.count) non-empty lines)")
        }
        return AWSCredentials(accessKeyId: lines[0], secretAccessKey: lines[1])
    }

    /// The access key id (echoed) and the secret (not echoed) from the controlling terminal.
    static func fromTerminal(profile: String) throws -> AWSCredentials {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            throw KeysError(.noTerminal, "there is no terminal to read the keys from; pass --stdin and write the access key "
                + "id and the secret access key on two lines to stdin")
        }
        defer { close(fd) }
        func say(_ text: String) { var text = text; _ = text.withUTF8 { FileSystem.writeAll(fd, UnsafeRawBufferPointer($0)) } }
        say("Access key ID for profile \(oneLine(profile)): ")
        let id = try readLine(fd)
        // Echo off before the prompt is shown (a secret typed or pasted the moment the prompt
        // appears must not be echoed), without flushing what was typed ahead; the termination
        // signals held until echo is back on, so a Ctrl-C cannot leave the terminal silent.
        let secret = try FileSystem.deferringTerminationSignals { () throws -> String in
            var settings = termios()
            let haveSettings = tcgetattr(fd, &settings) == 0
            if haveSettings {
                var silent = settings
                silent.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(fd, TCSANOW, &silent)
            }
            defer {
                if haveSettings { tcsetattr(fd, TCSANOW, &settings) }
            }
            say("Secret access key (not shown): ")
            return try readLine(fd)
        }
        say("\n")
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret)
    }

    /// `question` on the controlling terminal, and the line typed (nil when there is none).
    static func ask(_ question: String) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var text = question
        _ = text.withUTF8 { FileSystem.writeAll(fd, UnsafeRawBufferPointer($0)) }
        return (try? readLine(fd)) ?? ""
    }

    /// One line, at most 4 KiB, within `promptTimeout`.
    private static func readLine(_ fd: Int32) throws -> String {
        var bytes: [UInt8] = []
        defer { EntryFormat.wipe(&bytes) }
        let deadline = monotonicSeconds() + promptTimeout
        while true {
            let remaining = deadline - monotonicSeconds()
            guard remaining > 0 else { throw KeysError(.invalidInput, "nothing was entered within \(Int(promptTimeout)) seconds") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if count == 0 || byte == UInt8(ascii: "\n") { break }
            if bytes.count < 4096 { bytes.append(byte) }
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else { throw KeysError(.invalidInput, "nothing was entered; no keys were stored") }
        return text
    }
}
