/* pool.c -- a small persistent thread pool for rq_gemm_run_many.
 *
 * rq_gemm_run_many(gs, count) runs rq_gemm_run on count problems (normally
 * disjoint rectangles of one output) at once (rq_run_many: any task; rq_dwconv_run_many
 * runs rq_dwconv_run on it): gs[0] on the calling thread, the others claimed one at a time
 * by the calling thread and the pool threads (so more problems than threads balance).  A worker that finishes keeps polling for
 * new work for RQ_SPIN_US microseconds before it sleeps on a condition
 * variable: waking a sleeping thread costs tens to hundreds of microseconds
 * (more in a VM), as much as a whole 1024^3 GEMM half, while back-to-back
 * calls find a polling worker.  One dispatch at a time: a caller that finds
 * the pool busy (another thread's call) runs its problems itself, in order.
 * After fork() the child starts with an empty pool.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sched.h>
#include "rq_internal.h"   /* includes refquant_kernel.h once */

#ifndef RQ_SPIN_US
#define RQ_SPIN_US 2000
#endif
#define RQ_POOL_MAX 64

enum { RQ_SLOT_IDLE = 0, RQ_SLOT_POSTED = 1, RQ_SLOT_DONE = 2 };

typedef struct rq_slot {
    int state;              /* RQ_SLOT_*, accessed atomically */
    int (*fn)(void *ctx, int32_t i);   /* the task: fn(ctx, i) */
    void *ctx;
    int32_t i;
    int rc;
    int cpu;                /* the CPU the worker is pinned to, or -1 */
    pthread_cond_t cv;
} rq_slot;

static pthread_mutex_t rq_pool_mu = PTHREAD_MUTEX_INITIALIZER;      /* guards sleeping workers */
static pthread_mutex_t rq_pool_dispatch = PTHREAD_MUTEX_INITIALIZER; /* one dispatch at a time */
static rq_slot rq_slots[RQ_POOL_MAX];
static int rq_nworkers = 0;
static int rq_atfork_done = 0;

static inline void rq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

static int64_t rq_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void *rq_worker(void *arg)
{
    rq_slot *s = (rq_slot *)arg;
    if (s->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(s->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    for (;;) {
        int64_t deadline = rq_now_us() + RQ_SPIN_US;
        int n = 0;
        while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != RQ_SLOT_POSTED) {
            rq_cpu_relax();
            if (++n % 64 == 0)
                sched_yield();   /* a caller that landed on this CPU gets it at once */
            if (n % 256 == 0 && rq_now_us() > deadline) {
                pthread_mutex_lock(&rq_pool_mu);
                while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != RQ_SLOT_POSTED)
                    pthread_cond_wait(&s->cv, &rq_pool_mu);
                pthread_mutex_unlock(&rq_pool_mu);
                break;
            }
        }
        s->rc = s->fn(s->ctx, s->i);
        __atomic_store_n(&s->state, RQ_SLOT_DONE, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void rq_pool_after_fork_child(void)
{
    int i;
    pthread_mutex_init(&rq_pool_mu, NULL);
    pthread_mutex_init(&rq_pool_dispatch, NULL);
    for (i = 0; i < RQ_POOL_MAX; i++) {
        rq_slots[i].state = RQ_SLOT_IDLE;
        pthread_cond_init(&rq_slots[i].cv, NULL);
    }
    rq_nworkers = 0;   /* the workers did not survive the fork */
}

/* Called with rq_pool_dispatch held.  Returns how many workers exist (<= want).  Worker i
 * is pinned to the i-th CPU this process may use (the scheduler otherwise tends to wake a
 * worker on its waker's CPU); rq_gemm_run_many then posts to workers on other CPUs than
 * the caller's. */
static int rq_pool_grow(int want)
{
    cpu_set_t allowed;
    int have_mask = sched_getaffinity(0, sizeof allowed, &allowed) == 0;
    if (!rq_atfork_done) {
        pthread_atfork(NULL, NULL, rq_pool_after_fork_child);
        rq_atfork_done = 1;
    }
    while (rq_nworkers < want) {
        pthread_t tid;
        pthread_attr_t attr;
        rq_slot *s = &rq_slots[rq_nworkers];
        int c, seen = -1;
        s->cpu = -1;
        for (c = 0; have_mask && c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed) && ++seen == rq_nworkers) {
                s->cpu = c;
                break;
            }
        s->state = RQ_SLOT_IDLE;
        pthread_cond_init(&s->cv, NULL);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, rq_worker, s) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        rq_nworkers++;
    }
    return rq_nworkers;
}

static int rq_merge_rc(int acc, int rc)
{
    if (acc < 0)
        return acc;
    if (rc < 0)
        return rc;
    return rc > acc ? rc : acc;
}

/* One call's tasks 1 .. count-1, claimed one at a time by whoever is free (the caller after
 * task 0, and the posted workers): more tasks than threads then balance themselves when a thread
 * starts late or runs slower (a shared machine), and a worker that was never scheduled leaves its
 * share to the others. */
typedef struct rq_batch {
    int (*fn)(void *ctx, int32_t i);
    void *ctx;
    int32_t count;
    int32_t next;           /* the next unclaimed task, accessed atomically */
} rq_batch;

static int rq_batch_loop(void *arg, int32_t unused)
{
    rq_batch *b = (rq_batch *)arg;
    int rc = RQ_OK;
    int32_t i;
    (void)unused;
    while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->count)
        rc = rq_merge_rc(rc, b->fn(b->ctx, i));
    return rc;
}

