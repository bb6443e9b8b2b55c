/* SPDX-License-Identifier: MIT */
/* identity.c - creating, saving and loading identity files; see identity.h. */
#include "identity.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "protocol/err.h"
#include "protocol/keyfile.h"

int
px_identity_generate(struct px_identity *id)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];
    ssize_t n;
    int rc;

    do {
        n = getrandom(seed, sizeof(seed), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(seed)) {
        return PX_EIO;
    }
    rc = px_identity_from_seed(id, seed);
    px_wipe(seed, sizeof(seed));
    return rc;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return PX_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Syncs the directory holding path, so that a new name survives a crash. */
static int
sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n;
    int fd, rc;

    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            return PX_EIO;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return PX_EIO;
    }
    rc = fsync(fd) == 0 ? 0 : PX_EIO;
    close(fd);
    return rc;
}

int
px_identity_save(const char *path, const struct px_identity *id)
{
    char text[PX_KEYFILE_MAX];
    size_t len;
    int fd, rc, saved;

    if ((rc = px_keyfile_format(id, text, sizeof(text), &len)) != 0) {
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? PX_EEXIST : PX_EIO;
        goto out;
    }
    /* The umask cannot widen 0600, but make sure of the mode whatever it is. */
    if (fchmod(fd, 0600) != 0 || (rc = write_all(fd, text, len)) != 0 || fsync(fd) != 0) {
        rc = PX_EIO;
    }
    saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = PX_EIO;
    }
    if (rc != 0) {
        unlink(path);
        errno = saved;
        goto out;
    }
    rc = sync_parent(path);
out:
    px_wipe(text, sizeof(text));
    return rc;
}

int
px_identity_load(const char *path, struct px_identity *id)
{
    char text[PX_KEYFILE_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd, rc;

    memset(id, 0, sizeof(*id));
    /* O_NONBLOCK: a FIFO planted at the path must not hang us before the type check. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        switch (errno) {
        case ENOENT:
            return PX_ENOTFOUND;
        case EACCES:
        case ELOOP: /* a symbolic link: refused, like any file we cannot vouch for */
            return PX_EPERM;
        default:
            return PX_EIO;
        }
    }
    if (fstat(fd, &st) != 0) {
        rc = PX_EIO;
        goto out;
    }
    /* Only a regular file of ours that nobody else may read or write (ssh's rule). */
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
        rc = PX_EPERM;
        goto out;
    }
    /* Read one byte past the cap so that an oversize file is refused, not cut short. */
    while (len < sizeof(text)) {
        n = read(fd, text + len, sizeof(text) - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = PX_EIO;
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    rc = px_keyfile_parse(text, len, id);
out:
    px_wipe(text, sizeof(text));
    close(fd);
    return rc;
}
