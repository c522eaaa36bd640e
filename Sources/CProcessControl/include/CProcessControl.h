#ifndef STSCACHE_CPROCESSCONTROL_H
#define STSCACHE_CPROCESSCONTROL_H

#include <stdint.h>
#include <signal.h>
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
/// at that instant cannot inherit the connection; non-blocking too when `nonblocking` is not 0
/// (the endpoint's poll loop). Returns the descriptor, or -1 with errno set.
int stscache_accept_cloexec(int listener, int nonblocking);

/// The agent's sleep: a CLOCK_REALTIME timerfd (close-on-exec, non-blocking). Timerfd and
/// signalfd are Linux calls Glibc's Swift module does not expose. Returns -1 with errno set.
int stscache_realtime_timer_create(void);

/// Arms `timer` to fire at the absolute wall-clock time `seconds`.`nanoseconds`, cancelled when
/// the clock is set (TFD_TIMER_CANCEL_ON_SET: a step of the wall clock wakes the agent to
/// re-plan). seconds < 0 disarms it. Returns 0 or an errno value.
int stscache_realtime_timer_arm(int timer, int64_t seconds, long nanoseconds);

/// Reads `timer`: 0 when it fired, ECANCELED when the wall clock was set meanwhile, EAGAIN when
/// neither happened, another errno value on failure.
int stscache_realtime_timer_read(int timer);

/// Blocks `count` signals for this thread and returns a signalfd (close-on-exec, non-blocking)
/// that reports them, or -1 with errno set.
int stscache_signal_fd(const int *signals, int count);

/// The next signal number from `fd`, 0 when none is pending, -1 with errno set on failure.
int stscache_signal_fd_read(int fd);

/// POSIX_SPAWN_SETSID: the child starts its own session (no controlling terminal). glibc has
/// the flag since 2.26 but Swift does not import it. 0 where it does not exist.
short stscache_spawn_setsid_flag(void);

/// `exec`'s signal passing, lossless whichever thread takes a signal. The handler (an
/// SA_SIGINFO handler) records every process-sent signal (si_code <= 0; a
/// terminal's Ctrl-C already reached the child's process group) in an atomic pending set, then
/// sends the pending set to the target if there is one. `stscache_forward_to(pid)` sets the target
/// and sends whatever arrived before it, so a signal taken by any thread at any moment between
/// the handler's installation and the child's end is passed on exactly once (coalesced, as
/// signals are). `stscache_forward_to(0)` clears target and pending set.
void stscache_forward_handler(int signal, siginfo_t *info, void *context);
void stscache_forward_to(pid_t pid);

#endif
