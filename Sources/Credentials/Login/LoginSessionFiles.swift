#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import OpenSSLCrypto
import StscacheSupport

/// The AWS CLI's `aws login` cache (`~/.aws/login/cache`, or `AWS_LOGIN_CACHE_DIRECTORY`): read
/// under the policy of `PrivateCacheFile` (the one reader of the CLI's caches: owner, mode,
/// links, bounded), written through the one writer of the user's AWS files (`AWSFileWriter`:
/// atomic, mode kept, 0600 when new, refused when the file changed since it was read).
package struct LoginSessionFiles {
    package var directory: String

    package init(environment: [String: String], homeDirectory: String) {
        directory = LoginSessionFile.directory(environment: environment, homeDirectory: homeDirectory)
    }

    package init(directory: String) {
        self.directory = directory
    }

    package func path(forSession session: String) -> String {
        directory + "/" + LoginSessionFile.fileName(forSession: session)
    }

    func described(_ settings: LoginSessionSettings) -> PrivateCacheFile.Described {
        PrivateCacheFile.Described(what: "the aws login session file", cacheName: "the aws login cache",
                                   login: settings.loginCommand, sizeLimit: LoginSessionFile.sizeLimit)
    }

    /// The session, or the error that says to sign in (no file) or what is wrong with the file.
    package func read(_ settings: LoginSessionSettings) throws(LoginSessionError) -> LoginSessionFile {
        // The only reference to the bytes, so the wipe clears them rather than a copy.
        var checked = try readChecked(settings)
        defer { wipe(&checked.bytes) }
        return try Self.parse(checked.bytes, settings, path(forSession: settings.session))
    }

    /// The session with the snapshot of its file, for a refresh: the refreshed session replaces
    /// the file only while it is still this version (a login or a refresh by the CLI meanwhile
    /// wins).
    package func readForRefresh(_ settings: LoginSessionSettings) throws(LoginSessionError)
        -> (session: LoginSessionFile, file: AWSFileWriter.Snapshot)
    {
        let path = path(forSession: settings.session)
        // The policy first; then the writer's snapshot, which must be of the file it accepted.
        let checked = try readChecked(settings)
        let file: AWSFileWriter.Snapshot
        do {
            file = try AWSFileWriter.read(path, limit: LoginSessionFile.sizeLimit, requiringEditable: false)
        } catch where error.kind == .missing {
            throw Self.notLoggedIn(settings, path)
        } catch {
            throw LoginSessionError(.invalidFile, "cannot read the aws login session file: \(error.message)")
        }
        guard checked.isSameFile(as: file) else {
            throw LoginSessionError(.invalidFile, "the aws login session file \(path) changed while stscache read it; "
                + "run the command again.")
        }
        return (try Self.parse(file.bytes, settings, path), file)
    }

    private func readChecked(_ settings: LoginSessionSettings) throws(LoginSessionError) -> PrivateCacheFile.Checked {
        let name = LoginSessionFile.fileName(forSession: settings.session)
        let checked: PrivateCacheFile.Checked?
        do {
            checked = try PrivateCacheFile.read(directory: directory, name: name, described(settings))
        } catch {
            throw LoginSessionError(error.kind == .insecure ? .insecureFile : .invalidFile, error.message)
        }
        guard let checked else { throw Self.notLoggedIn(settings, directory + "/" + name) }
        return checked
    }

    private static func notLoggedIn(_ settings: LoginSessionSettings, _ path: String) -> LoginSessionError {
        LoginSessionError(.notLoggedIn, "profile \"\(settings.profile)\" uses the aws login session "
            + "\(TerminalText.escaped(settings.session)), but there is no session file (\(path)); sign in: "
            + "\(settings.loginCommand)")
    }

    private static func parse(_ bytes: [UInt8], _ settings: LoginSessionSettings, _ path: String)
        throws(LoginSessionError) -> LoginSessionFile
    {
        switch LoginSessionFile.parse(bytes) {
        case .success(let session): return session
        case .failure(let invalid):
            throw LoginSessionError(.invalidFile, "the aws login session file \(path) of profile \"\(settings.profile)\" "
                + "cannot be used: \(invalid.reason) (the value is not shown); sign in again: \(settings.loginCommand)")
        }
    }

    /// Replaces the file read as `file` with `session`, keeping its mode; refused when the file
    /// changed since (another login or refresh wrote it: its session wins).
    package func write(_ session: LoginSessionFile, replacing file: AWSFileWriter.Snapshot) throws(LoginSessionError) {
        var bytes = session.encoded()
        defer { wipe(&bytes) }
        do {
            _ = try AWSFileWriter.replace(file, with: bytes)
        } catch where error.kind == .changedUnderneath {
            throw LoginSessionError(.writeFailed, "the aws login session file \(file.path) changed while stscache "
                + "refreshed it, so the refreshed session was not written and the file's own is kept.")
        } catch {
            throw LoginSessionError(.writeFailed, "cannot write the aws login session file: \(error.message)")
        }
    }

    /// Writes a new session (a sign-in) for `session`, whatever the file held: 0600 when new,
    /// the cache directory made 0700 when missing.
    package func writeNew(_ file: LoginSessionFile, session: String) throws(LoginSessionError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw LoginSessionError(.writeFailed, "cannot create \(path): \(String(cString: strerror(errno))).")
            }
        }
        var bytes = file.encoded()
        defer { wipe(&bytes) }
        do {
            try AWSFileWriter.write(bytes, to: self.path(forSession: session))
        } catch {
            throw LoginSessionError(.writeFailed, "cannot write the aws login session file: \(error.message)")
        }
    }
}
