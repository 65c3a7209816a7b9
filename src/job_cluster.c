/*
 * job_cluster.c — the claim step in cluster mode (cluster.h): the sender's
 * lease of the message's lane (joined when held here, else taken: the fence), for the
 * conversation lane the order check that imports the sender's earlier open
 * records stored elsewhere, then the claim of the message record under the
 * fence. Each call is the job's one handle (job->work); the step ends with a
 * verdict (job_steps.h).
 *
 *   lease held elsewhere      RETRY LEASE_HELD (never processed meanwhile)
 *   earlier record imported   RETRY CLUSTER_ORDER (the spool's order then
 *                             handles the earlier one first)
 *   record finished elsewhere DONE, job->complete (the row ends done)
 *   a higher fence has it     RETRY LEASE_HELD
 *   table unreachable         RETRY CLUSTER
 */
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "cluster.h"
#include "common.h"
#include "ddb.h"
#include "job.h"
#include "job_steps.h"
#include "metrics.h"

static int64_t job_now_ms(const struct job *j)
{
        return (int64_t)(ev_now(j->env->loop) * 1000.);
}

static struct cluster_msg job_msg(const struct job *j)
{
        const struct spool_row *row = j->row;

        return (struct cluster_msg){
                .sender = row->origination_number,
                .inbound_message_id = row->inbound_message_id,
                .sns_message_id = row->sns_message_id,
                .destination = row->destination_number,
                .topic_arn = row->topic_arn,
                .raw = row->raw,
                .received_at = row->received_at,
                .keyword_class = row->keyword_class,
        };
}

/* Start one call of the step as the job's handle; on failure end the step. */
static void call(struct job *j, const char *op, json_t *body, cluster_call_cb cb)
{
        int r = cluster_call(j->env->cluster, op, body, cb, j, &j->work.aws);

        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER, "cluster %s: %s", op, strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_AWS;
}

/* The end of a failed call: cancelled, or the table could not be reached. */
static bool call_failed(struct job *j, int r, const struct ddb_result *res, const char *what)
{
        char buf[JOB_DETAIL_MAX];

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return true;
        }
        if (r >= 0 || (res && res->condition_failed))
                return false;
        cluster_count_failure(j->env->cluster);
        job_format_aws_error(buf, sizeof(buf), what, r, res ? res->aws->error : NULL);
        job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER, "%s", buf);
        return true;
}

/* --- the claim of the record -------------------------------------------------------- */

static void record_read_cb(int r, const struct ddb_result *res, void *userdata);

/* The claim's condition failed: what the record says decides. */
static void judge_record(struct job *j, const json_t *item)
{
        const char *state = ddb_item_get_s(item, "state");
        const char *owner = ddb_item_get_s(item, "owner");

        if (state && !streq(state, "open")) {
                (void)snprintf(j->handled_by, sizeof(j->handled_by), "%s",
                               owner ? owner : "another instance");
                log_info("cluster.handled_elsewhere",
                         LOG_FIELDS(JOB_FIELDS(j), LF("OWNER", j->handled_by),
                                    LF("RECORD_STATE", state)),
                         "message %s was handled by instance %s (%s)", j->spool_id, j->handled_by,
                         state);
                j->complete = true;
                job_done(j);
                return;
        }
        cluster_count_lease_wait(j->env->cluster);
        job_verdict(j, JOB_RETRY, JOB_CAUSE_LEASE_HELD,
                    "the record is claimed under a newer lease (instance %s)",
                    owner ? owner : "unknown");
}

static void record_read_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;

        j->work = (struct job_work){0};
        if (call_failed(j, r, res, "cluster record read"))
                return;
        if (!res->item) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER, "cluster record vanished");
                return;
        }
        judge_record(j, res->item);
}

static void claimed_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;
        const struct spool_row *row = j->row;

        j->work = (struct job_work){0};
        if (call_failed(j, r, res, "cluster claim"))
                return;
        if (r >= 0) {
                const char *reply_state = ddb_item_get_s(res->item, "reply_state");

                j->claimed = true;
                /* An instance that died after its marker: the reply may have
                 * gone out, so it is never sent again (and the agent is not
                 * asked for nothing). */
                if (reply_state && streq(reply_state, "sent")) {
                        log_info("cluster.handled_elsewhere",
                                 LOG_FIELDS(JOB_FIELDS(j), LF("RECORD_STATE", "sent")),
                                 "message %s was already answered", j->spool_id);
                        j->complete = true;
                        job_done(j);
                        return;
                }
                if (reply_state) {
                        job_verdict(j, JOB_DEAD, JOB_CAUSE_REPLY_UNKNOWN,
                                    "reply state unknown: an earlier attempt began sending it");
                        return;
                }
                job_done(j);
                return;
        }
        if (res->item) {
                judge_record(j, res->item);
                return;
        }
        /* Not every DynamoDB returns the old item on a failed condition: read it. */
        call(j, "GetItem",
             cluster_record_get_request(cluster_params(j->env->cluster), row->origination_number,
                                        row->received_at, row->inbound_message_id),
             record_read_cb);
}

static void claim_record(struct job *j)
{
        struct cluster_msg m = job_msg(j);

        call(j, "UpdateItem",
             cluster_claim_request(cluster_params(j->env->cluster), &m, j->fence, job_now_ms(j)),
             claimed_cb);
}

