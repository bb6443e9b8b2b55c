/* SPDX-License-Identifier: MIT */
/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

extern char **environ;

uint8_t *
px_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            uint8_t *nb;

            if (ncap > (64u << 20)) {
                free(buf);
                fclose(f);
                return NULL;
            }
            if ((nb = realloc(buf, ncap)) == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    buf[n] = 0;
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

int
px_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;

    if (f == NULL) {
        return -1;
    }
    if (len > 0 && fwrite(data, 1, len, f) != len) {
        rc = -1;
    }
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

char *
px_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path;

    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    cr_assert(asprintf(&path, "%s/praxis-test-XXXXXX", base) > 0);
    cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
    return path;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
px_test_rmtree(const char *path)
{
    if (path != NULL) {
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

char *
px_test_shared_vector(const char *name)
{
    const char *ci = getenv("CI");
    char *path;
    struct stat st;

    cr_assert(asprintf(&path, "%s/%s", PX_SHARED_VECTORS_DIR, name) > 0);
    if (stat(path, &st) == 0) {
        return path;
    }
    free(path);
    if (ci != NULL && strcmp(ci, "true") == 0) {
        cr_assert_fail("shared vector %s not found in %s (CI=true: it must be there)", name,
                       PX_SHARED_VECTORS_DIR);
    } else {
        cr_skip_test("shared vector %s not found in %s: skipped", name, PX_SHARED_VECTORS_DIR);
    }
    return NULL;
}

char *
px_test_bin(const char *name)
{
    char *path;

    cr_assert(asprintf(&path, "%s/%s", PX_BIN_DIR, name) > 0);
    return path;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
append(char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap == 0 ? 4096 : *cap);
        char *nb;

        while (*len + n + 1 > ncap) {
            ncap *= 2;
        }
        if ((nb = realloc(*buf, ncap)) == NULL) {
            return -1;
        }
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

int
px_test_run(char *const argv[], const void *in, size_t in_len, char *const envp_extra[],
            int timeout_ms, struct px_run *r)
{
    int pin[2], pout[2], perr[2];
    size_t in_off = 0, out_cap = 0, err_cap = 0;
    int64_t deadline = now_ms() + timeout_ms;
    bool open_out = true, open_err = true, killed = false;
    pid_t pid;
    int st;

    memset(r, 0, sizeof(*r));
    if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        for (size_t i = 0; envp_extra != NULL && envp_extra[i] != NULL; i++) {
            putenv(envp_extra[i]);
        }
        execve(argv[0], argv, environ);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    if (in_len == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    while (open_out || open_err) {
        struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
        int64_t left = deadline - now_ms();
        char chunk[65536];

        if (!open_out) {
            fds[0].fd = -1;
        }
        if (!open_err) {
            fds[1].fd = -1;
        }
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (poll(fds, 3, (int)left) < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));

                if (n <= 0) {
                    if (i == 0) {
                        open_out = false;
                    } else {
                        open_err = false;
                    }
                } else if (i == 0) {
                    append(&r->out, &r->out_len, &out_cap, chunk, (size_t)n);
                } else {
                    append(&r->err, &r->err_len, &err_cap, chunk, (size_t)n);
                }
            }
        }
        if (pin[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(pin[1], (const char *)in + in_off, in_len - in_off);

            if (n > 0) {
                in_off += (size_t)n;
            }
            if (n < 0 && errno != EAGAIN) {
                in_off = in_len;
            }
            if (in_off == in_len) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
    }
    if (pin[1] >= 0) {
        close(pin[1]);
    }
    close(pout[0]);
    close(perr[0]);
    /* The pipes are closed or the deadline passed; the child is exiting or killed. */
    if (!killed) {
        int64_t left = deadline - now_ms();

        while (waitpid(pid, &st, WNOHANG) == 0) {
            if (left-- <= 0) {
                kill(pid, SIGKILL);
                killed = true;
                waitpid(pid, &st, 0);
                break;
            }
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    } else {
        waitpid(pid, &st, 0);
    }
    if (killed) {
        r->status = -1;
    } else if (WIFEXITED(st)) {
        r->status = WEXITSTATUS(st);
    } else {
        r->status = 128 + WTERMSIG(st);
    }
    return 0;
}

void
px_run_free(struct px_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

bool
px_test_mount_tmpfs(const char *dir, const char *size, const char *who)
{
    const char *ci = getenv("CI");
    char opts[64];
    int e;

    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) == 0) {
        return true;
    }
    e = errno;
    if (ci != NULL && strcmp(ci, "true") == 0) {
        cr_assert_fail("%s: cannot mount a %s tmpfs on %s: %s (this test needs root; CI=true: "
                       "it must run)",
                       who, size, dir, strerror(e));
    }
    fprintf(stderr, "%s: cannot mount a %s tmpfs (%s; it needs root): skipped\n", who, size,
            strerror(e));
    return false;
}
