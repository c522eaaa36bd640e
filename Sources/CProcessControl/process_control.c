#define _GNU_SOURCE  // prlimit(2)

#include "CProcessControl.h"

#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#endif

int stscache_disable_core_dumps(stscache_core_limit *original) {
    int failure = 0;
#if defined(__linux__)
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) failure = errno;
#endif
    struct rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) != 0) return failure ? failure : errno;
    original->soft = (uint64_t)limit.rlim_cur;
    original->hard = (uint64_t)limit.rlim_max;
    limit.rlim_cur = 0;
    if (setrlimit(RLIMIT_CORE, &limit) != 0 && failure == 0) failure = errno;
    return failure;
}

int stscache_set_core_limit(pid_t pid, stscache_core_limit limit) {
#if defined(__linux__)
    struct rlimit wanted = {.rlim_cur = (rlim_t)limit.soft, .rlim_max = (rlim_t)limit.hard};
    return prlimit(pid, RLIMIT_CORE, &wanted, NULL) == 0 ? 0 : errno;
#else
    (void)pid;
    (void)limit;
    return ENOSYS;
#endif
}

int stscache_accept_cloexec(int listener, int nonblocking) {
#if defined(__linux__)
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
#else
    int fd = accept(listener, NULL, NULL);
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return fd;
#endif
}

#if defined(__linux__)
int stscache_realtime_timer_create(void) {
    return timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
}

int stscache_realtime_timer_arm(int timer, int64_t seconds, long nanoseconds) {
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    if (seconds >= 0) {
        when.it_value.tv_sec = (time_t)seconds;
        when.it_value.tv_nsec = nanoseconds;
        // A zero it_value disarms a timerfd: a time at the epoch still means "now".
        if (seconds == 0 && nanoseconds == 0) when.it_value.tv_nsec = 1;
    }
    return timerfd_settime(timer, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &when, NULL) == 0 ? 0 : errno;
}

int stscache_realtime_timer_read(int timer) {
    uint64_t expirations = 0;
    ssize_t got = read(timer, &expirations, sizeof expirations);
    if (got == (ssize_t)sizeof expirations) return 0;
    return got < 0 ? errno : EIO;
}

int stscache_signal_fd(const int *signals, int count) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int index = 0; index < count; index++) sigaddset(&mask, signals[index]);
    int failure = pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (failure != 0) {
        errno = failure;
        return -1;
    }
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int stscache_signal_fd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t got = read(fd, &info, sizeof info);
    if (got == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (got < 0 && errno == EAGAIN) return 0;
    if (got >= 0) errno = EIO;
    return -1;
}

short stscache_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0;
#endif
}
#else
int stscache_realtime_timer_create(void) { errno = ENOSYS; return -1; }
int stscache_realtime_timer_arm(int timer, int64_t seconds, long nanoseconds) { (void)timer; (void)seconds; (void)nanoseconds; return ENOSYS; }
int stscache_realtime_timer_read(int timer) { (void)timer; return ENOSYS; }
int stscache_signal_fd(const int *signals, int count) { (void)signals; (void)count; errno = ENOSYS; return -1; }
int stscache_signal_fd_read(int fd) { (void)fd; errno = ENOSYS; return -1; }
short stscache_spawn_setsid_flag(void) { return 0; }
#endif

// exec's signal passing (see the header). Signal numbers here are below 64.
static _Atomic pid_t forward_target = 0;
static _Atomic unsigned long long forward_pending = 0;

static void forward_pending_to(pid_t target) {
    unsigned long long pending = atomic_exchange(&forward_pending, 0ULL);
    for (int signal = 1; pending != 0 && signal < 64; signal++) {
        if (pending & (1ULL << signal)) {
            pending &= ~(1ULL << signal);
            kill(target, signal);
        }
    }
}

void stscache_forward_handler(int signal, siginfo_t *info, void *context) {
    (void)context;
    // si_code > 0: sent by the kernel (the terminal), which signalled the child's group too.
    if (info != NULL && info->si_code > 0) return;
    if (signal <= 0 || signal >= 64) return;
    int saved = errno;
    // Recorded before the target is read: if the target is not set yet, stscache_forward_to
    // stores it after this and then finds the signal pending (sequentially consistent atomics).
    atomic_fetch_or(&forward_pending, 1ULL << signal);
    pid_t target = atomic_load(&forward_target);
    if (target > 0) forward_pending_to(target);
    errno = saved;
}

void stscache_forward_to(pid_t pid) {
    atomic_store(&forward_target, pid);
    if (pid > 0) {
        forward_pending_to(pid);
    } else {
        atomic_store(&forward_pending, 0ULL);
    }
}
