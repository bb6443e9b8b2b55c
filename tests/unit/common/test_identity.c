/* SPDX-License-Identifier: MIT */
/* test_identity.c - identity files on disk: modes, refusals and round trips. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/identity.h"
#include "protocol/err.h"
#include "protocol/keyfile.h"
#include "protocol/sign.h"
#include "util/testutil.h"

static char *dir;

static void
setup(void)
{
    cr_assert_eq(px_crypto_init(), 0);
    dir = px_test_tmpdir();
}

static void
teardown(void)
{
    px_test_rmtree(dir);
    free(dir);
    dir = NULL;
}

TestSuite(identity, .init = setup, .fini = teardown);

/* A malloc'd path inside the test's directory. */
static char *
path_of(const char *name)
{
    char *p;

    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void
fixed_identity(struct px_identity *id, uint8_t first)
{
    uint8_t seed[PX_SIGN_SEEDBYTES];

    for (int i = 0; i < PX_SIGN_SEEDBYTES; i++) {
        seed[i] = (uint8_t)(first + i);
    }
    cr_assert_eq(px_identity_from_seed(id, seed), 0);
}

static void
assert_wiped(const struct px_identity *id)
{
    static const uint8_t zero[PX_SIGN_SECRETKEYBYTES];

    cr_assert_arr_eq(id->sk, zero, sizeof(id->sk), "secret key left behind after a failure");
}

static mode_t
mode_of(const char *path)
{
    struct stat st;

    cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path, strerror(errno));
    return st.st_mode;
}

Test(identity, save_then_load_round_trip)
{
    char *path = path_of("id");
    struct px_identity id, back;

    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(path, &id), 0);
    memset(&back, 0xaa, sizeof(back));
    cr_assert_eq(px_identity_load(path, &back), 0);
    cr_assert_arr_eq(back.pk, id.pk, sizeof(id.pk));
    cr_assert_arr_eq(back.sk, id.sk, sizeof(id.sk));
    free(path);
}

Test(identity, saved_file_is_the_keyfile_format)
{
    char *path = path_of("id");
    char text[PX_KEYFILE_MAX];
    size_t len = 0, flen = 0;
    struct px_identity id;
    uint8_t *got;

    fixed_identity(&id, 7);
    cr_assert_eq(px_identity_save(path, &id), 0);
    cr_assert_eq(px_keyfile_format(&id, text, sizeof(text), &len), 0);
    got = px_test_read_file(path, &flen);
    cr_assert_not_null(got);
    cr_assert_eq(flen, len);
    cr_assert_arr_eq(got, text, len);
    free(got);
    free(path);
}

Test(identity, save_creates_mode_0600_whatever_the_umask)
{
    char *path = path_of("id");
    struct px_identity id;
    mode_t old = umask(0);

    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(path, &id), 0);
    umask(old);
    cr_assert(S_ISREG(mode_of(path)));
    cr_assert_eq(mode_of(path) & 07777, 0600, "mode %o", (unsigned)(mode_of(path) & 07777));
    free(path);
}

Test(identity, save_refuses_to_overwrite)
{
    char *path = path_of("id");
    struct px_identity a, b, back;

    fixed_identity(&a, 1);
    fixed_identity(&b, 100);
    cr_assert_eq(px_identity_save(path, &a), 0);
    cr_assert_eq(px_identity_save(path, &b), PX_EEXIST);
    /* The first key is still there, untouched. */
    cr_assert_eq(px_identity_load(path, &back), 0);
    cr_assert_arr_eq(back.pk, a.pk, sizeof(a.pk));
    free(path);
}

