/*
 * loop_wait.h — for unit tests that drive a real libev loop: run it until a
 * condition holds, bounded in time (a guard timer wakes the loop, so a
 * condition that never comes fails the test instead of hanging it).
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_LOOP_WAIT_H
#define TWOWAYD_TEST_LOOP_WAIT_H

#include <stdbool.h>

#include <ev.h>

static inline void loop_wait_expired_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        (void)revents;
        *(bool *)w->data = true;
        ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until cond(arg) holds, for at most limit seconds; returns
 * whether it holds. */
static inline bool run_loop_while_not(struct ev_loop *loop, bool (*cond)(const void *arg),
                                      const void *arg, double limit)
{
        bool expired = false;
        ev_timer guard;

        ev_timer_init(&guard, loop_wait_expired_cb, limit, 0.);
        guard.data = &expired;
        ev_timer_start(loop, &guard);
        while (!cond(arg) && !expired)
                ev_run(loop, EVRUN_ONCE);
        ev_timer_stop(loop, &guard);
        return cond(arg);
}

static inline bool loop_wait_flag_set(const void *arg)
{
        return *(const bool *)arg;
}

/* Run the loop until *done is set, for at most limit seconds; returns *done. */
static inline bool run_loop_until(struct ev_loop *loop, const bool *done, double limit)
{
        return run_loop_while_not(loop, loop_wait_flag_set, done, limit);
}

#endif
