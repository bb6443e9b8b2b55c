/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - runs a libFuzzer target over files without libFuzzer, so that every
 * build (gcc included) replays the committed seed corpus as an ordinary test.
 *
 * Usage: fuzz_X PATH... where each PATH is a file or a directory of files (not searched
 * recursively; entries starting with '.' and anything but regular files are skipped, and
 * the rest run in name order so that a failure reproduces). Exits 0 when at least one
 * input ran and every input ran to the end (the target aborts on a broken property), 1
 * on a usage or I/O error, an input over REPLAY_MAX_INPUT, or nothing to run.
 *
 * Each input is handed over in a heap block of exactly its size, as libFuzzer does, so
 * that AddressSanitizer builds catch a read one byte past the end.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not fuzz seeds; refuse rather than read them whole. */
#define REPLAY_MAX_INPUT (4u << 20)

static int
run_file(const char *path, unsigned *ran)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL, *exact = NULL;
    size_t n;
    int rc = 1;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    /* One byte more than the cap tells a file at the cap from a larger one. */
    if ((buf = malloc(REPLAY_MAX_INPUT + 1)) == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        goto out;
    }
    n = fread(buf, 1, REPLAY_MAX_INPUT + 1, f);
    if (ferror(f)) {
        perror(path);
        goto out;
    }
    if (n > REPLAY_MAX_INPUT) {
        fprintf(stderr, "%s: larger than %u bytes, not a fuzz input\n", path, REPLAY_MAX_INPUT);
        goto out;
    }
    if ((exact = malloc(n > 0 ? n : 1)) == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        goto out;
    }
    if (n > 0) {
        memcpy(exact, buf, n);
    }
    free(buf);
    buf = NULL;
    /* Named before it runs: if the target aborts, the last line says which input did it. */
    printf("replay: %s (%zu bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, n);
    (*ran)++;
    rc = 0;
out:
    free(exact);
    free(buf);
    fclose(f);
    return rc;
}

static int
skip_dot(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int
run_dir(const char *dir, unsigned *ran)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, skip_dot, alphasort);
    int rc = 0;

    if (n < 0) {
        perror(dir);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        if (rc == 0) {
            if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
                sizeof(path)) {
                fprintf(stderr, "%s/%s: path too long\n", dir, names[i]->d_name);
                rc = 1;
            } else if (stat(path, &st) != 0) {
                perror(path);
                rc = 1;
            } else if (S_ISREG(st.st_mode)) {
                rc = run_file(path, ran);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    unsigned ran = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;

        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        rc = S_ISDIR(st.st_mode) ? run_dir(argv[i], &ran) : run_file(argv[i], &ran);
        if (rc != 0) {
            return 1;
        }
    }
    printf("replayed %u inputs\n", ran);
    if (ran == 0) {
        fprintf(stderr, "%s: no inputs to replay\n", argv[0]);
        return 1;
    }
    return 0;
}
