#ifndef STSCACHE_CPROCESSCONTROL_H
#define STSCACHE_CPROCESSCONTROL_H

#include <stdint.h>
#include <sys/types.h>

// Core dumps and ptrace: prctl(2) is variadic, which Swift does not import, and the rlimit
// calls differ in spelling between Glibc and Darwin. Every function returns 0 on success and
// an errno value on failure.

/// The core-file size limit this process started with, to give back to its children.
typedef struct {
    uint64_t soft;
    uint64_t hard;
} stscache_core_limit;

/// Makes this process non-dumpable (PR_SET_DUMPABLE 0: no core file, no same-user ptrace or
/// /proc/PID/mem) and its soft RLIMIT_CORE 0, keeping the hard limit. Stores the limit it had
/// in `original` before changing it. Both changes are attempted even when one fails; the
/// first failure's errno is returned.
int stscache_disable_core_dumps(stscache_core_limit *original);

/// Sets the RLIMIT_CORE of process `pid` (0: this process) to `limit` with prlimit(2).
int stscache_set_core_limit(pid_t pid, stscache_core_limit limit);

/// accept(2) with the new descriptor close-on-exec from the start (accept4 and SOCK_CLOEXEC are
/// GNU extensions Glibc's Swift module does not expose), so a program spawned by another thread
/// at that instant cannot inherit the connection. Returns the descriptor, or -1 with errno set.
int stscache_accept_cloexec(int listener);

#endif
