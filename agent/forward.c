/*
 * forward.c - the forwarder thread of one sink (see forward.h).
 *
 * The window is a ring of slots in seq order, one per event handed to the
 * sink and not yet behind the position: IN_FLIGHT, RETRY (waiting for the
 * backoff to pass; its bytes are read again from the buffer) or DONE
 * (delivered or dead-lettered). The position is the seq of the last DONE
 * slot popped from the head, so it only ever covers acknowledged events.
 * All sink callbacks arrive on this thread (send/poll/flush are called from
 * here), so the window needs no lock; only the counters are shared.
 *
 * Backoff is one level for the whole sink: a SINK_RETRY outcome while not
 * already backing off raises it (0.1 s doubling to 10 s, with jitter), a
 * delivery resets it. While backing off nothing is sent, neither retries
 * nor new events: an outage costs no CPU and no log lines beyond the two.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/clock.h"
#include "agent/forward.h"
#include "agent/log.h"
#include "sensors/event.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define SAVE_EVERY_MS 200      /* position writes: at most this often */
#define IDS_MAX 1024           /* bytes for one unescaped id */

enum slot_state { SLOT_IN_FLIGHT, SLOT_RETRY, SLOT_DONE };

struct slot {
	uint64_t seq;            /* the event */
	int64_t ts_ms;           /* its arrival time, for the delivery latency */
	enum slot_state state;   /* see above */
};

#define LATENCY_MS_MAX 10000   /* latency histogram: 1 ms buckets up to 10 s, then one */
#define LATENCY_WINDOW_MS 10000 /* latency quantiles cover the last 10 to 20 s */

struct forward {
	struct forward_options opt;   /* copy of the caller's options */
	char name[STORE_SINK_NAME_MAX]; /* opt.name, owned */
	char describe[512];           /* opt.describe, owned */
	struct store *st;             /* this thread's handle on the buffer */
	struct sink *sink;            /* owned */
	pthread_t thread;             /* runs forward__thread() */
	int started;                  /* thread created, not joined yet */
	int ever_started;             /* thread was created once */
	_Atomic int stop;             /* forward_stop() called */
	_Atomic int64_t stop_deadline; /* monotonic ms: give up flushing then */

	struct slot *win;             /* the window, a ring of opt.window slots */
	size_t head, count;           /* first slot, slots used */
	size_t nretry;                /* slots in SLOT_RETRY */
	uint64_t position;            /* acknowledged prefix */
	uint64_t saved;               /* position last written to the buffer */
	int64_t saved_ms;             /* when */
	uint64_t next_seq;            /* next seq to read from the buffer */
	int64_t not_before;           /* backoff: send nothing before this (monotonic ms) */
	int level;                    /* backoff level, 0 = none */
	int64_t down_since;           /* monotonic ms when it went down */
	int error_dirty;              /* last_error changed since the last save */
	unsigned rng;                 /* jitter */
	struct log_ratelimit rl_reject, rl_retry, rl_store; /* repeated warnings */

	/* One batch being read: events, their bytes and unescaped ids. */
	struct sink_event *batch;     /* opt.batch entries */
	size_t nbatch;
	char *arena;                  /* bytes of the batch */
	size_t arena_len, arena_cap;
	int read_failed;              /* the last read ran out of memory */
	int marked_damaged;           /* a read failed with STORE_ECORRUPT: marker left */
	char damage[512];             /* its error ("" before), under mu */
	int batch_full;               /* the last read stopped for want of room (batch or arena) */

	pthread_mutex_t mu;           /* guards stats and latency */
	struct forward_stats stats;   /* see forward.h */
	/* Arrival -> acknowledgement, per ms, over the last 10 to 20 s: the
	 * current window and the one before it. */
	uint64_t latency[2][LATENCY_MS_MAX + 1];
	int64_t latency_since;        /* when the current window started (monotonic ms) */
};

static void forward__set_error(struct forward *fw, const char *reason)
{
	size_t n;

	pthread_mutex_lock(&fw->mu);
	n = strnlen(reason, sizeof fw->stats.last_error - 1);
	if (strncmp(fw->stats.last_error, reason, n) != 0 || fw->stats.last_error[n]) {
		memcpy(fw->stats.last_error, reason, n); /* truncated: it is a status line */
		fw->stats.last_error[n] = '\0';
		fw->error_dirty = 1;
	}
	pthread_mutex_unlock(&fw->mu);
}

