/*
 * work_pool_test.c — the worker pool: every job done once on the loop, in
 * whatever order; the queue bound; freeing with work queued; taking back a
 * job whose connection closed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>
#include <ev.h>

#include "work_pool.h"

extern void (*work_pool_test_stopping)(void);

struct test_job {
        struct work_job job;
        unsigned input;
        unsigned long result; /* the worker's */
        pthread_t worker;     /* the worker's */
        int ran;              /* the worker's */
        int done;             /* the loop's */
        pthread_t done_on;
};

/* A gate the blocking jobs wait at, and a count of the jobs that reached it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static unsigned at_gate;

static void gate_reset(void)
{
        pthread_mutex_lock(&gate_lock);
        gate_open = false;
        at_gate = 0;
        pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
        pthread_mutex_lock(&gate_lock);
        gate_open = true;
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
}

/* Waits (bounded: 10 s) until n jobs are at the gate. */
static void gate_wait_for(unsigned n)
{
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&gate_lock);
        while (at_gate < n)
                if (pthread_cond_timedwait(&gate_cond, &gate_lock, &until) != 0)
                        break;
        pthread_mutex_unlock(&gate_lock);
        assert_int_equal(at_gate, n);
}

static void sum_work(struct work_job *job)
{
        struct test_job *t = (struct test_job *)job;

        t->result = 0;
        for (unsigned i = 1; i <= t->input; i++)
                t->result += i;
        t->worker = pthread_self();
        t->ran++;
}

static void gated_work(struct work_job *job)
{
        struct test_job *t = (struct test_job *)job;

        pthread_mutex_lock(&gate_lock);
        at_gate++;
        pthread_cond_broadcast(&gate_cond);
        while (!gate_open)
                pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
        t->ran++;
}

static void record_done(struct work_job *job)
{
        struct test_job *t = (struct test_job *)job;

        t->done++;
        t->done_on = pthread_self();
}

static void guard_fired(struct ev_loop *loop, ev_timer *w, int revents)
{
        (void)revents;
        *(bool *)w->data = true;
        ev_break(loop, EVBREAK_ALL);
}

/* ev_run() returns when nothing holds the loop any more; a pool that kept
 * holding it would make it run for ever: fail after 10 s instead. */
static void run_until_released(struct ev_loop *loop)
{
        bool fired = false;
        ev_timer guard;

        ev_timer_init(&guard, guard_fired, 10., 0.);
        guard.data = &fired;
        ev_timer_start(loop, &guard);
        ev_unref(loop); /* the guard alone does not keep the loop running */
        ev_run(loop, 0);
        ev_ref(loop);
        ev_timer_stop(loop, &guard);
        assert_false(fired);
}

static void test_every_job_done_once_on_the_loop(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct work_pool *p = NULL;
        struct test_job jobs[500] = {0};
        bool off_loop = false;

        assert_int_equal(work_pool_new(loop, 3, 1000, &p), 0);
        for (unsigned i = 0; i < 500; i++) {
                jobs[i] = (struct test_job){.job = {.work = sum_work, .done = record_done},
                                            .input = i * 7};
                assert_int_equal(work_pool_submit(p, &jobs[i].job), 0);
        }
        /* The outstanding jobs hold the loop: it returns once all are done, and
         * then the pool lets it go. */
        run_until_released(loop);
        for (unsigned i = 0; i < 500; i++) {
                unsigned long n = i * 7;

                assert_int_equal(jobs[i].ran, 1);
                assert_int_equal(jobs[i].done, 1);
                assert_int_equal(jobs[i].result, n * (n + 1) / 2);
                assert_true(pthread_equal(jobs[i].done_on, pthread_self()));
                off_loop |= !pthread_equal(jobs[i].worker, pthread_self());
        }
        assert_true(off_loop);
        /* An idle pool does not hold the loop. */
        ev_run(loop, 0);
        work_pool_free(p);
        ev_loop_destroy(loop);
}