Test(identity, save_refuses_an_existing_file_of_any_kind)
{
    char *path = path_of("id");
    char *target = path_of("elsewhere");
    struct px_identity id;

    fixed_identity(&id, 1);
    /* An empty file another program left there. */
    cr_assert_eq(px_test_write_file(path, "", 0), 0);
    cr_assert_eq(px_identity_save(path, &id), PX_EEXIST);
    cr_assert_eq(unlink(path), 0);
    /* A dangling symlink: following it would create a file somewhere else. */
    cr_assert_eq(symlink(target, path), 0);
    cr_assert_eq(px_identity_save(path, &id), PX_EEXIST);
    cr_assert_eq(access(target, F_OK), -1, "the symlink was followed");
    free(path);
    free(target);
}

Test(identity, save_into_a_missing_directory_fails)
{
    char *path = path_of("no/such/dir/id");
    struct px_identity id;

    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(path, &id), PX_EIO);
    free(path);
}

Test(identity, load_missing_file)
{
    char *path = path_of("absent");
    struct px_identity id;

    memset(&id, 0xaa, sizeof(id));
    cr_assert_eq(px_identity_load(path, &id), PX_ENOTFOUND);
    assert_wiped(&id);
    free(path);
}

Test(identity, load_refuses_group_or_world_access)
{
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0602, 0620, 0666, 0610, 0601};
    char *path = path_of("id");
    struct px_identity id, back;

    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(path, &id), 0);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        cr_assert_eq(chmod(path, modes[i]), 0);
        memset(&back, 0xaa, sizeof(back));
        cr_assert_eq(px_identity_load(path, &back), PX_EPERM, "mode %o", (unsigned)modes[i]);
        assert_wiped(&back);
    }
    /* Owner-only modes are fine. */
    cr_assert_eq(chmod(path, 0400), 0);
    cr_assert_eq(px_identity_load(path, &back), 0);
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(px_identity_load(path, &back), 0);
    free(path);
}

Test(identity, load_refuses_a_symlink)
{
    char *real = path_of("real");
    char *link = path_of("link");
    struct px_identity id, back;
    int rc;

    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(real, &id), 0);
    cr_assert_eq(px_identity_load(real, &back), 0, "the target itself is fine");
    cr_assert_eq(symlink(real, link), 0);
    memset(&back, 0xaa, sizeof(back));
    rc = px_identity_load(link, &back);
    cr_assert_neq(rc, 0, "a symlink to a good identity was followed");
    /* identity.h: a file that is not a regular file is refused with PX_EPERM. */
    cr_assert_eq(rc, PX_EPERM, "a symlink is refused with %s, not PX_EPERM", px_err_name(rc));
    assert_wiped(&back);
    free(real);
    free(link);
}

Test(identity, load_refuses_a_directory)
{
    struct px_identity id;

    memset(&id, 0xaa, sizeof(id));
    cr_assert_eq(px_identity_load(dir, &id), PX_EPERM);
    assert_wiped(&id);
}

/*
 * A FIFO is not a regular file, so it must be refused (PX_EPERM) at once. Opening a FIFO
 * for reading without O_NONBLOCK waits for a writer, so a load that does so hangs: the
 * timeout turns that into a failure instead of a stuck test run.
 */
Test(identity, load_refuses_a_fifo_without_blocking, .timeout = 5)
{
    char *path = path_of("fifo");
    struct px_identity id;

    cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
    memset(&id, 0xaa, sizeof(id));
    cr_assert_eq(px_identity_load(path, &id), PX_EPERM);
    assert_wiped(&id);
    free(path);
}