static uint64_t forward__backlog_estimate(struct forward *fw)
{
	struct store_stats s;
	char err[256];

	if (store_stats(fw->st, &s, err, sizeof err) < 0)
		return 0;
	for (size_t i = 0; i < s.nsinks; i++)
		if (strcmp(s.sinks[i].name, fw->name) == 0)
			return s.sinks[i].backlog;
	return s.newest_seq > fw->position ? s.newest_seq - fw->position : 0;
}

void forward_on_state(void *arg, int up, const char *reason)
{
	struct forward *fw = arg;

	if (up || !reason)
		return; /* "up" is decided by deliveries */
	forward__set_error(fw, reason);
	pthread_mutex_lock(&fw->mu);
	int was = fw->stats.up;
	fw->stats.up = 0;
	pthread_mutex_unlock(&fw->mu);
	if (was != 0) {
		fw->down_since = clock_mono_ms();
		log_warn(fw->name, "cannot deliver: %s; events wait in the buffer and are sent "
			 "when it is back", reason);
	}
}

/* The slot of seq, or NULL. Slots are sorted by seq. */
static struct slot *forward__find_slot(struct forward *fw, uint64_t seq)
{
	size_t lo = 0, hi = fw->count, cap = fw->opt.window;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct slot *s = &fw->win[(fw->head + mid) % cap];
		if (s->seq == seq)
			return s;
		if (s->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int64_t forward__backoff_ms(struct forward *fw, int level)
{
	int64_t ms = BACKOFF_MIN_MS;

	for (int i = 1; i < level && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* jitter: 75 %..125 %, so many gateways do not retry in step */
	fw->rng = fw->rng * 1103515245u + 12345u;
	return ms * 3 / 4 + (int64_t)((fw->rng >> 8) % (unsigned)(ms / 2 + 1));
}

void forward_on_outcome(void *arg, uint64_t seq, enum sink_outcome o, const char *reason,
			int64_t retry_after_ms)
{
	struct forward *fw = arg;
	struct slot *s = forward__find_slot(fw, seq);
	int64_t now = clock_mono_ms();
	char err[512];
	uint64_t n;

	if (!s || s->state != SLOT_IN_FLIGHT)
		return; /* not ours (a stale report after a rebuild): ignore */
	if (o == SINK_REJECTED && !fw->opt.replay &&
	    store_dead_letter(fw->st, fw->name, seq, reason ? reason : "rejected", err, sizeof err) < 0) {
		/* Cannot record why: keep the event and try again later. */
		if (log_ratelimit(&fw->rl_store, now, &n))
			log_warn(fw->name, "cannot record dead letter for event %llu, will retry it: %s",
				 (unsigned long long)seq, err);
		o = SINK_RETRY;
		reason = err;
	}
	pthread_mutex_lock(&fw->mu);
	fw->stats.inflight--;
	switch (o) {
	case SINK_DELIVERED:
		fw->stats.delivered++;
		if (!fw->opt.replay) {
			int64_t ms = clock_wall_ms() - s->ts_ms;
			if (now - fw->latency_since >= LATENCY_WINDOW_MS) {
				memcpy(fw->latency[1], fw->latency[0], sizeof fw->latency[0]);
				memset(fw->latency[0], 0, sizeof fw->latency[0]);
				fw->latency_since = now;
			}
			fw->latency[0][ms < 0 ? 0 : ms > LATENCY_MS_MAX ? LATENCY_MS_MAX : ms]++;
		}
		break;
	case SINK_RETRY: fw->stats.retried++; break;
	case SINK_REJECTED: fw->stats.rejected++; break;
	}
	pthread_mutex_unlock(&fw->mu);

	if (o == SINK_RETRY) {
		s->state = SLOT_RETRY;
		fw->nretry++;
		forward__set_error(fw, reason ? reason : "retry");
		if (now >= fw->not_before) {
			int64_t wait;
			if (fw->level < 30)
				fw->level++;
			wait = forward__backoff_ms(fw, fw->level);
			if (retry_after_ms > wait)
				wait = retry_after_ms;
			fw->not_before = now + wait;
		}
		/* While down, the "cannot deliver" line has said it all already. */
		if (fw->stats.up != 0 && log_ratelimit(&fw->rl_retry, now, &n))
			log_info(fw->name, "event %llu not delivered (%s); it stays in the buffer and is "
				 "sent again%s", (unsigned long long)seq, reason ? reason : "?",
				 n ? " (further such lines this minute held back)" : "");
		return;
	}
	s->state = SLOT_DONE;
	if (o == SINK_REJECTED) {
		forward__set_error(fw, reason ? reason : "rejected");
		if (log_ratelimit(&fw->rl_reject, now, &n))
			log_warn(fw->name, "event %llu rejected for its content: %s; kept in the "
				 "dead_letter table%s", (unsigned long long)seq, reason ? reason : "?",
				 n ? "" : "");
		return;
	}
	fw->level = 0;
	fw->not_before = 0;
	pthread_mutex_lock(&fw->mu);
	int was = fw->stats.up;
	fw->stats.up = 1;
	pthread_mutex_unlock(&fw->mu);
	if (was == 0) {
		log_info(fw->name, "delivering again after %.0f s; backlog %llu events, oldest first",
			 (double)(now - fw->down_since) / 1000.0,
			 (unsigned long long)forward__backlog_estimate(fw));
		forward__set_error(fw, "");
	}
}

/* Pop DONE slots from the head; the position follows them. */
static void forward__advance(struct forward *fw)
{
	size_t cap = fw->opt.window;

	while (fw->count && fw->win[fw->head].state == SLOT_DONE) {
		fw->position = fw->win[fw->head].seq;
		fw->head = (fw->head + 1) % cap;
		fw->count--;
	}
	if (fw->count == 0 && fw->next_seq > 0 && fw->position < fw->next_seq - 1)
		fw->position = fw->next_seq - 1; /* everything read is done (gaps included) */
	pthread_mutex_lock(&fw->mu);
	fw->stats.position = fw->position;
	pthread_mutex_unlock(&fw->mu);
}

static void forward__save_position(struct forward *fw, int64_t now, int force)
{
	char err[512], last[256];
	int dirty, posted;

	if (fw->opt.replay)
		return;
	pthread_mutex_lock(&fw->mu);
	dirty = fw->error_dirty;
	memcpy(last, fw->stats.last_error, sizeof last);
	pthread_mutex_unlock(&fw->mu);
	if (fw->position == fw->saved && !dirty)
		return;
	if (!force && now - fw->saved_ms < SAVE_EVERY_MS)
		return;
	/* Through the writer while it runs (one writer, no lock waits), else ourselves. */
	posted = fw->opt.pipe && pipeline_post_position(fw->opt.pipe, fw->name, fw->position, last) == 0;
	if (!posted && store_position_set(fw->st, fw->name, fw->position, last, err, sizeof err) < 0) {
		uint64_t n;
		if (log_ratelimit(&fw->rl_store, now, &n))
			log_warn(fw->name, "cannot store the position (events may be sent twice after "
				 "a restart): %s", err);
		fw->saved_ms = now;
		return;
	}
	pthread_mutex_lock(&fw->mu);
	fw->error_dirty = 0;
	pthread_mutex_unlock(&fw->mu);
	fw->saved = fw->position;
	fw->saved_ms = now;
}

/* store_read() callback: append one event to the batch. Stops the read
 * (returns 1) when the batch is full or its bytes would need a bigger arena
 * while spans already point into this one. */
static int forward__take_event(void *ctx, uint64_t seq, int64_t ts_ms, const void *data, size_t len)
{
	struct forward *fw = ctx;
	struct event_ids ids;
	int ok = event_peek(data, len, &ids) == 0;
	size_t need = len + (ok && ids.escaped ? (size_t)3 * IDS_MAX : 0);
	struct sink_event *e;
	char *p;

	if (fw->nbatch == fw->opt.batch) {
		fw->batch_full = 1;
		return 1;
	}
	if (fw->arena_len + need > fw->arena_cap) {
		size_t cap = fw->arena_cap ? fw->arena_cap : 1 << 20;
		char *n;
		if (fw->nbatch) {
			fw->batch_full = 1; /* spans point into the arena: send these first */
			return 1;
		}
		while (cap < need)
			cap *= 2;
		if (!(n = realloc(fw->arena, cap))) {
			fw->read_failed = 1;
			return 1;
		}
		fw->arena = n;
		fw->arena_cap = cap;
	}
	e = &fw->batch[fw->nbatch++];
	memset(e, 0, sizeof *e);
	p = fw->arena + fw->arena_len;
	memcpy(p, data, len);
	fw->arena_len += len;
	e->seq = seq;
	e->ts_ms = ts_ms;
	e->data = p;
	e->len = len;
	if (!ok || event_peek(p, len, &ids) < 0)
		return fw->nbatch == fw->opt.batch; /* no ids: screen_batch() dead-letters it */
	e->event_id_json = ids.event_id;
	e->event_id_json_len = ids.event_id_len;
	if (!ids.escaped) {
		e->sensor_id = ids.sensor_id, e->sensor_id_len = ids.sensor_id_len;
		e->event_id = ids.event_id, e->event_id_len = ids.event_id_len;
		e->gateway_id = ids.gateway_id, e->gateway_id_len = ids.gateway_id_len;
	} else {
		char *q = fw->arena + fw->arena_len;
		int a = event_unescape(ids.sensor_id, ids.sensor_id_len, q, IDS_MAX);
		int b = event_unescape(ids.event_id, ids.event_id_len, q + IDS_MAX, IDS_MAX);
		int c = event_unescape(ids.gateway_id, ids.gateway_id_len, q + 2 * IDS_MAX, IDS_MAX);
		fw->arena_len += (size_t)3 * IDS_MAX;
		if (a >= 0 && b >= 0 && c >= 0) {
			e->sensor_id = q, e->sensor_id_len = (size_t)a;
			e->event_id = q + IDS_MAX, e->event_id_len = (size_t)b;
			e->gateway_id = q + 2 * IDS_MAX, e->gateway_id_len = (size_t)c;
		}
	}
	return fw->nbatch == fw->opt.batch;
}

static void forward__batch_reset(struct forward *fw)
{
	fw->nbatch = 0;
	fw->arena_len = 0;
	fw->read_failed = 0;
	fw->batch_full = 0;
}

/* Read events with seq >= from, at most max, appending to the batch.
 * Returns how many were appended, or -1 (logged, backoff set). */
static long forward__read_more(struct forward *fw, uint64_t from, size_t max)
{
	char err[512];
	size_t before = fw->nbatch;
	long n;
	uint64_t sup;

	if (max > fw->opt.batch - fw->nbatch)
		max = fw->opt.batch - fw->nbatch;
	n = store_read(fw->st, from, max, forward__take_event, fw, err, sizeof err);
	if (n < 0 || fw->read_failed) {
		int64_t now = clock_mono_ms();

		/* A damaged page the check at start did not reach (its time
		 * budget ran out): the marker makes the next start check the
		 * whole file and salvage it (store_recover.c); the agent
		 * restarts itself for that when it sees buffer_damaged. */
		if (n == STORE_ECORRUPT && !fw->marked_damaged) {
			fw->marked_damaged = 1;
			store_mark_damaged(fw->st);
			log_error(fw->name, "the buffer is damaged at seq %llu (%s)",
				  (unsigned long long)from, err);
			pthread_mutex_lock(&fw->mu);
			snprintf(fw->damage, sizeof fw->damage, "%s", err);
			pthread_mutex_unlock(&fw->mu);
		}
		if (log_ratelimit(&fw->rl_store, now, &sup))
			log_warn(fw->name, "cannot read the buffer: %s; trying again",
				 n < 0 ? err : "out of memory");
		fw->not_before = now + 1000;
		return -1;
	}
	return (long)(fw->nbatch - before);
}

/* Add a slot at the tail (the caller checked there is room). */
static void forward__push_slot(struct forward *fw, uint64_t seq, int64_t ts_ms)
{
	struct slot *s = &fw->win[(fw->head + fw->count) % fw->opt.window];

	s->seq = seq;
	s->ts_ms = ts_ms;
	s->state = SLOT_IN_FLIGHT;
	fw->count++;
}

static void forward__count_inflight(struct forward *fw, long delta)
{
	pthread_mutex_lock(&fw->mu);
	fw->stats.inflight += (uint64_t)delta;
	pthread_mutex_unlock(&fw->mu);
}

/* The batch's slots are IN_FLIGHT. Dead-letter events whose ids cannot be
 * read (the sink could not key them), then hand the rest to the sink; what
 * it does not take goes back to RETRY without a backoff. Returns how many
 * it took. */
static long forward__send_batch(struct forward *fw)
{
	char err[512];
	size_t i, o = 0;
	long taken;

	forward__count_inflight(fw, (long)fw->nbatch);
	for (i = 0; i < fw->nbatch; i++) {
		if (fw->batch[i].sensor_id)
			fw->batch[o++] = fw->batch[i];
		else
			forward_on_outcome(fw, fw->batch[i].seq, SINK_REJECTED,
					   "stored event is not valid event JSON (no event_id/sensor_id)", 0);
	}
	fw->nbatch = o;
	if (o == 0)
		return 0;
	pthread_mutex_lock(&fw->mu);
	if (fw->batch[o - 1].seq > fw->stats.sent_seq)
		fw->stats.sent_seq = fw->batch[o - 1].seq;
	pthread_mutex_unlock(&fw->mu);
	taken = fw->sink->ops->send(fw->sink, fw->batch, o, err, sizeof err);
	if (taken < 0) {
		forward_on_state(fw, 0, err);
		taken = 0;
	}
	for (i = (size_t)taken; i < o; i++) {
		struct slot *s = forward__find_slot(fw, fw->batch[i].seq);
		if (s && s->state == SLOT_IN_FLIGHT) {
			s->state = SLOT_RETRY;
			fw->nretry++;
			forward__count_inflight(fw, -1);
		}
	}
	if (taken < (long)o && fw->not_before < clock_mono_ms() + 5)
		fw->not_before = clock_mono_ms() + 5; /* full: let it drain a little */
	return taken;
}

/* Send RETRY slots again, oldest first, as one batch. Returns how many were sent. */
static long forward__resend(struct forward *fw)
{
	size_t cap = fw->opt.window, i;

	forward__batch_reset(fw);
	for (i = 0; i < fw->count && fw->nretry && fw->nbatch < fw->opt.batch; i++) {
		struct slot *s = &fw->win[(fw->head + i) % cap];
		long got;
		if (s->state != SLOT_RETRY)
			continue;
		got = forward__read_more(fw, s->seq, 1);
		if (got < 0)
			return 0;
		if (got == 1 && fw->batch[fw->nbatch - 1].seq != s->seq) {
			/* The next event, not this one: it is gone from the buffer. */
			fw->nbatch--;
			got = 0;
		} else if (got == 0 && (fw->batch_full || fw->read_failed)) {
			break; /* no room for it now: send what we have, it comes next */
		}
		if (got == 0) {
			/* max_mb dropped it before delivery: nothing to send */
			fw->nretry--;
			s->state = SLOT_DONE;
			pthread_mutex_lock(&fw->mu);
			fw->stats.missing++;
			pthread_mutex_unlock(&fw->mu);
			continue;
		}
		fw->nretry--;
		s->state = SLOT_IN_FLIGHT;
	}
	return fw->nbatch ? forward__send_batch(fw) : 0;
}

/* Read new events and send them. Returns how many were sent; sets
 * *caught_up when there was nothing new to read. */
static long forward__send_new(struct forward *fw, size_t max, int *caught_up)
{
	size_t room = fw->opt.window - fw->count;
	uint64_t last;

	*caught_up = 0;
	if (room == 0 || fw->nretry)
		return 0;
	if (fw->opt.replay && fw->next_seq > fw->opt.until_seq) {
		*caught_up = 1;
		return 0;
	}
	forward__batch_reset(fw);
	if (forward__read_more(fw, fw->next_seq, room < max ? room : max) < 0)
		return 0;
	if (fw->nbatch == 0) {
		*caught_up = 1;
		if (fw->opt.replay)
			fw->next_seq = fw->opt.until_seq + 1;
		return 0;
	}
	last = fw->batch[fw->nbatch - 1].seq;
	fw->next_seq = last + 1;
	if (fw->opt.replay) {
		/* Only the range asked for: seq within it, and the time too. */
		size_t o = 0;
		for (size_t i = 0; i < fw->nbatch; i++) {
			const struct sink_event *e = &fw->batch[i];
			if (e->seq <= fw->opt.until_seq && e->ts_ms >= fw->opt.since_ms &&
			    e->ts_ms <= fw->opt.until_ms)
				fw->batch[o++] = *e;
		}
		fw->nbatch = o;
		if (last >= fw->opt.until_seq)
			fw->next_seq = fw->opt.until_seq + 1;
		if (o == 0)
			return 0;
	}
	for (size_t i = 0; i < fw->nbatch; i++)
		forward__push_slot(fw, fw->batch[i].seq, fw->batch[i].ts_ms);
	return forward__send_batch(fw);
}

static void *forward__thread(void *arg)
{
	struct forward *fw = arg;
	int64_t tokens_ms = clock_mono_ms();
	double tokens = 0;

	for (;;) {
		int64_t now = clock_mono_ms();
		int stopping = atomic_load(&fw->stop), caught_up = 0;
		long sent = 0;

		fw->sink->ops->poll(fw->sink, 0);
		forward__advance(fw);
		forward__save_position(fw, now, 0);
		if (stopping && now >= atomic_load(&fw->stop_deadline))
			break;
		if (now >= fw->not_before) {
			size_t max = fw->opt.batch;
			if (fw->opt.max_rate > 0) {
				tokens += (double)(now - tokens_ms) * (double)fw->opt.max_rate / 1000.0;
				if (tokens > (double)fw->opt.max_rate / 10 + 1)
					tokens = (double)fw->opt.max_rate / 10 + 1;
				tokens_ms = now;
				max = tokens < (double)max ? (size_t)tokens : max;
			}
			if (fw->nretry)
				sent = forward__resend(fw);
			else if (max > 0)
				sent = forward__send_new(fw, max, &caught_up);
			tokens -= (double)sent;
		}
		/* Done: replay sent its range, or a stop caught up with everything
		 * committed before it; either way once the outcomes are in. */
		if (caught_up && fw->count == 0 && (fw->opt.replay || stopping))
			break;
		if (sent > 0)
			continue;
		if (fw->sink->ops->inflight(fw->sink) > 0) {
			fw->sink->ops->poll(fw->sink, 1);
		} else if (now < fw->not_before) {
			int64_t ms = fw->not_before - now;
			struct timespec ts = { 0, (long)(ms > 50 ? 50 : ms) * 1000000L };
			nanosleep(&ts, NULL);
		} else if (fw->opt.pipe && !stopping && caught_up) {
			pipeline_wait_events(fw->opt.pipe, fw->next_seq - 1, 100);
		} else if (caught_up || fw->opt.max_rate > 0) {
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	/* Whatever is still in flight gets its outcome now or stays buffered. */
	{
		int64_t left = atomic_load(&fw->stop_deadline) - clock_mono_ms();
		if (fw->sink->ops->inflight(fw->sink) > 0)
			fw->sink->ops->flush(fw->sink, left > 0 ? (int)left : 0);
		forward__advance(fw);
		forward__save_position(fw, clock_mono_ms(), 1);
	}
	pthread_mutex_lock(&fw->mu);
	fw->stats.done = 1;
	pthread_mutex_unlock(&fw->mu);
	return NULL;
}

int forward_create(struct forward **out, const struct forward_options *opt,
		   char *err, size_t errlen)
{
	struct forward *fw = calloc(1, sizeof *fw);

	*out = NULL;
	if (!fw) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fw->opt = *opt;
	snprintf(fw->name, sizeof fw->name, "%s", opt->name);
	snprintf(fw->describe, sizeof fw->describe, "%s", opt->describe ? opt->describe : "");
	fw->opt.name = fw->name;
	fw->opt.describe = fw->describe;
	if (!fw->opt.window)
		fw->opt.window = 10000;
	if (!fw->opt.batch)
		fw->opt.batch = 1000;
	if (fw->opt.batch > fw->opt.window)
		fw->opt.batch = fw->opt.window;
	pthread_mutex_init(&fw->mu, NULL);
	fw->stats.up = -1;
	fw->latency_since = clock_mono_ms();
	fw->rng = (unsigned)clock_wall_ms() ^ (unsigned)(uintptr_t)fw;
	fw->rl_reject.interval_ms = fw->rl_retry.interval_ms = fw->rl_store.interval_ms = 60000;
	fw->win = calloc(fw->opt.window, sizeof *fw->win);
	fw->batch = calloc(fw->opt.batch, sizeof *fw->batch);
	if (!fw->win || !fw->batch) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* A replay only reads (no positions, no dead letters). */
	fw->opt.store.readonly = opt->replay;
	fw->opt.store.manual_checkpoint = 1;
	if (store_open(&fw->st, &fw->opt.store, err, errlen) < 0)
		goto fail;
	if (opt->replay) {
		fw->next_seq = opt->from_seq ? opt->from_seq : 1;
		fw->position = fw->next_seq - 1;
	} else {
		if (store_position_get(fw->st, fw->name, &fw->position, err, errlen) < 0)
			goto fail;
		fw->next_seq = fw->position + 1;
	}
	fw->saved = fw->position;
	fw->stats.position = fw->position;
	*out = fw;
	return 0;
fail:
	store_close(&fw->st);
	free(fw->win);
	free(fw->batch);
	pthread_mutex_destroy(&fw->mu);
	free(fw);
	return -1;
}

int forward_start(struct forward *fw, struct sink *sink, char *err, size_t errlen)
{
	int e;

	fw->sink = sink;
	if (!fw->opt.replay)
		log_info(fw->name, "forwarding to %s from seq %llu (backlog %llu events)",
			 fw->describe, (unsigned long long)fw->next_seq,
			 (unsigned long long)forward__backlog_estimate(fw));
	if ((e = pthread_create(&fw->thread, NULL, forward__thread, fw)) != 0) {
		snprintf(err, errlen, "cannot start the %s thread: %s", fw->name, strerror(e));
		fw->sink = NULL; /* the caller's again: this start failed */
		return -1;
	}
	fw->started = fw->ever_started = 1;
	return 0;
}

void forward_latency(struct forward *fw, struct forward_latency *out)
{
	uint64_t n = 0, c = 0;
	int i;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&fw->mu);
	if (clock_mono_ms() - fw->latency_since >= 2 * LATENCY_WINDOW_MS) {
		pthread_mutex_unlock(&fw->mu);
		return; /* nothing delivered for 20 s */
	}
	for (i = 0; i <= LATENCY_MS_MAX; i++)
		n += fw->latency[0][i] + fw->latency[1][i];
	out->count = n;
	for (i = 0; n && i <= LATENCY_MS_MAX; i++) {
		uint64_t b = fw->latency[0][i] + fw->latency[1][i];
		if (!b)
			continue;
		c += b;
		if (!out->p50_ms && c * 2 >= n)
			out->p50_ms = i ? i : 1;
		if (!out->p99_ms && c * 100 >= n * 99)
			out->p99_ms = i ? i : 1;
		out->max_ms = i;
	}
	pthread_mutex_unlock(&fw->mu);
}

const char *forward_name(const struct forward *fw)
{
	return fw->name;
}

void forward_get_stats(struct forward *fw, struct forward_stats *out)
{
	pthread_mutex_lock(&fw->mu);
	*out = fw->stats;
	pthread_mutex_unlock(&fw->mu);
}

int forward_buffer_damaged(struct forward *fw, char *cause, size_t causelen)
{
	int damaged;

	pthread_mutex_lock(&fw->mu);
	damaged = fw->damage[0] != '\0';
	if (damaged)
		snprintf(cause, causelen, "%s", fw->damage);
	pthread_mutex_unlock(&fw->mu);
	return damaged;
}

void forward_wait(struct forward *fw)
{
	if (fw && fw->started) {
		pthread_join(fw->thread, NULL);
		fw->started = 0;
	}
}

int forward_cancelled(void *arg)
{
	struct forward *fw = arg;

	return atomic_load(&fw->stop) && clock_mono_ms() >= atomic_load(&fw->stop_deadline);
}

void forward_request_stop(struct forward *fw, int flush_ms)
{
	if (atomic_load(&fw->stop))
		return;
	atomic_store(&fw->stop_deadline, clock_mono_ms() + flush_ms);
	atomic_store(&fw->stop, 1);
}

void forward_stop(struct forward **pfw, int flush_ms)
{
	struct forward *fw = pfw ? *pfw : NULL;
	struct forward_stats s;

	if (!fw)
		return;
	forward_request_stop(fw, flush_ms);
	forward_wait(fw);
	forward_get_stats(fw, &s);
	if (!fw->opt.replay && fw->ever_started)
		log_info(fw->name, "stopped at position %llu: %llu events delivered, %llu rejected "
			 "this run%s", (unsigned long long)s.position, (unsigned long long)s.delivered,
			 (unsigned long long)s.rejected,
			 s.position < s.sent_seq ? "; the rest stays in the buffer for next time" : "");
	sink_destroy(&fw->sink);
	store_close(&fw->st);
	free(fw->win);
	free(fw->batch);
	free(fw->arena);
	pthread_mutex_destroy(&fw->mu);
	free(fw);
	*pfw = NULL;
}
