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

#include "agent/clock.h"
#include "agent/log.h"
#include "sensors/event.h"

#define QUEUE_SLOTS 2048   /* items in the ring; a commit covers at most half */
#define SLOT_INLINE 800    /* bytes of key+data kept in the slot itself */
#define SCRATCH_BYTES 8192 /* writer's buffer for head+body */
#define LIMITS_EVERY_MS 1000
/*
 * A group commits before commit_ms when its source paused: no new item for
 * IDLE_COMMIT_MS and for IDLE_COMMIT_GAPS times the group's mean gap
 * between items, and it holds IDLE_COMMIT_BYTES or more. So a burst (the
 * simulator's rounds, a broker's backlog) is not held back; but readings
 * that arrive one by one fill the group until commit_ms, and a handful is
 * not committed on its own. Each commit also writes about 7 pages that are
 * not the events' (28 KiB: page 1, the B-trees' interior and last leaves),
 * so a few events per commit cost flash several times their size, and a
 * longer commit_ms would buy no fewer commits (tests/bench/RESULTS.md, flash
 * wear).
 */
#define IDLE_COMMIT_MS 1
#define IDLE_COMMIT_GAPS 4
#define IDLE_COMMIT_BYTES (32 * 1024)
#define WAKE_BATCH 256    /* while a group is open the writer wakes every IDLE_COMMIT_MS
			      on its own; a push wakes it only when this many wait */
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

/* Work that is appended but not yet committed, counted on commit. */
struct pending {
	uint64_t events, duplicates, quarantined, last_seq;
	uint64_t bytes; /* event and quarantine bytes appended */
	uint64_t items; /* items appended */
	int64_t last_ms; /* when the last of them was appended (monotonic ms) */
};

struct pipeline {
	struct pipeline_options opt;  /* copy of the caller's options */
	pthread_t thread;             /* the writer */
	pthread_mutex_t mu;           /* guards head, tail, stopping, the conditions */
	pthread_cond_t not_full;      /* tail moved: space for the pusher */
	pthread_cond_t not_empty;     /* head moved or stopping: work for the writer */
	pthread_cond_t committed;     /* tail moved: for pipeline_wait() */
	struct item *ring;            /* QUEUE_SLOTS slots */
	uint64_t head;                /* items pushed */
	uint64_t tail;                /* items committed and released */
	int stopping;                 /* pipeline_drain() called */
	struct {
		char sink[STORE_SINK_NAME_MAX]; /* "" = unused slot */
		uint64_t seq;                   /* the position to store */
		char last_error[256];           /* its last error ("" = none) */
		int dirty;                      /* posted, not stored yet */
	} pos[STORE_SINK_MAX];        /* sink positions posted by forwarders (under mu) */
	_Atomic int pos_dirty;        /* some pos[] is dirty (set under mu; read without it
					 by the writer to skip the lock when there is nothing) */
	int joined;                   /* the writer was (being) joined */
	int64_t drain_deadline;       /* monotonic ms after which a failing writer gives up */
	_Atomic int waiters;          /* threads in pipeline_wait(): commit without waiting */

	/* The store side. Whoever holds store_mu may write: the writer thread,
	 * or a thread in pipeline_wait() that commits its own item rather than
	 * waking the writer and sleeping (two context switches per MQTT
	 * message otherwise). */
	pthread_mutex_t store_mu;     /* guards everything below and the store */
	_Atomic uint64_t processed;   /* items appended to the open group: [tail, processed) */
	_Atomic int in_txn;           /* a group is open */
	int64_t txn_start;            /* when it was opened (monotonic ms) */
	struct pending pend;          /* what the open group holds */
	_Atomic int failing;          /* the last write failed: only the writer retries */
	int backoff_ms;               /* the writer's next retry delay */
	uint64_t written;             /* bytes committed since the last limits check */
	char err[512];                /* the last store error */
	char *scratch;                /* head + body of one event */
	size_t scratch_cap;           /* its size */

	_Atomic uint64_t st_pushed, st_committed, st_events, st_duplicates,
		st_quarantined, st_commits, st_commit_errors, st_last_seq; /* see pipeline_stats */
	_Atomic int st_healthy;       /* 0 while commits fail */
	_Atomic int st_damaged;       /* 1 once a write failed with STORE_ECORRUPT */
	char damage[256];             /* its error; written before st_damaged is read as 1 */
};

