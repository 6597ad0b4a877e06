/*
 * Corpus replay without libFuzzer: linked with one fuzz/fuzz_<name>.c as
 * fuzz/replay_<name>, it calls that target's LLVMFuzzerTestOneInput on
 * every file named on the command line and on every file in a directory
 * named there (one level, in name order), then prints how many inputs it
 * ran. tests/fuzz_replay.sh runs it over fuzz/corpus/<name>/ under make
 * check (any compiler). Exits 1 when a path cannot be read or no input
 * was found; an input that breaks the target crashes it, and the name of
 * that input is printed first.
 */
#include "build_config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

static char replay_current[4096]; /* the input being run, for a crash */

static void
replay_crash(int sig)
{
    static const char msg[] = "replay: crashed on input ";
    ssize_t ignored;

    ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ignored = write(STDERR_FILENO, replay_current, strlen(replay_current));
    ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
    raise(sig); /* SA_RESETHAND: the default action now */
}

static void
replay_catch(void)
{
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = replay_crash;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Run one file: 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *fp = fopen(path, "rb");

    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            uint8_t *more = realloc(buf, cap ? 2 * cap : 4096);

            if (more == NULL) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                free(buf);
                fclose(fp);
                return -1;
            }
            buf = more;
            cap = cap ? 2 * cap : 4096;
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    snprintf(replay_current, sizeof(replay_current), "%s", path);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int
replay_skip(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Run every regular file in dir; adds to *count. */
static int
replay_dir(const char *dir, size_t *count)
{
    struct dirent **names;
    char path[4096];
    struct stat st;
    int n, rc = 0;

    n = scandir(dir, &names, replay_skip, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0) {
                rc = -1;
            } else {
                (*count)++;
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
    size_t count = 0;
    struct stat st;
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    replay_catch();
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            rc |= replay_dir(argv[i], &count) != 0;
        } else if (replay_file(argv[i]) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    printf("replay: %zu inputs\n", count);
    if (count == 0) {
        fprintf(stderr, "replay: no input found\n");
        rc = 1;
    }
    return rc;
}
