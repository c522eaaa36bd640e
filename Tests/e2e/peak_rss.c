/*
 * Runs a program and reports its peak resident memory, for the fault suite's memory bounds.
 *
 *   peak_rss OUT-FILE PROGRAM [ARG...]
 *
 * Writes the child's ru_maxrss (KiB) to OUT-FILE and exits as the child did (re-raising its
 * signal). Needed because a child forked straight from pytest inherits pytest's peak RSS in
 * ru_maxrss (Linux folds the pre-exec address space into it); forked from this small launcher,
 * the number is the program's own.
 *
 * Built at test time by test_faults.py: cc -O2 -o peak_rss peak_rss.c
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: peak_rss OUT-FILE PROGRAM [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) return 125;
    if (pid == 0) {
        execv(argv[2], argv + 2);
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) return 125;
    }
    FILE *out = fopen(argv[1], "w");
    if (out) {
        fprintf(out, "%ld\n", usage.ru_maxrss);
        fclose(out);
    }
    if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
}