static void test_queue_is_bounded(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct work_pool *p = NULL;
        struct test_job jobs[4] = {0};
        struct work_pool_stats st;

        gate_reset();
        assert_int_equal(work_pool_new(loop, 1, 2, &p), 0);
        for (unsigned i = 0; i < 4; i++)
                jobs[i] = (struct test_job){.job = {.work = gated_work, .done = record_done}};
        assert_int_equal(work_pool_submit(p, &jobs[0].job), 0);
        gate_wait_for(1); /* the one worker is busy with it */
        assert_int_equal(work_pool_submit(p, &jobs[1].job), 0);
        assert_int_equal(work_pool_submit(p, &jobs[2].job), 0);
        assert_int_equal(work_pool_submit(p, &jobs[3].job), -EAGAIN);
        /* What /metrics shows of it. */
        work_pool_get_stats(p, &st);
        assert_int_equal(st.queued, 2);
        assert_int_equal(st.queue_max, 2);
        assert_int_equal(st.busy, 1);
        assert_int_equal(st.threads, 1);
        gate_release();
        ev_run(loop, 0);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[3].ran, 0);
        assert_int_equal(jobs[3].done, 0);
        /* Room again once the queue drained. */
        jobs[3].job = (struct work_job){.work = sum_work, .done = record_done};
        assert_int_equal(work_pool_submit(p, &jobs[3].job), 0);
        ev_run(loop, 0);
        assert_int_equal(jobs[3].done, 1);
        work_pool_get_stats(p, &st);
        assert_int_equal(st.queued, 0);
        assert_int_equal(st.busy, 0);
        work_pool_free(p);
        ev_loop_destroy(loop);
}

static void test_free_with_work_queued(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct work_pool *p = NULL;
        struct test_job running = {.job = {.work = gated_work, .done = record_done}};
        struct test_job queued[3] = {0};

        gate_reset();
        assert_int_equal(work_pool_new(loop, 1, 8, &p), 0);
        assert_int_equal(work_pool_submit(p, &running.job), 0);
        gate_wait_for(1);
        for (unsigned i = 0; i < 3; i++) {
                queued[i] = (struct test_job){.job = {.work = sum_work, .done = record_done},
                                              .input = 3};
                assert_int_equal(work_pool_submit(p, &queued[i].job), 0);
        }
        /* Freed while one job runs and three wait: the running one is finished
         * (released only once the workers were told to stop), the others never
         * run, and nothing is done. */
        work_pool_test_stopping = gate_release;
        work_pool_free(p);
        work_pool_test_stopping = NULL;
        assert_int_equal(running.ran, 1);
        assert_int_equal(running.done, 0);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(queued[i].ran, 0);
                assert_int_equal(queued[i].done, 0);
        }
        /* The loop is not left holding a reference. */
        ev_run(loop, 0);
        ev_loop_destroy(loop);
}

static void test_cancel_of_a_closed_connection(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct work_pool *p = NULL;
        struct test_job running = {.job = {.work = gated_work, .done = record_done}};
        struct test_job *waiting = calloc(1, sizeof(*waiting));
        struct test_job *kept = calloc(1, sizeof(*kept));
        struct work_pool_stats st;

        gate_reset();
        assert_non_null(waiting);
        assert_non_null(kept);
        assert_int_equal(work_pool_new(loop, 1, 8, &p), 0);
        assert_int_equal(work_pool_submit(p, &running.job), 0);
        gate_wait_for(1);
        *waiting = (struct test_job){.job = {.work = sum_work, .done = record_done}};
        *kept = (struct test_job){.job = {.work = sum_work, .done = record_done}};
        assert_int_equal(work_pool_submit(p, &waiting->job), 0);
        assert_int_equal(work_pool_submit(p, &kept->job), 0);
        /* The client went away while its job waited: taken back, never run. */
        assert_true(work_pool_cancel(p, &waiting->job));
        assert_false(work_pool_cancel(p, &waiting->job));
        free(waiting); /* its owner frees it, as the delivery is */
        /* A running job cannot be taken back. */
        assert_false(work_pool_cancel(p, &running.job));
        work_pool_get_stats(p, &st);
        assert_int_equal(st.queued, 1);
        assert_int_equal(st.busy, 1);
        gate_release();
        /* Runs until the two left are done: the one taken back holds nothing. */
        run_until_released(loop);
        assert_int_equal(running.done, 1);
        assert_int_equal(kept->ran, 1);
        assert_int_equal(kept->done, 1);
        /* A finished job cannot be taken back either. */
        assert_false(work_pool_cancel(p, &kept->job));
        free(kept);
        work_pool_free(p);
        ev_loop_destroy(loop);
}

static void test_arguments(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct work_pool *p = NULL;

        assert_int_equal(work_pool_new(loop, 0, 8, &p), -EINVAL);
        assert_int_equal(work_pool_new(loop, WORK_POOL_THREADS_MAX + 1, 8, &p), -EINVAL);
        assert_int_equal(work_pool_new(loop, 1, 0, &p), -EINVAL);
        assert_null(p);
        assert_true(work_pool_default_threads() >= 1);
        assert_null(work_pool_free(NULL));
        ev_loop_destroy(loop);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_job_done_once_on_the_loop),
                cmocka_unit_test(test_queue_is_bounded),
                cmocka_unit_test(test_free_with_work_queued),
                cmocka_unit_test(test_cancel_of_a_closed_connection),
                cmocka_unit_test(test_arguments),
        };

        return cmocka_run_group_tests_name("work_pool", tests, NULL, NULL);
}
