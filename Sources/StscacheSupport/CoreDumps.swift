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
/// program; the core limit is inherited, so each child is spawned with the original one.
package enum CoreDumps {
    /// The core limit stscache started with; nil until `disableForThisProcess()` ran (in-process
    /// tests never run it, so their children keep whatever limit the test runner has). Written
    /// once, first thing in `main`, before any other thread exists; only read afterwards.
    nonisolated(unsafe) private static var startingLimit: stscache_core_limit?

    /// Three system calls (prctl, getrlimit, setrlimit), about a microsecond: cheap enough for
    /// the hit path, which is where the cache key is read.
    package static func disableForThisProcess() {
        var original = stscache_core_limit()
        // On failure (a seccomp profile refusing prctl) there is nothing better to do than go
        // on: refusing to run would not protect anything the user can't already read.
        _ = stscache_disable_core_dumps(&original)
        startingLimit = original
    }

    /// Runs `spawn` (a `posix_spawn`) with the core limit stscache started with, then sets its
    /// own back to 0, so the child starts with the user's limit from its first instruction.
    /// (Setting it on the child with prlimit after the spawn raced the child: a helper that read
    /// its limits at once could still see 0.) stscache stays non-dumpable throughout, so the
    /// raised limit does not make stscache itself dump in those microseconds.
    package static func withStartingLimit<T>(_ spawn: () throws -> T) rethrows -> T {
        guard let startingLimit else { return try spawn() }
        _ = stscache_set_core_limit(0, startingLimit)
        defer { _ = stscache_set_core_limit(0, stscache_core_limit(soft: 0, hard: startingLimit.hard)) }
        return try spawn()
    }
}
