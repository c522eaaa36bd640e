#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AWSConfig
import Credentials
import StscacheSupport
import Setup

/// `stscache setup`: turns role profiles into delegating pairs in the config file, with a
/// backup, an atomic write and an undo (see `DelegationSetup` and `ConfigFileUpdate`).
struct SetupCommand: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Turn role profiles into delegating pairs (prod -> prod-role) in the config file.",
        discussion: """
            For each --profile P (a profile with role_arn and source_profile or credential_source), \
            moves the role settings (role_arn, source_profile, credential_source, role_session_name, \
            external_id, duration_seconds, mfa_*, web_identity_token_file) to a new [profile P-role] \
            and puts credential_process = <this binary> credential-process --profile P-role in their \
            place; region and the STS endpoint settings are copied to P-role, everything else stays \
            with P. Every other line of the file keeps its bytes.

            The file is backed up first (<config>.stscache-backup-<UTC time>, mode 0600) and replaced \
            atomically; nothing is written if the file changes while setup runs. --dry-run prints the \
            change as a diff. --undo restores the newest backup, if the file still holds what setup \
            wrote.
            """)

    @Option(name: .long, help: "A role (or IAM Identity Center) profile to set up; repeat for several.",
            completion: .profileNames)
    var profile: [String] = []

    @Flag(name: .long, help: "Print the change as a unified diff; write nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Restore the config file from the newest setup backup.")
    var undo = false

    func validate() throws {
        if undo && (!profile.isEmpty || dryRun) {
            throw ValidationError("--undo restores the whole file; give it without --profile or --dry-run")
        }
        if !undo && profile.isEmpty {
            throw ValidationError("name a role profile to set up with --profile (or --undo)")
        }
    }

    func run(context: Context) throws {
        let path = context.configFilePath
        if undo {
            let restored = try ConfigFileUpdate.undo(path)
            context.output.stdout("Restored \(restored.configPath) from \(restored.backupPath).\n")
            return
        }
        let snapshot = try ConfigFileUpdate.read(path)
        // The credentials file as it is; the config file as read into the snapshot, which is
        // the version the edit is planned on and checked against before the rename.
        let loaded = try ConfigFiles.load(configPath: path, credentialsPath: context.credentialsFilePath)
        let files = ConfigFiles(config: try INIDocument.parse(snapshot.bytes, path: path), credentials: loaded.credentials,
                                configPath: path, credentialsPath: context.credentialsFilePath)
        let plan = try DelegationSetup.plan(configBytes: snapshot.bytes, files: files, profiles: profile,
                                            programPath: try Self.programPath())
        if dryRun {
            context.output.stdout(plan.edit.unifiedDiff(of: plan.text, oldName: path, newName: path + " (after setup)",
                                                        maskedKeys: DelegationSetup.secretKeys))
            return
        }
        let stamp = AWSFileWriter.stamp(Timestamps.formatRFC3339(context.now()))
        let backup = try ConfigFileUpdate.replace(snapshot, with: plan.bytes, stamp: stamp)
        for pair in plan.pairs {
            context.output.stdout("Set up \(pair.profile) -> \(pair.roleProfile) in \(path).\n")
        }
        context.output.stdout("Backup: \(backup) (stscache setup --undo restores it).\n")
    }

    /// This binary's absolute path, for the `credential_process` line: the kernel's answer, so
    /// it is right however stscache was started (a relative path, a PATH lookup, a link).
    static func programPath() throws -> String {
        guard let path = ownExecutablePath() else {
            throw SetupError(.fileError, "cannot find this program's own path (/proc/self/exe: "
                + "\(String(cString: strerror(errno)))); is /proc mounted?")
        }
        return path
    }
}