/* --- the sender's order across instances ------------------------------------------------ */

static void order_page(struct job *j);

/* This page is checked: read the next one, or claim. */
static void order_checked(struct job *j)
{
        if (isempty(j->order_after)) {
                claim_record(j);
                return;
        }
        if (j->order_pages < CLUSTER_ORDER_PAGES) {
                order_page(j);
                return;
        }
        log_warning("cluster.order_unchecked", LOG_FIELDS(JOB_FIELDS(j)),
                    "%s has more than %u records within the maximum age: the order of message "
                    "%s is checked against the first ones only",
                    j->phone, CLUSTER_ORDER_PAGES * CLUSTER_QUERY_LIMIT, j->spool_id);
        claim_record(j);
}

static void imported_cb(int r, unsigned new_rows, void *userdata)
{
        struct job *j = userdata;

        j->work = (struct job_work){0};
        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER,
                            "cannot store the sender's earlier messages: %s", strerror(-r));
                return;
        }
        if (new_rows > 0) {
                log_info("cluster.order", LOG_FIELDS(JOB_FIELDS(j)),
                         "%u earlier message(s) of %s stored by another instance are still "
                         "open: taken into this spool, they are handled first",
                         new_rows, j->phone);
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER_ORDER,
                            "earlier messages of the sender were open elsewhere");
                return;
        }
        order_checked(j);
}

static void earlier_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;
        const char *next = ddb_item_get_s(res ? res->last_key : NULL, "sk");
        char sk[CLUSTER_SK_MAX];

        j->work = (struct job_work){0};
        if (call_failed(j, r, res, "cluster order check"))
                return;
        j->order_pages++;
        (void)snprintf(j->order_after, sizeof(j->order_after), "%s", next ? next : "");
        (void)cluster_record_sk(sk, sizeof(sk), j->row->received_at, j->row->inbound_message_id);
        r = cluster_import_batch(j->env->cluster, res->items, sk, imported_cb, j, &j->work.import);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER,
                            "cannot store the sender's earlier messages: %s", strerror(-r));
                return;
        }
        if (r == 0) {
                j->work.kind = JOB_WORK_IMPORT;
                return;
        }
        order_checked(j);
}

static void order_page(struct job *j)
{
        const struct spool_row *row = j->row;

        call(j, "Query",
             cluster_earlier_open_request(cluster_params(j->env->cluster), row->origination_number,
                                          row->received_at, row->inbound_message_id,
                                          j->order_after),
             earlier_cb);
}

static void after_lease(struct job *j)
{
        if (cluster_lane_of(j->row->keyword_class) != CLUSTER_LANE_CONVERSATION) {
                claim_record(j);
                return;
        }
        j->order_after[0] = '\0';
        j->order_pages = 0;
        order_page(j);
}

/* --- the lease ------------------------------------------------------------------------------ */

static void leased(struct job *j, const struct ddb_result *res)
{
        long long fence;
        int r;

        if (ddb_item_get_n_int(res->item, "fence", &fence) < 0 || fence <= 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLUSTER, "lease without a fence");
                return;
        }
        r = cluster_lease_hold(j->env->cluster, j->row->origination_number,
                               cluster_lane_of(j->row->keyword_class), fence);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_NO_MEMORY, "out of memory");
                return;
        }
        j->fence = fence;
        j->leased = true;
        after_lease(j);
}

/* Cancelled while the lease was being taken: give it back rather than leave
 * the sender to wait for its expiry (an orphaned job has nobody to ask). */
static void give_back(struct job *j, int r, const struct ddb_result *res)
{
        long long fence;

        if (!job_cancelled(j) || r < 0 || !j->env ||
            ddb_item_get_n_int(res->item, "fence", &fence) < 0)
                return;
        if (cluster_lease_hold(j->env->cluster, j->row->origination_number,
                               cluster_lane_of(j->row->keyword_class), fence) >= 0)
                cluster_lease_drop(j->env->cluster, j->row->origination_number,
                                   cluster_lane_of(j->row->keyword_class), fence);
}

static void taken_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;

        j->work = (struct job_work){0};
        give_back(j, r, res);
        if (call_failed(j, r, res, "cluster lease"))
                return;
        if (r < 0) {
                /* Held, and not run out: another instance works on this sender. */
                cluster_count_lease_wait(j->env->cluster);
                job_verdict(j, JOB_RETRY, JOB_CAUSE_LEASE_HELD,
                            "the sender's %s lease is held by another instance",
                            cluster_lane_to_string(cluster_lane_of(j->row->keyword_class)));
                return;
        }
        leased(j, res);
}

static void take(struct job *j)
{
        call(j, "UpdateItem",
             cluster_lease_take_request(cluster_params(j->env->cluster), j->row->origination_number,
                                        cluster_lane_of(j->row->keyword_class), job_now_ms(j)),
             taken_cb);
}

void job_cluster_claim(struct job *j)
{
        enum cluster_lane lane = cluster_lane_of(j->row->keyword_class);
        long long fence;

        j->step = JOB_STEP_CLAIM;
        /* Held here already: joined, never asked for again (cluster.h). */
        if (cluster_lease_join(j->env->cluster, j->row->origination_number, lane, &fence) > 0) {
                j->fence = fence;
                j->leased = true;
                after_lease(j);
                return;
        }
        take(j);
}