Test(identity, load_refuses_an_oversize_file)
{
    char *path = path_of("big");
    char text[PX_KEYFILE_MAX + 64];
    size_t len = 0;
    struct px_identity id, back;
    int fd;

    /* A valid identity, padded with a long comment to one byte past the cap. */
    fixed_identity(&id, 1);
    cr_assert_eq(px_keyfile_format(&id, text, sizeof(text), &len), 0);
    cr_assert_lt(len, PX_KEYFILE_MAX - 2);
    text[len] = '#';
    memset(text + len + 1, 'x', PX_KEYFILE_MAX - len - 1);
    text[PX_KEYFILE_MAX] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, PX_KEYFILE_MAX + 1), PX_KEYFILE_MAX + 1);
    close(fd);
    memset(&back, 0xaa, sizeof(back));
    cr_assert_eq(px_identity_load(path, &back), PX_ETOOBIG);
    assert_wiped(&back);

    /* The same file cut to exactly the cap loads. */
    cr_assert_eq(truncate(path, PX_KEYFILE_MAX), 0);
    cr_assert_eq(px_identity_load(path, &back), 0);
    cr_assert_arr_eq(back.pk, id.pk, sizeof(id.pk));
    free(path);
}

Test(identity, load_refuses_a_huge_file)
{
    char *path = path_of("huge");
    struct px_identity id;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 1 << 20), 0);
    close(fd);
    cr_assert_eq(px_identity_load(path, &id), PX_ETOOBIG);
    free(path);
}

Test(identity, load_refuses_a_malformed_file)
{
    char *path = path_of("bad");
    struct px_identity id;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    static const char text[] = "praxis-identity 2\n";

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    cr_assert_eq(px_identity_load(path, &id), PX_EVERSION);
    assert_wiped(&id);
    cr_assert_eq(truncate(path, 0), 0);
    cr_assert_eq(px_identity_load(path, &id), PX_EKEY, "an empty file");
    free(path);
}

Test(identity, generate_gives_fresh_working_keys)
{
    struct px_identity a, b, c;
    uint8_t seed[PX_SIGN_SEEDBYTES], sig[PX_SIGN_BYTES];
    static const uint8_t msg[] = "hello";

    cr_assert_eq(px_identity_generate(&a), 0);
    cr_assert_eq(px_identity_generate(&b), 0);
    cr_assert_arr_neq(a.pk, b.pk, sizeof(a.pk), "two generated keys are equal");
    /* A generated identity is consistent: its seed derives the same pair. */
    px_identity_seed(&a, seed);
    cr_assert_eq(px_identity_from_seed(&c, seed), 0);
    cr_assert_arr_eq(c.pk, a.pk, sizeof(a.pk));
    px_sign(&a, msg, sizeof(msg), sig);
    cr_assert_eq(px_verify(a.pk, msg, sizeof(msg), sig), 0);
}

Test(identity, generated_identity_round_trips_through_a_file)
{
    char *path = path_of("gen");
    struct px_identity a, back;

    cr_assert_eq(px_identity_generate(&a), 0);
    cr_assert_eq(px_identity_save(path, &a), 0);
    cr_assert_eq(px_identity_load(path, &back), 0);
    cr_assert_arr_eq(back.sk, a.sk, sizeof(a.sk));
    free(path);
}

Test(identity, relative_path_in_the_current_directory)
{
    struct px_identity id, back;
    char *old = getcwd(NULL, 0);

    cr_assert_not_null(old);
    cr_assert_eq(chdir(dir), 0);
    fixed_identity(&id, 3);
    cr_assert_eq(px_identity_save("here.id", &id), 0);
    cr_assert_eq(px_identity_load("here.id", &back), 0);
    cr_assert_arr_eq(back.pk, id.pk, sizeof(id.pk));
    cr_assert_eq(chdir(old), 0);
    free(old);
}

Test(identity, load_refuses_a_file_owned_by_another_user)
{
    char *path = path_of("theirs");
    struct px_identity id, back;

    if (geteuid() != 0) {
        cr_skip_test("needs root to give a file to another user");
    }
    fixed_identity(&id, 1);
    cr_assert_eq(px_identity_save(path, &id), 0);
    cr_assert_eq(chown(path, 65534, 65534), 0, "chown: %s", strerror(errno));
    memset(&back, 0xaa, sizeof(back));
    cr_assert_eq(px_identity_load(path, &back), PX_EPERM);
    assert_wiped(&back);
    free(path);
}
