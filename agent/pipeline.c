/*
 * pipeline.c - bounded queue and store writer (see pipeline.h).
 *
 * The queue is a ring of fixed-size slots indexed by two ever-growing
 * counters: head (items pushed) and tail (items committed and released).
 * The producer writes only slots at head..tail+QUEUE_SLOTS; the writer reads
 * [tail, head) without holding the lock, since nobody writes there until tail
 * moves past them, which happens only after their commit.
 */
#include "agent/pipeline.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/log.h"
#include "sensors/event.h"

#define QUEUE_SLOTS 2048   /* items in the ring; a commit covers at most half */
#define SLOT_INLINE 800    /* bytes of key+data kept in the slot itself */
#define SCRATCH_BYTES 8192 /* writer's buffer for head+body */
#define LIMITS_EVERY_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum item_kind { ITEM_EVENT, ITEM_QUARANTINE };

struct item {
	uint8_t kind;        /* enum item_kind */
	uint16_t keylen;     /* event: key bytes; quarantine: origin bytes incl. NUL */
	uint16_t reasonlen;  /* quarantine: reason bytes incl. NUL */
	uint32_t len;        /* data (event body or raw reading) bytes */
	int64_t ts_ms;       /* event: arrival time; quarantine: arrival time */
	char *heap;          /* key+[reason]+data when they do not fit inline, else NULL */
	char inline_buf[SLOT_INLINE]; /* key+[reason]+data */
};

struct pipeline {
	struct pipeline_options opt;  /* copy of the caller's options */
	pthread_t thread;             /* the writer */
	pthread_mutex_t mu;           /* guards head, tail, stopping, waiters */
	pthread_cond_t not_full;      /* tail moved: space for the pusher */
	pthread_cond_t not_empty;     /* head moved or stopping: work for the writer */
	pthread_cond_t committed;     /* tail moved: for pipeline_wait() */
	struct item *ring;            /* QUEUE_SLOTS slots */
	uint64_t head;                /* items pushed */
	uint64_t tail;                /* items committed and released */
	int stopping;                 /* pipeline_stop() called */
	int64_t drain_deadline;       /* monotonic ms after which a failing writer gives up */
	int waiters;                  /* threads in pipeline_wait() */
	char *scratch;                /* writer-owned: head + body of one event */
	size_t scratch_cap;           /* its size */
	_Atomic uint64_t st_pushed, st_committed, st_events, st_duplicates,
		st_quarantined, st_commits, st_commit_errors, st_last_seq; /* see pipeline_stats */
	_Atomic int st_healthy;       /* 0 while commits fail */
};

/* Work that is appended but not yet committed, counted on commit. */
struct pending {
	uint64_t events, duplicates, quarantined, last_seq;
	uint64_t bytes; /* event and quarantine bytes appended */
};

static void timespec_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static char *item_bytes(struct item *it)
{
	return it->heap ? it->heap : it->inline_buf;
}

/* Append one item to the open group. Returns 0 or a negative STORE_E*. */
static int write_item(struct pipeline *p, struct item *it, struct pending *pend,
		      char *err, size_t errlen)
{
	char *b = item_bytes(it);
	int rc;

	if (it->kind == ITEM_QUARANTINE) {
		const char *origin = b, *reason = b + it->keylen;
		rc = store_quarantine(p->opt.store, it->ts_ms, origin, reason,
				      b + it->keylen + it->reasonlen, it->len, err, errlen);
		if (rc == 0) {
			pend->quarantined++;
			pend->bytes += it->len;
		}
		return rc;
	}

	uint64_t seq = store_next_seq(p->opt.store);
	size_t need = EVENT_HEAD_MAX + it->len;
	int hl;
	if (need > p->scratch_cap) {
		char *n = realloc(p->scratch, need);
		if (!n) {
			snprintf(err, errlen, "out of memory for a %u-byte event", it->len);
			return STORE_EIO;
		}
		p->scratch = n;
		p->scratch_cap = need;
	}
	hl = event_encode_head(p->opt.gateway_id, p->opt.site, seq, p->scratch, EVENT_HEAD_MAX);
	if (hl < 0) {
		snprintf(err, errlen, "gateway_id or site too long for an event head");
		return STORE_EINVAL;
	}
	memcpy(p->scratch + hl, b + it->keylen, it->len);
	rc = store_append(p->opt.store, seq, it->ts_ms, b, it->keylen, p->scratch,
			  (size_t)hl + it->len, err, errlen);
	if (rc == 1) {
		pend->events++;
		pend->last_seq = seq;
		pend->bytes += (size_t)hl + it->len + it->keylen;
	} else if (rc == 0) {
		pend->duplicates++;
	}
	return rc < 0 ? rc : 0;
}

static void release(struct pipeline *p, uint64_t upto)
{
	pthread_mutex_lock(&p->mu);
	for (uint64_t i = p->tail; i < upto; i++) {
		struct item *it = &p->ring[i % QUEUE_SLOTS];
		free(it->heap);
		it->heap = NULL;
	}
	p->tail = upto;
	pthread_cond_broadcast(&p->not_full);
	pthread_cond_broadcast(&p->committed);
	pthread_mutex_unlock(&p->mu);
}