/* Runs fn(ctx, 0 .. count-1) at once: task 0 on the calling thread (its floating-point
 * environment is the one checked), the others claimed by the calling thread and by up to count-1
 * pool workers (rq_gemm_run_many, rq_dwconv_run_many).  The combined code as rq_merge_rc forms it. */
int rq_run_many(int (*fn)(void *ctx, int32_t i), void *ctx, int32_t count)
{
    int i, rc = RQ_OK, nw, posted, here, used[RQ_POOL_MAX];
    rq_batch batch;
    if (count == 0)
        return RQ_OK;
    if (count == 1 || pthread_mutex_trylock(&rq_pool_dispatch) != 0) {
        for (i = 0; i < count; i++)   /* alone, or the pool is busy: run them here */
            rc = rq_merge_rc(rc, fn(ctx, i));
        return rc;
    }
    batch.fn = fn;
    batch.ctx = ctx;
    batch.count = count;
    batch.next = 1;
    nw = rq_pool_grow(count < RQ_POOL_MAX ? count : RQ_POOL_MAX);
    here = sched_getcpu();
    posted = 0;
    for (i = 0; i < nw && posted < count - 1; i++) {
        rq_slot *s = &rq_slots[i];
        if (s->cpu == here && nw > count - 1)
            continue;                      /* leave the caller's CPU to the caller */
        s->fn = rq_batch_loop;
        s->ctx = &batch;
        s->i = 0;
        used[posted++] = i;
        __atomic_store_n(&s->state, RQ_SLOT_POSTED, __ATOMIC_RELEASE);
        pthread_mutex_lock(&rq_pool_mu);   /* wakes it if it went to sleep */
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&rq_pool_mu);
    }
    rc = rq_merge_rc(rc, fn(ctx, 0));
    rc = rq_merge_rc(rc, rq_batch_loop(&batch, 0));   /* then whatever no worker has claimed */
    for (i = 0; i < posted; i++) {
        rq_slot *s = &rq_slots[used[i]];
        int n = 0;
        while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != RQ_SLOT_DONE) {
            rq_cpu_relax();
            if (++n % 64 == 0)
                sched_yield();   /* a worker that shares this CPU (a loaded machine) gets it */
        }
        rc = rq_merge_rc(rc, s->rc);
        __atomic_store_n(&s->state, RQ_SLOT_IDLE, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&rq_pool_dispatch);
    return rc;
}

static int rq_gemm_task(void *ctx, int32_t i)
{
    return rq_gemm_run(((rq_gemm **)ctx)[i]);
}

int rq_gemm_run_many(rq_gemm **gs, int32_t count)
{
    int32_t i;
    if (!gs || count < 0)
        return RQ_E_NULL;
    for (i = 0; i < count; i++)
        if (!gs[i])
            return RQ_E_NULL;
    return rq_run_many(rq_gemm_task, gs, count);
}

/* The copies live on the stack up to RQ_AT_STACK rectangles (a prepared op's split: up to 4 pieces
 * per thread), else in one allocation. */
#define RQ_AT_STACK 16
int rq_gemm_run_at(const rq_gemm *ts, int32_t count, const void *a, int32_t lda, void *c, int32_t *path_used)
{
    rq_gemm local[RQ_AT_STACK], *g = local;
    rq_gemm *ptrs[RQ_AT_STACK], **pp = ptrs;
    int32_t i;
    int rc;
    if (!ts || count < 1)
        return RQ_E_NULL;
    if (count > RQ_AT_STACK) {
        g = malloc((size_t)count * sizeof *g);
        pp = malloc((size_t)count * sizeof *pp);
        if (!g || !pp) {
            free(g);
            free(pp);
            return RQ_E_NOMEM;
        }
    }
    for (i = 0; i < count; i++) {
        g[i] = ts[i];
        g[i].a = a;
        g[i].lda = lda;
        g[i].c = c;
        g[i].overflow_count = NULL;
        pp[i] = &g[i];
    }
    rc = count == 1 ? rq_gemm_run(g) : rq_run_many(rq_gemm_task, pp, count);
    if (path_used)
        *path_used = g[0].path_used;
    if (count > RQ_AT_STACK) {
        free(g);
        free(pp);
    }
    return rc;
}
