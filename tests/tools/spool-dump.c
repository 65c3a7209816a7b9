/*
 * spool-dump — prints every row of a spool as one JSON object per line, so
 * tests can check what the daemon stored. Run it only while the daemon is
 * stopped: opening the spool recovers rows left in progress.
 *
 *   spool-dump DIR
 */
#include <stdio.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "spool.h"

static json_t *str_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

static void print_row(const struct spool_row *r)
{
        json_t *o = json_pack(
                "{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:I,s:o,s:o,s:I,s:b,s:s,s:o}", "id",
                (json_int_t)r->id, "sns_message_id", str_or_null(r->sns_message_id),
                "inbound_message_id", str_or_null(r->inbound_message_id), "topic_arn",
                str_or_null(r->topic_arn), "origination_number", str_or_null(r->origination_number),
                "destination_number", str_or_null(r->destination_number), "body",
                str_or_null(r->body), "keyword", str_or_null(r->keyword), "last_error",
                str_or_null(r->last_error), "state", spool_state_to_string(r->state), "reply_state",
                spool_reply_state_to_string(r->reply_state), "attempts", (json_int_t)r->attempts,
                "reply_message_id", str_or_null(r->reply_message_id), "raw", str_or_null(r->raw),
                "agent_calls", (json_int_t)r->agent_calls, "agent_streamed", r->agent_streamed,
                "keyword_class", spool_class_to_string(r->keyword_class), "retry_cause",
                str_or_null(r->retry_cause));

        if (!o)
                exit(EXIT_FAILURE);
        json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(o);
}

int main(int argc, char *argv[])
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct spool *s = NULL;
        int r;

        bool live = argc == 3 && strcmp(argv[1], "--live") == 0;
        const char *dir = argv[argc - 1];

        if (argc != 2 && !live) {
                fprintf(stderr, "usage: spool-dump [--live] DIR\n");
                return EXIT_FAILURE;
        }
        /* --live: beside a running daemon, as twowayctl reads it (read-only, no lock, no
         * recovery). */
        r = spool_open(loop,
                       &(struct spool_options){.dir = dir,
                                               .access = live ? SPOOL_TOOL_READ : SPOOL_DAEMON},
                       &s);
        if (r < 0) {
                fprintf(stderr, "spool-dump: %s: %s\n", dir, strerror(-r));
                return EXIT_FAILURE;
        }
        for (int st = 0; st < _SPOOL_STATE_MAX; st++) {
                int64_t after = 0;

                for (;;) {
                        struct spool_row **rows = NULL;
                        size_t n = 0;

                        r = spool_list(s, st, after, 500, &rows);
                        if (r < 0) {
                                fprintf(stderr, "spool-dump: %s\n", strerror(-r));
                                return EXIT_FAILURE;
                        }
                        for (n = 0; rows && rows[n]; n++) {
                                print_row(rows[n]);
                                after = rows[n]->id;
                        }
                        spool_rows_free(rows);
                        if (n < 500)
                                break;
                }
        }
        spool_free(s);
        ev_loop_destroy(loop);
        return EXIT_SUCCESS;
}
