/*
 * fuzz_config.c — the INI config parser and its schema checks.
 *
 * The input is written to a memfd and loaded through its /proc/self/fd path
 * with the real config_load() (no test-only entry point is needed). A loaded
 * config must have its required keys; a refused one must explain itself with
 * diagnostics that name the file; restart-only comparison and carry-over must
 * work on whatever was loaded.
 */
#include <stdio.h>
#include <sys/mman.h>

#include "common.h"
#include "config.h"
#include "fuzz_common.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fd = memfd_create("twowayd-fuzz.conf", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config_diag diag = {0};
        struct config *c = NULL, *c2 = NULL;
        char buf[256];
        int r;

        if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
                abort();

        r = config_load(path, &c, &diag);
        if (r < 0) {
                FUZZ_CHECK(!c);
                FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
                if (r == -EINVAL)
                        FUZZ_CHECK(diag.n_lines > 0);
                for (size_t i = 0; i < diag.n_lines; i++) {
                        FUZZ_CHECK(diag.lines[i]);
                        FUZZ_CHECK(strncmp(diag.lines[i], path, strlen(path)) == 0);
                        FUZZ_CHECK(diag.lines[i][strlen(path)] == ':');
                }
                goto out;
        }
        FUZZ_CHECK(r == 0 && c && diag.n_lines == 0);
        FUZZ_CHECK(streq(c->path, path));
        FUZZ_CHECK(c->sns_topic_arns && c->n_sns_topic_arns > 0);
        for (size_t i = 0; i < c->n_sns_topic_arns; i++)
                FUZZ_CHECK(c->sns_topic_arns[i]);
        FUZZ_CHECK(!c->sns_topic_arns[c->n_sns_topic_arns]);
        FUZZ_CHECK(c->consent_table && c->agent_id && c->agent_alias_id);
        FUZZ_CHECK(c->http_listen_host && c->http_path && c->spool_dir);
        FUZZ_CHECK(!c->http_tls_cert == !c->http_tls_key);
        FUZZ_CHECK(c->sms_max_segments >= 1 && c->sms_max_segments <= 10);
        for (size_t i = 0; i < c->n_consent_holidays; i++)
                FUZZ_CHECK(c->consent_holidays && c->consent_holidays[i]);

        FUZZ_CHECK(config_restart_only_changes(c, c, buf, sizeof(buf)) == 0);
        /* Load the same text again and carry the restart-only values over. */
        FUZZ_CHECK(config_load(path, &c2, NULL) == 0);
        FUZZ_CHECK(config_keep_restart_only(c2, c) == 0);
        FUZZ_CHECK(config_restart_only_changes(c, c2, buf, 1) == 0);
out:
        config_free(c2);
        config_free(c);
        config_diag_done(&diag);
        return 0;
}