static void enforce_limits(struct pipeline *p, struct store_drops *last)
{
	struct store_drops d;
	char err[512];

	if (store_enforce_limits(p->opt.store, clock_wall_ms(), &d, err, sizeof err) < 0) {
		log_warn("store", "could not enforce the buffer's limits: %s", err);
		return;
	}
	if (d.undelivered > last->undelivered)
		log_warn("store", "buffer over max_mb: dropped %llu undelivered events "
			 "(%llu in all); raise [buffer] max_mb or bring the sinks back",
			 (unsigned long long)(d.undelivered - last->undelivered),
			 (unsigned long long)d.undelivered);
	if (d.delivered > last->delivered)
		log_info("store", "buffer over max_mb: dropped %llu delivered events",
			 (unsigned long long)(d.delivered - last->delivered));
	*last = d;
}

static void *writer_main(void *arg)
{
	struct pipeline *p = arg;
	struct pending pend = { 0 };
	struct store_drops drops = { 0 };
	struct log_ratelimit rl = { .interval_ms = 60000 };
	char err[512];
	int in_txn = 0, failing = 0, backoff = BACKOFF_MIN_MS;
	int64_t txn_start = 0, next_limits = clock_mono_ms();
	uint64_t processed, head, written = 0; /* bytes committed since the last enforcement */
	uint64_t limit_every = p->opt.max_bytes > 0 ? (uint64_t)p->opt.max_bytes / 8 : UINT64_MAX;

	enforce_limits(p, &drops);
	pthread_mutex_lock(&p->mu);
	processed = p->tail;
	for (;;) {
		int stopping, waiters, rc = 0;
		int64_t now = clock_mono_ms();

		while (p->head == processed && !p->stopping) {
			int wait_ms;
			struct timespec ts;
			if (in_txn)
				wait_ms = (int)(txn_start + p->opt.commit_ms - now);
			else
				wait_ms = (int)(next_limits - now);
			if (wait_ms <= 0)
				break;
			timespec_in(&ts, wait_ms);
			pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
			now = clock_mono_ms();
		}
		head = p->head;
		stopping = p->stopping;
		waiters = p->waiters;
		if (stopping && head == p->tail && !in_txn)
			break;
		if (stopping && failing && now >= p->drain_deadline) {
			log_error("store", "stopping with %llu readings not committed: %s",
				  (unsigned long long)(head - p->tail), err);
			break;
		}
		pthread_mutex_unlock(&p->mu);

		if (head > processed) {
			if (!in_txn) {
				rc = store_begin(p->opt.store, err, sizeof err);
				in_txn = rc == 0;
				txn_start = now;
			}
			for (; rc == 0 && processed < head; processed++)
				rc = write_item(p, &p->ring[processed % QUEUE_SLOTS], &pend, err, sizeof err);
		}
		now = clock_mono_ms();
		if (rc == 0 && in_txn &&
		    (now - txn_start >= p->opt.commit_ms || processed - p->tail >= QUEUE_SLOTS / 2 ||
		     waiters || stopping)) {
			rc = store_commit(p->opt.store, err, sizeof err);
			in_txn = 0;
			if (rc == 0) {
				atomic_fetch_add(&p->st_committed, processed - p->tail);
				atomic_fetch_add(&p->st_events, pend.events);
				atomic_fetch_add(&p->st_duplicates, pend.duplicates);
				atomic_fetch_add(&p->st_quarantined, pend.quarantined);
				atomic_fetch_add(&p->st_commits, 1);
				if (pend.last_seq)
					atomic_store(&p->st_last_seq, pend.last_seq);
				written += pend.bytes;
				memset(&pend, 0, sizeof pend);
				release(p, processed);
				if (failing)
					log_info("store", "writing to the buffer again; nothing was lost");
				failing = 0;
				backoff = BACKOFF_MIN_MS;
				atomic_store(&p->st_healthy, 1);
			}
		}
		if (rc < 0) {
			uint64_t supp = 0;
			/* Keep every item: roll back and write them all again later. */
			store_rollback(p->opt.store);
			in_txn = 0;
			processed = p->tail;
			memset(&pend, 0, sizeof pend);
			atomic_fetch_add(&p->st_commit_errors, 1);
			atomic_store(&p->st_healthy, 0);
			if (!failing || log_ratelimit(&rl, now, &supp))
				log_error("store", "cannot write to the buffer, ingestion paused, "
					  "retrying (nothing is lost): %s", err);
			if (!failing)
				rl.last_ms = now;
			failing = 1;
			pthread_mutex_lock(&p->mu);
			if (!p->stopping || now < p->drain_deadline) {
				struct timespec ts;
				timespec_in(&ts, backoff);
				pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
			}
			pthread_mutex_unlock(&p->mu);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		}
		if (!in_txn && (now >= next_limits || written >= limit_every)) {
			enforce_limits(p, &drops);
			next_limits = now + LIMITS_EVERY_MS;
			written = 0;
		}
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int pipeline_start(struct pipeline **out, const struct pipeline_options *opt,
		   char *err, size_t errlen)
{
	struct pipeline *p = calloc(1, sizeof *p);
	int rc;

	if (!p)
		goto oom;
	p->opt = *opt;
	p->ring = calloc(QUEUE_SLOTS, sizeof *p->ring);
	p->scratch_cap = SCRATCH_BYTES;
	p->scratch = malloc(p->scratch_cap);
	if (!p->ring || !p->scratch)
		goto oom;
	atomic_store(&p->st_healthy, 1);
	atomic_store(&p->st_last_seq, store_next_seq(opt->store) - 1);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->not_full, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->committed, NULL);
	rc = pthread_create(&p->thread, NULL, writer_main, p);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store writer thread: %s", strerror(rc));
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->not_full);
		pthread_cond_destroy(&p->not_empty);
		pthread_cond_destroy(&p->committed);
		goto fail;
	}
	*out = p;
	return 0;
