#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The program that ran stscache (for `credential-process`: the SDK or tool asking for
/// credentials), by name, for a profile's caller scope.
///
/// One bounded read of `/proc/PPID/cmdline` (the first 4 KiB; a longer command line is cut, and
/// only its first words matter): argv[0]'s file name, and for an interpreter (`python3 x.py`,
/// `node /usr/bin/codex`, a `#!` script, which the kernel starts as `INTERPRETER SCRIPT ...`) the
/// script's file name too. Names, not a proof: the process wrote its own argv, and any process
/// of the user can start stscache as its child.
package enum CallerProcess {
    /// The bytes read; the rest of a longer command line is not needed.
    package static let readLimit = 4096

    /// Names a caller is known by: a program and, after an interpreter, its script. Empty when
    /// the parent's command line cannot be read (it exited, or there is no /proc).
    package static func names(pid: Int32 = getppid()) -> [String] {
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: readLimit)
        var got = -1
        repeat {
            got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, readLimit) }
        } while got < 0 && errno == EINTR
        guard got > 0 else { return [] }
        return names(commandLine: buffer[..<got])
    }

    /// Interpreters whose first operand is the program that runs: shells, Python, Node, and the
    /// like, with or without a version suffix (`python3.12`, `ruby3.3`).
    static let interpreters = ["python", "node", "nodejs", "ruby", "perl", "php", "bun", "deno", "sh", "bash", "dash",
                               "zsh", "ksh", "fish", "env", "uv", "npx", "java"]

    /// The names in a NUL-separated command line (`/proc/PID/cmdline`'s form).
    package static func names<Bytes: Collection<UInt8>>(commandLine: Bytes) -> [String] {
        let words = commandLine.split(separator: 0, maxSplits: 16, omittingEmptySubsequences: false)
            .prefix(16).map { String(decoding: $0, as: UTF8.self) }
        guard let first = words.first.map(baseName), !first.isEmpty else { return [] }
        var result = [first]
        guard isInterpreter(first) else { return result }
        // The first operand: options are skipped; `-m module` names the module; `-c`/`-e` code
        // leaves the interpreter as the only name.
        var index = 1
        while index < words.count {
            let word = words[index]
            if word == "-m", index + 1 < words.count {
                result.append(words[index + 1])
                break
            }
            if word == "-c" || word == "-e" || word == "--eval" { break }
            if word.hasPrefix("-") || (first == "env" && word.contains("=")) {
                index += 1
                continue
            }
            let operand = baseName(word)
            if !operand.isEmpty && operand != first { result.append(operand) }
            break
        }
        return result
    }

    static func isInterpreter(_ name: String) -> Bool {
        interpreters.contains { interpreter in
            guard name.hasPrefix(interpreter) else { return false }
            return name.dropFirst(interpreter.count).allSatisfy { $0.isNumber || $0 == "." }
        }
    }

    static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
