#define _GNU_SOURCE  // prlimit(2)

#include "CProcessControl.h"

#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>

#if defined(__linux__)
#include <sys/prctl.h>
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

int stscache_accept_cloexec(int listener) {
#if defined(__linux__)
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
#else
    int fd = accept(listener, NULL, NULL);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#endif
}