static void pipeline__timespec_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static char *pipeline__item_bytes(struct item *it)
{
	return it->heap ? it->heap : it->inline_buf;
}

/* Append one item to the open group. Returns 0 or a negative STORE_E*. */
static int pipeline__write_item(struct pipeline *p, struct item *it, struct pending *pend,
				char *err, size_t errlen)
{
	char *b = pipeline__item_bytes(it);
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

static void pipeline__release(struct pipeline *p, uint64_t upto)
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

/* A damaged page met by the writer (a write, or the limits' reads): the
 * marker, and buffer_damaged for the agent, which restarts itself. */
static void pipeline__damaged(struct pipeline *p, const char *err)
{
	/* Only the writer thread comes here: the error is written first. */
	if (atomic_load(&p->st_damaged))
		return;
	snprintf(p->damage, sizeof p->damage, "%s", err);
	atomic_store(&p->st_damaged, 1);
	store_mark_damaged(p->opt.store);
}

static void pipeline__enforce_limits(struct pipeline *p, struct store_drops *last)
{
	struct store_drops d;
	char err[512];
	int code = store_enforce_limits(p->opt.store, clock_wall_ms(), &d, err, sizeof err);

	if (code < 0) {
		if (code == STORE_ECORRUPT)
			pipeline__damaged(p, err);
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

/*
 * With store_mu held and no group open: store the positions the forwarders
 * posted, in one small transaction of their own. The writer does it so
 * that the buffer has one writer: a forwarder writing on its own handle
 * would wait for the write lock that the open group holds for up to
 * commit_ms, again and again (hundreds of ms under load).
 */
static void pipeline__apply_positions(struct pipeline *p)
{
	struct { char sink[STORE_SINK_NAME_MAX]; uint64_t seq; char last_error[256]; } todo[STORE_SINK_MAX];
	size_t n = 0, i;
	char err[512];
	int rc;

	if (!atomic_load(&p->pos_dirty))
		return; /* the common case, every loop of the writer: no lock taken */
	pthread_mutex_lock(&p->mu);
	for (i = 0; i < STORE_SINK_MAX; i++)
		if (p->pos[i].dirty) {
			memcpy(todo[n].sink, p->pos[i].sink, sizeof todo[n].sink);
			todo[n].seq = p->pos[i].seq;
			memcpy(todo[n].last_error, p->pos[i].last_error, sizeof todo[n].last_error);
			p->pos[i].dirty = 0;
			n++;
		}
	atomic_store(&p->pos_dirty, 0);
	pthread_mutex_unlock(&p->mu);
	if (!n)
		return;
	rc = store_begin(p->opt.store, err, sizeof err);
	for (i = 0; rc == 0 && i < n; i++)
		rc = store_position_set(p->opt.store, todo[i].sink, todo[i].seq, todo[i].last_error,
					err, sizeof err);
	if (rc == 0)
		rc = store_commit(p->opt.store, err, sizeof err);
	if (rc < 0) {
		/* Post them again (unless newer ones came): the next round retries. */
		store_rollback(p->opt.store);
		pthread_mutex_lock(&p->mu);
		for (i = 0; i < n; i++)
			for (size_t j = 0; j < STORE_SINK_MAX; j++)
				if (strcmp(p->pos[j].sink, todo[i].sink) == 0 && !p->pos[j].dirty) {
					p->pos[j].dirty = 1;
					atomic_store(&p->pos_dirty, 1);
				}
		pthread_mutex_unlock(&p->mu);
	}
}

/*
 * With store_mu held: append everything pushed so far to the open group and
 * commit it when it is due (commit_ms elapsed, half the queue held, someone
 * waiting, stopping, or `force`). Returns 0, or a negative STORE_E* after
 * rolling back: the items stay queued and the writer retries them.
 */
static int pipeline__drain(struct pipeline *p, int force)
{
	uint64_t head, processed = atomic_load(&p->processed), tail;
	int stopping, rc = 0;
	int64_t now;

	pthread_mutex_lock(&p->mu);
	head = p->head;
	tail = p->tail;
	stopping = p->stopping;
	pthread_mutex_unlock(&p->mu);
	now = clock_mono_ms();

	if (head > processed) {
		if (!p->in_txn) {
			rc = store_begin(p->opt.store, p->err, sizeof p->err);
			atomic_store(&p->in_txn, rc == 0);
			p->txn_start = now;
		}
		for (; rc == 0 && processed < head; processed++)
			rc = pipeline__write_item(p, &p->ring[processed % QUEUE_SLOTS], &p->pend, p->err, sizeof p->err);
		atomic_store(&p->processed, processed);
		p->pend.items = processed - tail;
		p->pend.last_ms = now;
	}
	if (rc == 0 && p->in_txn &&
	    (force || now - p->txn_start >= p->opt.commit_ms || processed - tail >= QUEUE_SLOTS / 2 ||
	     atomic_load(&p->waiters) || stopping)) {
		rc = store_commit(p->opt.store, p->err, sizeof p->err);
		atomic_store(&p->in_txn, 0);
		if (rc == 0) {
			atomic_fetch_add(&p->st_committed, processed - tail);
			atomic_fetch_add(&p->st_events, p->pend.events);
			atomic_fetch_add(&p->st_duplicates, p->pend.duplicates);
			atomic_fetch_add(&p->st_quarantined, p->pend.quarantined);
			atomic_fetch_add(&p->st_commits, 1);
			if (p->pend.last_seq)
				atomic_store(&p->st_last_seq, p->pend.last_seq);
			p->written += p->pend.bytes;
			memset(&p->pend, 0, sizeof p->pend);
			if (atomic_load(&p->failing))
				log_info("store", "writing to the buffer again; nothing was lost");
			atomic_store(&p->failing, 0);
			p->backoff_ms = BACKOFF_MIN_MS;
			atomic_store(&p->st_healthy, 1);
			/* Last: it wakes the waiters, who may read the stats at once. */
			pipeline__release(p, processed);
		}
	}
	if (rc < 0) {
		/* Keep every item: roll back and write them all again later. */
		store_rollback(p->opt.store);
		atomic_store(&p->in_txn, 0);
		atomic_store(&p->processed, tail);
		memset(&p->pend, 0, sizeof p->pend);
		atomic_fetch_add(&p->st_commit_errors, 1);
		atomic_store(&p->st_healthy, 0);
	}
	return rc;
}

/* With store_mu held: whether the open group's source paused (see
 * IDLE_COMMIT_MS) by now, so that it commits before commit_ms. */
static int pipeline__paused(const struct pipeline *p, int64_t now)
{
	const struct pending *g = &p->pend;
	int64_t quiet = now - g->last_ms;

	return g->bytes >= IDLE_COMMIT_BYTES && g->items >= 2 && quiet >= IDLE_COMMIT_MS &&
	       quiet * (int64_t)(g->items - 1) >= IDLE_COMMIT_GAPS * (g->last_ms - p->txn_start);
}

static void *pipeline__writer_main(void *arg)
{
	struct pipeline *p = arg;
	struct store_drops drops = { 0 };
	struct log_ratelimit rl = { .interval_ms = 60000 };
	int64_t next_limits = clock_mono_ms();
	uint64_t limit_every = p->opt.max_bytes > 0 ? (uint64_t)p->opt.max_bytes / 8 : UINT64_MAX;

	pthread_mutex_lock(&p->store_mu);
	pipeline__enforce_limits(p, &drops);
	pthread_mutex_unlock(&p->store_mu);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		int64_t now = clock_mono_ms();
		int rc, first = 0, backoff = BACKOFF_MIN_MS, idle = 0;
		char err[sizeof p->err];

		/* Sleep until there is work: new items, a stop, a caller waiting
		 * on what the open group holds, a commit or limits check due, or
		 * sink positions to save, but those only between groups (they
		 * are applied after the commit: waking for them while a group is
		 * open spun this loop for up to commit_ms, 0.85 cores at 1,000/s
		 * with commit_ms = 1000; RESULTS §17 "Found").
		 * txn_start is only read as a hint here; pipeline__drain() decides. */
		while (p->head == atomic_load(&p->processed) && !p->stopping &&
		       !(atomic_load(&p->pos_dirty) && !atomic_load(&p->in_txn)) &&
		       !(atomic_load(&p->in_txn) && atomic_load(&p->waiters))) {
			int in_txn = atomic_load(&p->in_txn);
			int wait_ms = in_txn ? IDLE_COMMIT_MS : (int)(next_limits - now);
			struct timespec ts;
			if (wait_ms <= 0)
				break;
			pipeline__timespec_in(&ts, wait_ms);
			if (pthread_cond_timedwait(&p->not_empty, &p->mu, &ts) == ETIMEDOUT) {
				/* Idle only if nothing came: pushes into an open
				 * group do not wake us (see pipeline__push()). */
				idle = in_txn && p->head == atomic_load(&p->processed);
				break;
			}
			now = clock_mono_ms();
		}
		if (p->stopping && p->head == p->tail && !atomic_load(&p->in_txn)) {
			pthread_mutex_unlock(&p->mu);
			pthread_mutex_lock(&p->store_mu);
			pipeline__apply_positions(p);
			pthread_mutex_unlock(&p->store_mu);
			pthread_mutex_lock(&p->mu);
			break;
		}
		if (p->stopping && atomic_load(&p->failing) && now >= p->drain_deadline) {
			log_error("store", "stopping with %llu readings not committed; "
				  "the buffer could not be written", (unsigned long long)(p->head - p->tail));
			break;
		}
		pthread_mutex_unlock(&p->mu);

		pthread_mutex_lock(&p->store_mu);
		now = clock_mono_ms();
		rc = pipeline__drain(p, idle && pipeline__paused(p, now));
		if (rc == 0 && !p->in_txn)
			pipeline__apply_positions(p);
		if (rc == 0 && !p->in_txn && (now >= next_limits || p->written >= limit_every)) {
			pipeline__enforce_limits(p, &drops);
			next_limits = now + LIMITS_EVERY_MS;
			p->written = 0;
		}
		if (rc == STORE_ECORRUPT)
			pipeline__damaged(p, p->err);
		if (rc < 0) {
			/* From here on only this thread writes, until a commit succeeds. */
			first = !atomic_exchange(&p->failing, 1);
			snprintf(err, sizeof err, "%s", p->err);
			backoff = p->backoff_ms;
			p->backoff_ms = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		}
		pthread_mutex_unlock(&p->store_mu);

		if (rc < 0) {
			uint64_t supp = 0;
			if (first || log_ratelimit(&rl, now, &supp))
				log_error("store", "cannot write to the buffer, ingestion paused, "
					  "retrying (nothing is lost): %s", err);
			if (first)
				rl.last_ms = now;
			pthread_mutex_lock(&p->mu);
			if (!p->stopping || now < p->drain_deadline) {
				struct timespec ts;
				pipeline__timespec_in(&ts, backoff);
				pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
			}
			pthread_mutex_unlock(&p->mu);
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
	p->backoff_ms = BACKOFF_MIN_MS;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->store_mu, NULL);
	pthread_cond_init(&p->not_full, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->committed, NULL);
	rc = pthread_create(&p->thread, NULL, pipeline__writer_main, p);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store writer thread: %s", strerror(rc));
		pthread_mutex_destroy(&p->mu);
		pthread_mutex_destroy(&p->store_mu);
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
static int pipeline__push(struct pipeline *p, enum item_kind kind, int64_t ts_ms,
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
	while (p->head - p->tail >= QUEUE_SLOTS && !p->stopping) {
		pthread_cond_signal(&p->not_empty);
		pthread_cond_wait(&p->not_full, &p->mu);
	}
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(heap);
		return -1;
	}
	it = &p->ring[p->head % QUEUE_SLOTS];
	it->kind = (uint8_t)kind;
	it->ts_ms = ts_ms;
	it->heap = heap;
	dst = pipeline__item_bytes(it);
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
	/* A caller that takes a ticket will wait for it and commit it itself
	 * (pipeline_wait): waking the writer too would only make it queue for
	 * the store lock, two futex wake-ups per MQTT message. */
	if (ticket)
		*ticket = p->head;
	else if (!atomic_load(&p->in_txn) || p->head - atomic_load(&p->processed) >= WAKE_BATCH)
		pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	atomic_fetch_add_explicit(&p->st_pushed, 1, memory_order_relaxed);
	return 0;
}

int pipeline_push_event(struct pipeline *p, const void *key, size_t keylen,
			int64_t ts_ms, const char *body, size_t len, uint64_t *ticket)
{
	return pipeline__push(p, ITEM_EVENT, ts_ms, key, keylen, body, len, NULL, 0, ticket);
}

int pipeline_push_quarantine(struct pipeline *p, int64_t ts_ms, const char *origin,
			     const char *reason, const void *raw, size_t len,
			     uint64_t *ticket)
{
	return pipeline__push(p, ITEM_QUARANTINE, ts_ms, origin, strlen(origin) + 1, reason,
			      strlen(reason) + 1, raw, len, ticket);
}

int pipeline_wait(struct pipeline *p, uint64_t ticket, int timeout_ms)
{
	struct timespec ts;
	int rc = 0, done;

	pthread_mutex_lock(&p->mu);
	done = p->tail >= ticket;
	pthread_mutex_unlock(&p->mu);
	if (done)
		return 0;
	/* Commit it ourselves if the store is free and healthy: cheaper than
	 * waking the writer and sleeping until it is done. */
	atomic_fetch_add(&p->waiters, 1);
	if (!atomic_load(&p->failing) && pthread_mutex_trylock(&p->store_mu) == 0) {
		pipeline__drain(p, 1);
		pthread_mutex_unlock(&p->store_mu);
	}
	pipeline__timespec_in(&ts, timeout_ms);
	pthread_mutex_lock(&p->mu);
	if (p->tail < ticket)
		pthread_cond_signal(&p->not_empty); /* not ours to commit now: the writer's */
	while (p->tail < ticket && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&p->committed, &p->mu, &ts);
	atomic_fetch_sub(&p->waiters, 1);
	rc = p->tail >= ticket ? 0 : -1;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int pipeline_post_position(struct pipeline *p, const char *sink, uint64_t seq,
			   const char *last_error)
{
	size_t i, slot = STORE_SINK_MAX;
	int rc = -1;

	pthread_mutex_lock(&p->mu);
	if (p->stopping)
		goto out;
	for (i = 0; i < STORE_SINK_MAX; i++) {
		if (strcmp(p->pos[i].sink, sink) == 0) {
			slot = i;
			break;
		}
		if (!p->pos[i].sink[0] && slot == STORE_SINK_MAX)
			slot = i;
	}
	if (slot == STORE_SINK_MAX || strlen(sink) >= sizeof p->pos[0].sink)
		goto out;
	snprintf(p->pos[slot].sink, sizeof p->pos[slot].sink, "%s", sink);
	p->pos[slot].seq = seq;
	snprintf(p->pos[slot].last_error, sizeof p->pos[slot].last_error, "%s",
		 last_error ? last_error : "");
	p->pos[slot].dirty = 1;
	atomic_store(&p->pos_dirty, 1);
	pthread_cond_signal(&p->not_empty);
	rc = 0;
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int pipeline_wait_events(struct pipeline *p, uint64_t after, int timeout_ms)
{
	struct timespec ts;
	int found;

	if (atomic_load(&p->st_last_seq) > after)
		return 1;
	pipeline__timespec_in(&ts, timeout_ms);
	pthread_mutex_lock(&p->mu);
	/* st_last_seq is stored before pipeline__release() broadcasts under mu: no lost wake-up. */
	while (!(found = atomic_load(&p->st_last_seq) > after) && !p->stopping)
		if (pthread_cond_timedwait(&p->committed, &p->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->mu);
	return found;
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

int pipeline_buffer_damaged(struct pipeline *p, char *cause, size_t causelen)
{
	if (!p || !atomic_load(&p->st_damaged))
		return 0;
	snprintf(cause, causelen, "%s", p->damage);
	return 1;
}

void pipeline_drain(struct pipeline *p, int drain_ms)
{
	int joined;

	pthread_mutex_lock(&p->mu);
	joined = p->joined;
	if (!p->stopping) {
		p->stopping = 1;
		p->drain_deadline = clock_mono_ms() + drain_ms;
	}
	p->joined = 1;
	pthread_cond_broadcast(&p->not_empty);
	pthread_cond_broadcast(&p->not_full);
	pthread_cond_broadcast(&p->committed);
	pthread_mutex_unlock(&p->mu);
	if (!joined)
		pthread_join(p->thread, NULL);
}

void pipeline_stop(struct pipeline **pp, int drain_ms)
{
	struct pipeline *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	pipeline_drain(p, drain_ms);
	for (uint64_t i = p->tail; i < p->head; i++)
		free(p->ring[i % QUEUE_SLOTS].heap);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->store_mu);
	pthread_cond_destroy(&p->not_full);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->committed);
	free(p->ring);
	free(p->scratch);
	free(p);
	*pp = NULL;
}
