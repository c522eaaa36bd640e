/*
 * LD_PRELOAD shim for the fault suite: freezes the process in the middle of writing a cache
 * temp file, so a test can kill it (or signal it) at exactly that point.
 *
 * The first write(2) to a file whose name ends in ".tmp" writes half of its bytes, then the
 * process stops itself with SIGSTOP and, once continued, returns the short count (callers loop
 * for the rest, as write(2) allows). Every other write is passed through untouched.
 *
 * Built at test time by test_faults.py: cc -shared -fPIC -o stop_in_write.so stop_in_write.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static int stopped_once;

ssize_t write(int fd, const void *buf, size_t count) {
    if (!real_write) real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (!stopped_once && count > 1) {
        char link[64];
        char target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 4 && memcmp(target + len - 4, ".tmp", 4) == 0) {
            stopped_once = 1;
            ssize_t done = real_write(fd, buf, count / 2);
            raise(SIGSTOP);
            return done;
        }
    }
    return real_write(fd, buf, count);
}
