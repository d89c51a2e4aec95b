/* Shared by the test programs that check Prometheus expositions: runs
 * `promtool check metrics` (installed by scripts/setup.sh) on a text. */
#ifndef ZKCAR_TESTS_PROMTOOL_UTIL_H
#define ZKCAR_TESTS_PROMTOOL_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `promtool check metrics` with `text` on its stdin. Returns its exit
 * status (-1 if it could not run) and writes what it printed (stdout and
 * stderr, truncated to outcap - 1 bytes) into `out`. promtool is content
 * when the status is 0 and it printed nothing. */
static inline int promtool_check(const char *text, char *out, size_t outcap)
{
    char in_path[] = "/tmp/zkcar-promtool-in-XXXXXX";
    char out_path[] = "/tmp/zkcar-promtool-out-XXXXXX";
    int status = -1;
    out[0] = '\0';
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
    size_t len = strlen(text);
    if (in_fd < 0 || out_fd < 0 || write(in_fd, text, len) != (ssize_t)len || lseek(in_fd, 0, SEEK_SET) != 0)
        goto cleanup;
    pid_t pid = fork();
    if (pid < 0)
        goto cleanup;
    if (pid == 0) {
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        goto cleanup;
    ssize_t n = pread(out_fd, out, outcap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
cleanup:
    if (in_fd >= 0) {
        close(in_fd);
        unlink(in_path);
    }
    if (out_fd >= 0) {
        close(out_fd);
        unlink(out_path);
    }
    return status;
}

#endif
