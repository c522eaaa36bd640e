#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CProcessControl

/// Keeps the secrets in stscache's memory (the cache key, a source's secret key, an MFA code)
/// out of core files and away from same-user debuggers, without taking core dumps away from
/// the programs stscache starts.
///
/// A core file written when Ctrl-\ interrupts an MFA prompt, or on any crash under
/// `ulimit -c unlimited`, would hold both the cache key and the source's secret, in a file
/// anyone with the user's access can read long after. So the first thing stscache does is
/// make itself non-dumpable (which also refuses same-user ptrace and /proc/PID/mem) and set
/// its soft core limit to 0. "Non-dumpable" ends by itself when a child execs a normal
/// program; the core limit is inherited, so each child gets the original one back.
enum CoreDumps {
    /// The core limit stscache started with; nil until `disableForThisProcess()` ran (in-process
    /// tests never run it, so their children keep whatever limit the test runner has). Written
    /// once, first thing in `main`, before any other thread exists; only read afterwards.
    nonisolated(unsafe) private static var startingLimit: stscache_core_limit?

    /// Three system calls (prctl, getrlimit, setrlimit), about a microsecond: cheap enough for
    /// the hit path, which is where the cache key is read.
    static func disableForThisProcess() {
        var original = stscache_core_limit()
        // On failure (a seccomp profile refusing prctl) there is nothing better to do than go
        // on: refusing to run would not protect anything the user can't already read.
        _ = stscache_disable_core_dumps(&original)
        startingLimit = original
    }

    /// Gives a child just started the core limit stscache started with (prlimit). A child
    /// that crashes in the microseconds before this, or a set-user-ID child the call is not
    /// allowed to change, keeps the limit 0: it loses a core file, never gains one.
    static func restoreStartingLimit(in child: pid_t) {
        guard let startingLimit else { return }
        _ = stscache_set_core_limit(child, startingLimit)
    }

    /// Whether this process may dump core (PR_GET_DUMPABLE), for tests.
    static var isDumpable: Bool { stscache_is_dumpable() == 1 }
}
