#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Credentials
import StscacheSupport

/// The agent's systemd user unit, for `stscache agent --install-unit`: the text of
/// config-examples/stscache-agent.service (scripts/install and the Debian package install that
/// file), with `ExecStart` naming the running binary.
enum AgentUnit {
    static let fileName = "stscache-agent.service"

    /// The unit's text with `ExecStart=<executable> agent`. nil when the path would need quoting
    /// in a unit file (white space, quotes, backslashes, `%`, `$`).
    static func text(executable: String) -> String? {
        guard executable.hasPrefix("/"),
              !executable.contains(where: { $0.isWhitespace || "\"'\\%$".contains($0) || $0.asciiValue.map { $0 < 0x20 } ?? false })
        else { return nil }
        return template.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("ExecStart=") ? "ExecStart=\(executable) agent" : String($0) }
            .joined(separator: "\n")
    }

    /// Where systemd --user reads a user's own units: `$XDG_CONFIG_HOME/systemd/user`, or
    /// `~/.config/systemd/user`.
    static func directory(context: Context) -> String {
        let base = context.environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? context.homeDirectory + "/.config"
        return base + "/systemd/user"
    }

    enum Outcome: Equatable { case written, unchanged }

    /// Writes the unit into `directory` (made with its missing parents, 0700 for new ones, as
    /// `~/.config` is), atomically. An existing different file is not replaced: it may hold the
    /// user's own Environment= lines.
    static func install(text: String, directory: String) throws(CommandError) -> Outcome {
        let path = directory + "/" + fileName
        if case .success(let existing) = BoundedRead.regularFile(atPath: path, limit: 1 << 20) {
            if existing == Array(text.utf8) { return .unchanged }
            throw CommandError(.unitFileError, "\(path) exists and differs from the unit this binary would write; "
                + "compare them (its ExecStart should be `\(executableLine(text))`), or remove it and run "
                + "stscache agent --install-unit again.")
        }
        var made = ""
        for part in directory.split(separator: "/") {
            made += "/" + part
            if mkdir(made, 0o700) != 0 && errno != EEXIST {
                throw CommandError(.unitFileError, "cannot create \(made): \(String(cString: strerror(errno))).")
            }
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CommandError(.unitFileError, "cannot open \(directory): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        do {
            _ = try FileSystem.writeAtomically(directory: fd, directoryPath: directory, finalName: fileName,
                                               temporaryStem: fileName, bytes: Array(text.utf8)) { temporary -> Result<Void, Errno> in
                fchmodat(fd, temporary, 0o644, 0)
                return renameat(fd, temporary, fd, fileName) == 0 ? .success(()) : .failure(Errno(errno))
            }
        } catch {
            throw CommandError(.unitFileError, "cannot write \(path): \(String(cString: strerror(error.errno))).")
        }
        return .written
    }

    static func executableLine(_ text: String) -> String {
        text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") }.map(String.init) ?? ""
    }

    /// config-examples/stscache-agent.service, byte for byte (a unit test compares them).
    static let template = """
        # systemd user unit for `stscache agent`: keeps the AWS role sessions you used lately warm, so no
        # aws/terraform/SDK call waits for STS.
        #
        #   mkdir -p ~/.config/systemd/user
        #   cp stscache-agent.service ~/.config/systemd/user/
        #   systemctl --user daemon-reload
        #   systemctl --user enable --now stscache-agent
        #   stscache agent status
        #
        # scripts/install and the Debian package install this unit with ExecStart naming the binary they
        # install (systemd finds it in /usr/lib/systemd/user, /usr/local/lib/systemd/user or
        # ~/.local/share/systemd/user); `stscache agent --install-unit` writes it to
        # ~/.config/systemd/user with the running binary's path, for any other install.
        # The agent reads the same environment as your shells should: if you set STSCACHE_REFRESH_WINDOW,
        # STSCACHE_CACHE_DIR, STSCACHE_KEY_STORE or AWS_CONFIG_FILE there, set them here too
        # (Environment= lines, or `systemctl --user import-environment NAME`), or the agent keeps another
        # cache warm. With STSCACHE_KEY_STORE=env the agent needs STSCACHE_CACHE_KEY: prefer the keyring
        # or the file store for a service.

        [Unit]
        Description=stscache caching agent (keeps recently used AWS role sessions warm)
        Documentation=man:stscache(1)

        [Service]
        Type=simple
        ExecStart=/usr/local/bin/stscache agent
        # SIGHUP re-reads the config (it also notices edits by itself).
        ExecReload=/bin/kill -HUP $MAINPID
        Restart=on-failure
        RestartSec=10
        # SIGTERM stops it within a second; a refresh under way either lands whole or not at all.
        TimeoutStopSec=5
        # Nothing it holds is worth a core file.
        LimitCORE=0
        NoNewPrivileges=yes
        #Environment=STSCACHE_REFRESH_WINDOW=15m

        [Install]
        WantedBy=default.target

        """
}