oom:
	snprintf(err, errlen, "out of memory starting the pipeline");
fail:
	if (p) {
		free(p->ring);
		free(p->scratch);
		free(p);
	}
	return -1;
}

/* Copy up to three parts into the next slot, waiting for space. */
static int push(struct pipeline *p, enum item_kind kind, int64_t ts_ms,
		const void *a, size_t alen, const void *b, size_t blen,
		const void *c, size_t clen, uint64_t *ticket)
{
	size_t total = alen + blen + clen;
	char *heap = NULL, *dst;
	struct item *it;

	if (alen > UINT16_MAX || blen > UINT16_MAX || total > UINT32_MAX)
		return -1;
	if (total > SLOT_INLINE && !(heap = malloc(total)))
		return -1;
	pthread_mutex_lock(&p->mu);
	while (p->head - p->tail >= QUEUE_SLOTS && !p->stopping)
		pthread_cond_wait(&p->not_full, &p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(heap);
		return -1;
	}
	it = &p->ring[p->head % QUEUE_SLOTS];
	it->kind = (uint8_t)kind;
	it->ts_ms = ts_ms;
	it->heap = heap;
	dst = item_bytes(it);
	memcpy(dst, a, alen);
	if (kind == ITEM_EVENT) {
		it->keylen = (uint16_t)alen;
		it->reasonlen = 0;
		it->len = (uint32_t)(blen + clen);
	} else {
		it->keylen = (uint16_t)alen;
		it->reasonlen = (uint16_t)blen;
		it->len = (uint32_t)clen;
	}
	if (blen)
		memcpy(dst + alen, b, blen);
	if (clen)
		memcpy(dst + alen + blen, c, clen);
	p->head++;
	if (ticket)
		*ticket = p->head;
	pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	atomic_fetch_add_explicit(&p->st_pushed, 1, memory_order_relaxed);
	return 0;
}

int pipeline_push_event(struct pipeline *p, const void *key, size_t keylen,
			int64_t ts_ms, const char *body, size_t len, uint64_t *ticket)
{
	return push(p, ITEM_EVENT, ts_ms, key, keylen, body, len, NULL, 0, ticket);
}

int pipeline_push_quarantine(struct pipeline *p, int64_t ts_ms, const char *origin,
			     const char *reason, const void *raw, size_t len,
			     uint64_t *ticket)
{
	return push(p, ITEM_QUARANTINE, ts_ms, origin, strlen(origin) + 1, reason,
		    strlen(reason) + 1, raw, len, ticket);
}

int pipeline_wait(struct pipeline *p, uint64_t ticket, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	timespec_in(&ts, timeout_ms);
	pthread_mutex_lock(&p->mu);
	p->waiters++;
	pthread_cond_signal(&p->not_empty);
	while (p->tail < ticket && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&p->committed, &p->mu, &ts);
	p->waiters--;
	rc = p->tail >= ticket ? 0 : -1;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *out)
{
	out->pushed = atomic_load(&p->st_pushed);
	out->committed = atomic_load(&p->st_committed);
	out->events = atomic_load(&p->st_events);
	out->duplicates = atomic_load(&p->st_duplicates);
	out->quarantined = atomic_load(&p->st_quarantined);
	out->commits = atomic_load(&p->st_commits);
	out->commit_errors = atomic_load(&p->st_commit_errors);
	out->last_seq = atomic_load(&p->st_last_seq);
	out->healthy = atomic_load(&p->st_healthy);
}

void pipeline_stop(struct pipeline **pp, int drain_ms)
{
	struct pipeline *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	p->drain_deadline = clock_mono_ms() + drain_ms;
	pthread_cond_broadcast(&p->not_empty);
	pthread_cond_broadcast(&p->not_full);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	for (uint64_t i = p->tail; i < p->head; i++)
		free(p->ring[i % QUEUE_SLOTS].heap);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->not_full);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->committed);
	free(p->ring);
	free(p->scratch);
	free(p);
	*pp = NULL;
}
