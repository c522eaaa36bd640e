#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import StscacheSupport
import Credentials

/// Why the browser could not be opened, for `console` and `login` alike (a login that opens no
/// browser is not a console failure). Each message names the command's way around the browser.
package typealias BrowserError = CodedError<BrowserErrorCode>

/// The codes of `BrowserError`: `browser.<code>`.
package enum BrowserErrorCode: String, ErrorCode {
    package static let domain = "browser"

    /// `BROWSER` is set but is not a command line stscache can split.
    case invalidSetting = "invalid-setting"
    /// The opener (`BROWSER`'s command, else `xdg-open`) is not in PATH or not executable.
    case openerNotFound = "opener-not-found"
    /// The opener could not be started.
    case spawnFailed = "spawn-failed"
    /// The opener returned a failure status.
    case openerFailed = "opener-failed"
    /// The private redirect page (or its directory) could not be written.
    case pageUnwritable = "page-unwritable"
}

/// Opens a secret URL in the user's browser without putting it in any program's argv.
///
/// A command line is readable by every local user in /proc/PID/cmdline (unless /proc is mounted
/// with hidepid), so `xdg-open <sign-in URL>` would show the sign-in URL to all of them. Instead
/// the URL goes into a redirect page, mode 0600 in a fresh 0700 directory (under
/// `XDG_RUNTIME_DIR`, else `TMPDIR`, else /tmp), and the browser is given that page's
/// `file://` path. The page is removed once the opener has returned and the browser has had
/// `readGrace` seconds to read it: the secret rests in a file only for those seconds, readable
/// only by the user (who can read the cache's key anyway).
package enum BrowserLaunch {
    /// How long the opener may take to return before stscache stops waiting for it (it is
    /// left running: with some setups it *is* the browser).
    package static let openerWait = 10.0
    /// Time for the browser to read the page after the opener returned.
    package static let readGrace = 5.0

    /// `fallback`: the option that does without a browser, for the messages (`console`'s
    /// `--print`, `login`'s `--no-browser`).
    package static func open(url: String, context: Context, fallback: String = "--print") throws(BrowserError) {
        let environment = ChildEnvironment.inherited(from: context.environment)
        let command = try opener(environment: environment, fallback: fallback)
        let path: String
        switch ExecutableSearch.locate(command[0], environment: environment) {
        case .found(let found): path = found
        case .notFound, .notExecutable:
            throw BrowserError(.openerNotFound, "cannot open a browser: \(command[0]) was not found; install xdg-utils or set "
                + "BROWSER, or use \(fallback) and open the URL yourself.")
        }
        let (directory, page) = try writePage(url: url, environment: context.environment, fallback: fallback)
        defer {
            unlink(page)
            rmdir(directory)
        }
        let pid: pid_t
        do {
            pid = try Spawn.start(path: path, arguments: command + ["file://" + page], environment: environment, stdout: 2)
        } catch {
            throw BrowserError(.spawnFailed, "cannot start \(command[0]): \(String(cString: strerror(error.errno))).")
        }
        var termination: Termination?
        let deadline = monotonicSeconds() + openerWait
        while monotonicSeconds() < deadline {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                termination = Termination(waitStatus: status)
                break
            }
            if reaped < 0 && errno != EINTR { break }
            sleepSeconds(0.02)
        }
        if let termination, !termination.succeeded {
            throw BrowserError(.openerFailed, "\(command[0]) failed (status \(termination.shellStatus)); use \(fallback) and "
                + "open the URL yourself.")
        }
        context.sleep(readGrace)
    }

    /// `$BROWSER`'s first entry (split as a command line), else `xdg-open`.
    static func opener(environment: [String: String], fallback: String = "--print") throws(BrowserError) -> [String] {
        guard let browser = environment["BROWSER"], !browser.isEmpty else { return ["xdg-open"] }
        let first = String(browser.split(separator: ":", omittingEmptySubsequences: true).first ?? "")
        guard let words = shellWords(first), !words.isEmpty, !words[0].isEmpty else {
            throw BrowserError(.invalidSetting, "BROWSER is set but is not a command stscache can run; fix it, or use \(fallback).")
        }
        return words
    }

    /// The redirect page, in a fresh private directory.
    static func writePage(url: String, environment: [String: String], fallback: String = "--print") throws(BrowserError)
        -> (directory: String, page: String)
    {
        let candidates: [String] = [environment["XDG_RUNTIME_DIR"], environment["TMPDIR"], "/tmp"].compactMap { $0 }
        let base = candidates.first { (candidate: String) in
            candidate.hasPrefix("/") && access(candidate, W_OK | X_OK) == 0
        } ?? "/tmp"
        var template = Array((base + "/stscache-console.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw BrowserError(.pageUnwritable, "cannot create a private directory in \(base): \(String(cString: strerror(errno))); "
                + "use \(fallback).")
        }
        let directory = String(cString: made)
        let page = directory + "/sign-in.html"
        let escaped = url.replacingAll("&", with: "&amp;").replacingAll("\"", with: "&quot;")
            .replacingAll("<", with: "&lt;").replacingAll(">", with: "&gt;")
        let html = "<!DOCTYPE html>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
            + "<meta http-equiv=\"refresh\" content=\"0;url=\(escaped)\">\n<title>AWS console sign-in</title>\n"
            + "<p>Signing in to the AWS console&hellip;</p>\n"
        let fd = Glibc.open(page, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            rmdir(directory)
            throw BrowserError(.pageUnwritable, "cannot write a page in \(directory): \(String(cString: strerror(code))); use \(fallback).")
        }
        let failed = Array(html.utf8).withUnsafeBytes { FileSystem.writeAll(fd, $0) }
        close(fd)
        if let failed {
            unlink(page)
            rmdir(directory)
            throw BrowserError(.pageUnwritable, "cannot write a page in \(directory): \(String(cString: strerror(failed.code))); use \(fallback).")
        }
        return (directory, page)
    }
}

extension String {
    /// Every occurrence of `target` replaced (FoundationEssentials has no replacingOccurrences).
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}
