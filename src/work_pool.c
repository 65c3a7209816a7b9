/*
 * work_pool.c — worker threads behind one mutex; results back to the loop
 * through an ev_async watcher. See work_pool.h for the invariants.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include "common.h"
#include "work_pool.h"

struct work_pool {
        struct ev_loop *loop;
        ev_async wake; /* a worker finished a job */
        pthread_mutex_t lock;
        pthread_cond_t queued;        /* a job was queued, or stopping */
        struct work_job *head, *tail; /* waiting for a worker, oldest first */
        size_t n_queued, queue_max;   /* under lock */
        struct work_job *finished;    /* work done, done not called yet; under lock */
        unsigned n_idle, n_busy;      /* workers waiting for a job, running one; under lock */
        bool stopping;                /* under lock */
        size_t outstanding;           /* loop thread only */
        unsigned n_threads;           /* started */
        pthread_t threads[WORK_POOL_THREADS_MAX];
};

static void *worker_main(void *userdata)
{
        struct work_pool *p = userdata;
        struct work_job *job;
        bool wake_loop;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->head && !p->stopping) {
                        p->n_idle++;
                        pthread_cond_wait(&p->queued, &p->lock);
                        p->n_idle--;
                }
                if (p->stopping)
                        break;
                job = p->head;
                p->head = job->next;
                if (!p->head)
                        p->tail = NULL;
                p->n_queued--;
                p->n_busy++;
                pthread_mutex_unlock(&p->lock);

                job->work(job);

                pthread_mutex_lock(&p->lock);
                p->n_busy--;
                /* Only the job that finds the list empty wakes the loop: the
                 * loop has taken every earlier one, and takes the later ones
                 * with this one, since it takes the whole list at once. */
                wake_loop = !p->finished;
                job->next = p->finished;
                p->finished = job;
                if (wake_loop) {
                        pthread_mutex_unlock(&p->lock);
                        ev_async_send(p->loop, &p->wake);
                        pthread_mutex_lock(&p->lock);
                }
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* On the loop: every finished job to its done, outside the lock (done may
 * submit again, or free the job). */
static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
        struct work_pool *p = w->data;
        struct work_job *list, *next, *ordered = NULL;

        pthread_mutex_lock(&p->lock);
        list = TAKE_PTR(p->finished);
        pthread_mutex_unlock(&p->lock);
        /* Pushed newest first: turned around, the oldest finished is done first. */
        for (; list; list = next) {
                next = list->next;
                list->next = ordered;
                ordered = list;
        }
        for (; ordered; ordered = next) {
                next = ordered->next;
                ordered->next = NULL;
                if (--p->outstanding == 0)
                        ev_unref(loop);
                ordered->done(ordered);
        }
}

unsigned work_pool_default_threads(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        if (n <= 1)
                return 1;
        return (unsigned)MIN(n - 1, (long)WORK_POOL_THREADS_MAX);
}

#ifdef TWOWAYD_UNIT_TEST
/* Called once the workers were told to stop, before they are joined. */
void (*work_pool_test_stopping)(void);
#endif

static void stop_threads(struct work_pool *p)
{
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->queued);
        pthread_mutex_unlock(&p->lock);
#ifdef TWOWAYD_UNIT_TEST
        if (work_pool_test_stopping)
                work_pool_test_stopping();
#endif
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        p->n_threads = 0;
}

int work_pool_new(struct ev_loop *loop, unsigned threads, size_t queue_max, struct work_pool **ret)
{
        sigset_t all, old;
        struct work_pool *p;
        int r = 0;

        if (!loop || !ret || threads < 1 || threads > WORK_POOL_THREADS_MAX || queue_max < 1)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->loop = loop;
        p->queue_max = queue_max;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->queued, NULL);
        ev_async_init(&p->wake, wake_cb);
        p->wake.data = p;
        ev_async_start(loop, &p->wake);
        ev_unref(loop); /* idle: see work_pool.h */
        /* The workers start with every signal blocked, so that signals reach
         * the loop's thread, where libev's watchers expect them. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        for (; p->n_threads < threads; p->n_threads++) {
                r = pthread_create(&p->threads[p->n_threads], NULL, worker_main, p);
                if (r != 0)
                        break;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                work_pool_free(p);
                return -r;
        }
        *ret = p;
        return 0;
}

struct work_pool *work_pool_free(struct work_pool *p)
{
        if (!p)
                return NULL;
        stop_threads(p);
        /* Queued and finished jobs are dropped: their owner frees them. */
        if (p->outstanding == 0)
                ev_ref(p->loop);
        ev_async_stop(p->loop, &p->wake);
        pthread_cond_destroy(&p->queued);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

int work_pool_submit(struct work_pool *p, struct work_job *job)
{
        int r = 0;

        pthread_mutex_lock(&p->lock);
        if (p->n_queued >= p->queue_max) {
                r = -EAGAIN;
        } else {
                job->next = NULL;
                if (p->tail)
                        p->tail->next = job;
                else
                        p->head = job;
                p->tail = job;
                p->n_queued++;
                /* A busy worker looks at the queue before it waits again. */
                if (p->n_idle > 0)
                        pthread_cond_signal(&p->queued);
        }
        pthread_mutex_unlock(&p->lock);
        if (r == 0 && p->outstanding++ == 0)
                ev_ref(p->loop);
        return r;
}

bool work_pool_cancel(struct work_pool *p, struct work_job *job)
{
        struct work_job *prev = NULL, *j;
        bool found = false;

        pthread_mutex_lock(&p->lock);
        for (j = p->head; j; prev = j, j = j->next) {
                if (j != job)
                        continue;
                if (prev)
                        prev->next = j->next;
                else
                        p->head = j->next;
                if (p->tail == j)
                        p->tail = prev;
                p->n_queued--;
                found = true;
                break;
        }
        pthread_mutex_unlock(&p->lock);
        if (found && --p->outstanding == 0)
                ev_unref(p->loop);
        return found;
}

void work_pool_get_stats(struct work_pool *p, struct work_pool_stats *ret)
{
        *ret = (struct work_pool_stats){0};
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        ret->queued = p->n_queued;
        ret->busy = p->n_busy;
        pthread_mutex_unlock(&p->lock);
        ret->threads = p->n_threads;
        ret->queue_max = p->queue_max;
}
