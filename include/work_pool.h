/*
 * work_pool.h — a small fixed pool of worker threads for CPU-bound steps
 * (parsing, signature checks) whose results come back to the loop.
 *
 * Design and invariants:
 *
 *   Threads. The loop thread owns everything that is not a job's own data:
 *   HTTP connections (suspended and resumed only from the loop), the spool,
 *   the signing certificates (sns_cert_fetch.h: the cache, the fetches and
 *   their waiters), metrics and the log (and its rate limits). A worker
 *   runs a job's work function and touches only what that job owns; it
 *   never logs, never counts, never calls into libev except ev_async_send(),
 *   which is the one libev call made for other threads.
 *   Workers block every signal: signals reach the loop's thread.
 *
 *   A job. The caller embeds a struct work_job in its own record and fills in
 *   work and done. Between work_pool_submit() and the call of done the job
 *   belongs to the pool: the loop neither reads nor writes the fields the
 *   work function reads or writes (its input and its results), and the
 *   record stays allocated. Everything a work function uses is the job's own:
 *   a copy of the request body, not the server's buffer (the server frees it
 *   when the connection closes); a reference of its own to a key
 *   (EVP_PKEY_up_ref() or X509_get_pubkey()), released by the loop after done,
 *   so that a certificate evicted from the cache meanwhile stays alive while a
 *   worker uses its key; the results in fields of the record. Fields the work
 *   function does not touch (such as the connection pointer, cleared when the
 *   client goes away) stay the loop's.
 *
 *   The hand-off. Two lists under one pthread mutex: the queue (jobs waiting
 *   for a worker) and the finished list (jobs whose work is done). The mutex
 *   orders a worker's writes to a job before the loop's reads of it. No
 *   lock-free structure: the lock is held for a list operation, never for a
 *   job's work. Wake-ups are batched both ways: a submit signals the
 *   condition variable only when a worker is waiting on it (a busy worker
 *   looks at the queue before it waits again), and a worker calls
 *   ev_async_send() only when it finds the finished list empty; the loop
 *   takes the whole list under the mutex and calls each done outside it, so
 *   one wake-up of the loop carries every job finished meanwhile.
 *
 *   Bounded. At most queue_max jobs wait for a worker: work_pool_submit()
 *   answers -EAGAIN beyond it, and the caller refuses the request (503, so
 *   that the sender retries) rather than queueing without end.
 *
 *   Cancelling. work_pool_cancel() takes back a job still waiting in the
 *   queue: it never runs and done is never called; the caller frees it. A
 *   job already running or finished cannot be taken back: its done is called
 *   as usual, and done looks at the caller's own state (the connection gone)
 *   to drop the result instead of acting on it.
 *
 *   Done runs on the loop only, exactly once per job not cancelled, and only
 *   from the ev_async callback (never inside work_pool_submit() or
 *   work_pool_cancel()), so that done may free the job's record.
 *
 *   Freeing. work_pool_free() stops the workers and joins them: the job a
 *   worker is running is finished first (its work function is not
 *   interrupted); jobs still queued never run; finished jobs are not handed to
 *   done. No job is touched by the pool after it returns, and the caller
 *   frees every record it still has. The caller frees the pool only once no
 *   request can be answered any more (the HTTP server freed), so dropping
 *   jobs then loses nothing that was acknowledged: a job precedes the
 *   acknowledgement, which is sent by done's continuation after the message
 *   is stored. A graceful shutdown answers the jobs in flight first, since
 *   the loop keeps running while the server drains its pending requests.
 *
 *   The loop. The pool's async watcher holds a reference on the loop only
 *   while jobs are outstanding (submitted, done not yet called), so that an
 *   idle pool does not keep ev_run() from returning and a busy one does.
 *
 * Ownership: the pool borrows the loop; it never owns a job.
 */
#ifndef TWOWAYD_WORK_POOL_H
#define TWOWAYD_WORK_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct work_pool;

#define WORK_POOL_THREADS_MAX 64

struct work_job {
        /* On a worker thread: the job's own data only. */
        void (*work)(struct work_job *job);
        /* On the loop thread, after work. May free the job's record. */
        void (*done)(struct work_job *job);
        struct work_job *next; /* the pool's */
};

/* threads 1..WORK_POOL_THREADS_MAX, queue_max >= 1. -EINVAL, -ENOMEM, or
 * the negative errno of pthread_create(). */
int work_pool_new(struct ev_loop *loop, unsigned threads, size_t queue_max, struct work_pool **ret);
struct work_pool *work_pool_free(struct work_pool *p);

/* Queues job (work and done set) for a worker. 0, or -EAGAIN when queue_max
 * jobs are waiting already (the job is not queued). Loop thread only. */
int work_pool_submit(struct work_pool *p, struct work_job *job);

/* Takes back a job still waiting for a worker: true, and it will neither run
 * nor be done. false when it is running or finished: done will be called.
 * Loop thread only. */
bool work_pool_cancel(struct work_pool *p, struct work_job *job);

/* What the pool is doing now, for metrics. */
struct work_pool_stats {
        size_t queued;    /* jobs waiting for a worker */
        size_t queue_max; /* beyond which work_pool_submit() answers -EAGAIN */
        unsigned busy;    /* workers running a job */
        unsigned threads; /* workers */
};

/* All zero for a NULL pool (no workers). Loop thread. */
void work_pool_get_stats(struct work_pool *p, struct work_pool_stats *ret);

/* The default number of workers: the online CPUs less one (the loop's),
 * at least 1. */
unsigned work_pool_default_threads(void);

#endif
