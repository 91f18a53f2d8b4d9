/*
 * store_limits.c - keeping the buffer within its bounds (retention, size cap)
 * and describing it (store_stats).
 *
 * Rows are only ever deleted from the oldest end, a prefix at a time: a scan
 * by primary key finds how far the prefix goes, then one range DELETE on the
 * primary key removes it. That keeps the seqs in events contiguous (see
 * store.c), so stats need no count(*) over events. Deleted pages go to the
 * freelist and SQLite reuses them for new rows; the file does not shrink (no
 * VACUUM), so the size measured against the cap is the pages in use,
 * (page_count - freelist_count) * page_size, and the cap keeps room free for
 * the growth until the next call (limits__cap_target). Work per call is bounded
 * (LIMITS_BUDGET rows); the agent calls this about once a second, so a large
 * excess is worked off over a few calls.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

#define LIMITS_CHUNK 5000     /* rows per DELETE */
#define LIMITS_BUDGET 100000  /* rows deleted per call (about 0.35 s here) */

/* The counters kept in meta. */
struct limits_meta {
	int64_t last_seq;          /* highest seq ever committed */
	int64_t quarantined_total; /* quarantine rows ever stored */
	int64_t seq_skipped;       /* seqs a recovery's floor jumped over, never issued */
	struct store_drops drops;  /* cumulative drops */
};

/* The oldest and newest event (all 0 when there is none). */
struct limits_span {
	int64_t oldest_seq, oldest_ts; /* first event */
	int64_t newest_seq, newest_ts; /* last event */
};

static int limits__meta(struct store *st, struct limits_meta *m,
			char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s = store__stmt(st, STORE__META_ALL, &code, err, errlen);

	memset(m, 0, sizeof(*m));
	if (!s)
		return code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(s, 0);
		int64_t v = sqlite3_column_int64(s, 1);
		uint64_t u = v > 0 ? (uint64_t)v : 0;

		if (!k)
			continue;
		if (strcmp(k, "last_seq") == 0)
			m->last_seq = v;
		else if (strcmp(k, "quarantined_total") == 0)
			m->quarantined_total = v;
		else if (strcmp(k, "seq_skipped") == 0)
			m->seq_skipped = v;
		else if (strcmp(k, "drop_expired") == 0)
			m->drops.expired = u;
		else if (strcmp(k, "drop_delivered") == 0)
			m->drops.delivered = u;
		else if (strcmp(k, "drop_undelivered") == 0)
			m->drops.undelivered = u;
		else if (strcmp(k, "drop_quarantine") == 0)
			m->drops.quarantine = u;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "reading counters", err, errlen);
	return 0;
}

int store__holes(struct store *st, uint64_t a, uint64_t b, uint64_t *n,
		 char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s = store__stmt(st, STORE__HOLES, &code, err, errlen);

	*n = 0;
	if (!s)
		return code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t f = sqlite3_column_int64(s, 0), t = sqlite3_column_int64(s, 1);
		uint64_t lo, hi;

		if (f <= 0 || t < f)
			continue;
		lo = (uint64_t)f > a ? (uint64_t)f : a;
		hi = (uint64_t)t < b ? (uint64_t)t : b;
		if (lo <= hi)
			*n += hi - lo + 1;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "reading the salvage's holes", err, errlen);
	return 0;
}

/* Run a cached one-row query; *a and *b (b may be NULL) get its columns, or
 * 0 without a row. Binds ?1 to arg when arg >= 0. */
static int limits__row(struct store *st, enum store__sid id, int64_t arg,
		       int64_t *a, int64_t *b, char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s = store__stmt(st, id, &code, err, errlen);

	*a = 0;
	if (b)
		*b = 0;
	if (!s)
		return code;
	if (arg >= 0)
		sqlite3_bind_int64(s, 1, arg);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*a = sqlite3_column_int64(s, 0);
		if (b)
			*b = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__error(st, rc, "reading the buffer", err, errlen);
	return 0;
}

static int limits__span(struct store *st, struct limits_span *sp,
			char *err, size_t errlen)
{
	int code = limits__row(st, STORE__OLDEST, -1, &sp->oldest_seq,
			       &sp->oldest_ts, err, errlen);

	if (code)
		return code;
	code = limits__row(st, STORE__NEWEST, -1, &sp->newest_seq,
			   &sp->newest_ts, err, errlen);
	if (code)
		return code;
	assert(sp->newest_seq >= sp->oldest_seq);
	return 0;
}

/* Bytes in pages that hold data (free pages are reused, not returned). */
static int limits__used(struct store *st, int64_t *used, char *err, size_t errlen)
{
	int64_t pages, free_pages;
	int code = limits__row(st, STORE__PAGE_COUNT, -1, &pages, NULL, err, errlen);

	if (code)
		return code;
	code = limits__row(st, STORE__FREELIST, -1, &free_pages, NULL, err, errlen);
	if (code)
		return code;
	*used = (pages - free_pages) * st->page_size;
	return 0;
}

/*
 * Delete the oldest rows of events (quar = 0) or quarantine (quar = 1) whose
 * seq/id is <= bound and, with use_cutoff, whose ts is < cutoff, stopping at
 * the first row that is not, at most limit rows. *deleted gets the count.
 */
static int limits__prefix(struct store *st, int quar, int64_t bound,
			  int use_cutoff, int64_t cutoff, int64_t limit,
			  int64_t *deleted, char *err, size_t errlen)
{
	int code = STORE_EIO, rc, have = 0;
	int64_t last = 0;
	sqlite3_stmt *s;

	*deleted = 0;
	if (limit <= 0)
		return 0;
	s = store__stmt(st, quar ? STORE__SCAN_QUAR : STORE__SCAN_EVENTS,
			&code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_int64(s, 1, bound);
	sqlite3_bind_int64(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (use_cutoff && sqlite3_column_int64(s, 1) >= cutoff)
			break;
		last = sqlite3_column_int64(s, 0);
		have = 1;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__error(st, rc, "finding old rows", err, errlen);
	if (!have)
		return 0;
	s = store__stmt(st, quar ? STORE__DEL_QUAR : STORE__DEL_EVENTS,
			&code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_int64(s, 1, last);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "deleting old rows", err, errlen);
	*deleted = sqlite3_changes(st->db);
	return 0;
}

/* The highest seq every enabled sink acknowledged; with no sink every event
 * is delivered. */
static int limits__delivered(struct store *st, int64_t *bound,
			     char *err, size_t errlen)
{
	size_t i;

	*bound = INT64_MAX;
	for (i = 0; i < st->nsinks; i++) {
		uint64_t pos;
		int code = store_position_get(st, st->sinks[i], &pos, err, errlen);

		if (code)
			return code;
		if ((int64_t)pos < *bound)
			*bound = (int64_t)pos;
	}
	return 0;
}

/* Delete prefixes in chunks while each chunk comes back full. */
static int limits__expire(struct store *st, int quar, int64_t bound,
			  int64_t cutoff, int64_t *budget, int64_t *total,
			  char *err, size_t errlen)
{
	int64_t n, want;
	int code;

	do {
		want = *budget < LIMITS_CHUNK ? *budget : LIMITS_CHUNK;
		code = limits__prefix(st, quar, bound, 1, cutoff, want, &n,
				      err, errlen);
		if (code)
			return code;
		*total += n;
		*budget -= n;
	} while (n > 0 && n == want && *budget > 0);
	return 0;
}

/*
 * The size the cap drops down to: max_bytes less the room the buffer needs
 * until the next check. New rows go into freed pages first and the file only
 * grows past the most it ever used, so keeping twice the largest recent
 * growth between two checks free (decaying by 1/64 a check, at most a tenth
 * of the cap) keeps the file itself within max_bytes, not max_bytes plus a
 * second's worth of events. Twice: on a loaded machine one interval can be
 * longer than the one before (the soak at 10,000/s overshot by 0.2 % with
 * once).
 */
static int64_t limits__cap_target(struct store *st, int64_t used)
{
	int64_t grew = st->cap_last_used > 0 ? used - st->cap_last_used : 0;

	st->cap_headroom -= st->cap_headroom / 64;
	if (2 * grew > st->cap_headroom)
		st->cap_headroom = 2 * grew;
	if (st->cap_headroom > st->max_bytes / 10)
		st->cap_headroom = st->max_bytes / 10;
	return st->max_bytes - st->cap_headroom;
}

/* Drop oldest rows while the used size is over the cap's target. */
static int limits__cap(struct store *st, int64_t bound, int64_t *budget,
		       struct store_drops *d, char *err, size_t errlen)
{
	struct limits_span sp;
	int64_t used, rows, nquar, per_row, want, n, target;
	int code;

	code = limits__used(st, &used, err, errlen);
	if (code)
		return code;
	target = limits__cap_target(st, used);
	st->cap_last_used = used;
	if (used <= target)
		return 0;
	code = limits__span(st, &sp, err, errlen);
	if (code)
		return code;
	code = limits__row(st, STORE__COUNT_QUAR, -1, &nquar, NULL, err, errlen);
	if (code)
		return code;
	rows = (sp.newest_seq ? sp.newest_seq - sp.oldest_seq + 1 : 0) + nquar;
	if (sp.newest_seq) {
		uint64_t holes;

		code = store__holes(st, (uint64_t)sp.oldest_seq, (uint64_t)sp.newest_seq,
				    &holes, err, errlen);
		if (code)
			return code;
		rows -= (int64_t)holes;
	}
	while (used > target && *budget > 0) {
		/* Aim at the excess from the average row size; the loop
		 * measures again, so the estimate need not be exact. */
		per_row = used / (rows > 0 ? rows : 1);
		if (per_row < 1)
			per_row = 1;
		want = (used - target) / per_row + 1;
		if (want > LIMITS_CHUNK)
			want = LIMITS_CHUNK;
		if (want > *budget)
			want = *budget;
		code = limits__prefix(st, 0, bound, 0, 0, want, &n, err, errlen);
		if (code)
			return code;
		d->delivered += (uint64_t)n;
		if (n == 0) {
			code = limits__prefix(st, 0, INT64_MAX, 0, 0, want, &n,
					      err, errlen);
			if (code)
				return code;
			d->undelivered += (uint64_t)n;
		}
		if (n == 0) {
			code = limits__prefix(st, 1, INT64_MAX, 0, 0, want, &n,
					      err, errlen);
			if (code)
				return code;
			d->quarantine += (uint64_t)n;
		}
		if (n == 0)
			break; /* nothing left that may be dropped */
		*budget -= n;
		rows -= n;
		code = limits__used(st, &used, err, errlen);
		if (code)
			return code;
		st->cap_last_used = used;
	}
	return 0;
}

int store_enforce_limits(struct store *st, int64_t now_ms,
			 struct store_drops *drops, char *err, size_t errlen)
{
	struct store_drops d = { 0, 0, 0, 0 };
	struct limits_meta m;
	int64_t bound, budget = LIMITS_BUDGET, n = 0, qn = 0;
	int code;

	if (drops)
		memset(drops, 0, sizeof(*drops));
	if (!st || st->readonly || st->in_tx) {
		store__seterr(err, errlen, "%s: enforce limits: %s",
			      st ? st->path : "buffer",
			      !st ? "no handle" : st->readonly ?
			      "the handle is read-only" : "a group is open");
		return STORE_EINVAL;
	}
	code = store__run(st, STORE__BEGIN_WRITE, "starting cleanup", err, errlen);
	if (code)
		return code;
	code = store__record_last_seq(st, err, errlen);
	if (code)
		goto fail;
	code = limits__delivered(st, &bound, err, errlen);
	if (code)
		goto fail;
	if (st->retention_ms > 0) {
		int64_t cutoff = now_ms - st->retention_ms;

		code = limits__expire(st, 0, bound, cutoff, &budget, &n, err, errlen);
		if (code)
			goto fail;
		code = limits__expire(st, 1, INT64_MAX, cutoff, &budget, &qn,
				      err, errlen);
		if (code)
			goto fail;
		d.expired = (uint64_t)n;
		d.quarantine = (uint64_t)qn;
	}
	if (st->max_bytes > 0) {
		code = limits__cap(st, bound, &budget, &d, err, errlen);
		if (code)
			goto fail;
	}
	if ((code = store__meta_add(st, "drop_expired", (int64_t)d.expired, err, errlen)) ||
	    (code = store__meta_add(st, "drop_delivered", (int64_t)d.delivered, err, errlen)) ||
	    (code = store__meta_add(st, "drop_undelivered", (int64_t)d.undelivered, err, errlen)) ||
	    (code = store__meta_add(st, "drop_quarantine", (int64_t)d.quarantine, err, errlen)))
		goto fail;
	code = store__run(st, STORE__COMMIT, "committing cleanup", err, errlen);
	if (code)
		goto fail;
	if (drops) {
		code = limits__meta(st, &m, err, errlen);
		if (code)
			return code;
		*drops = m.drops;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
	return code;
}

/* Add a sink (position 0, no error) unless it is already listed. */
static void limits__add_sink(struct store_stats *out, const char *name,
			     int64_t pos, const char *last_error)
{
	struct store_sink_stats *k;
	size_t i;

	for (i = 0; i < out->nsinks; i++)
		if (strcmp(out->sinks[i].name, name) == 0)
			return;
	if (out->nsinks >= STORE_SINK_MAX)
		return;
	k = &out->sinks[out->nsinks++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->position = pos > 0 ? (uint64_t)pos : 0;
	snprintf(k->last_error, sizeof(k->last_error), "%s",
		 last_error ? last_error : "");
}

/* Every sink with a stored position, then the enabled ones without. */
static int limits__sinks(struct store *st, struct store_stats *out,
			 char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s = store__stmt(st, STORE__POS_ALL, &code, err, errlen);
	size_t i;

	if (!s)
		return code;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);

		if (name)
			limits__add_sink(out, name, sqlite3_column_int64(s, 1),
					 (const char *)sqlite3_column_text(s, 2));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "reading positions", err, errlen);
	for (i = 0; i < st->nsinks; i++)
		limits__add_sink(out, st->sinks[i], 0, "");
	for (i = 0; i < out->nsinks; i++) {
		struct store_sink_stats *k = &out->sinks[i];
		uint64_t from = k->position + 1, holes;
		int64_t ts;

		if (from < out->oldest_seq)
			from = out->oldest_seq;
		if (out->events == 0 || from > out->newest_seq)
			continue;
		k->backlog = out->newest_seq - from + 1;
		code = store__holes(st, from, out->newest_seq, &holes, err, errlen);
		if (code)
			return code;
		k->backlog = holes < k->backlog ? k->backlog - holes : 0;
		if (k->backlog == 0)
			continue;
		code = limits__row(st, STORE__TS_FROM, (int64_t)from, &ts, NULL,
				   err, errlen);
		if (code)
			return code;
		k->oldest_pending_ms = ts;
	}
	return 0;
}

int store_stats(struct store *st, struct store_stats *out, char *err, size_t errlen)
{
	struct limits_span sp;
	struct limits_meta m;
	uint64_t holes;
	int64_t n;
	int code, own = 0;

	if (!st || !out) {
		store__seterr(err, errlen, "buffer: stats: bad arguments");
		return STORE_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	/* One snapshot, so the figures agree with one another. */
	if (!st->in_tx) {
		code = store__run(st, STORE__BEGIN_READ, "starting a read", err, errlen);
		if (code)
			return code;
		own = 1;
	}
	code = limits__span(st, &sp, err, errlen);
	if (code)
		goto done;
	if (sp.newest_seq > 0) {
		out->oldest_seq = (uint64_t)sp.oldest_seq;
		out->newest_seq = (uint64_t)sp.newest_seq;
		out->oldest_ms = sp.oldest_ts;
		out->newest_ms = sp.newest_ts;
		out->events = out->newest_seq - out->oldest_seq + 1;
		code = store__holes(st, out->oldest_seq, out->newest_seq, &holes, err, errlen);
		if (code)
			goto done;
		out->events = holes < out->events ? out->events - holes : 0;
	}
	code = limits__meta(st, &m, err, errlen);
	if (code)
		goto done;
	out->accepted = m.last_seq > sp.newest_seq ? (uint64_t)m.last_seq
						   : (uint64_t)sp.newest_seq;
	/* Not the seqs a recovery jumped over (store_recover.c). */
	if (m.seq_skipped > 0)
		out->accepted -= (uint64_t)m.seq_skipped < out->accepted ? (uint64_t)m.seq_skipped
									 : out->accepted;
	out->quarantined = m.quarantined_total > 0 ? (uint64_t)m.quarantined_total : 0;
	out->drops = m.drops;
	code = limits__row(st, STORE__COUNT_QUAR, -1, &n, NULL, err, errlen);
	if (code)
		goto done;
	out->quarantine_rows = (uint64_t)n;
	code = limits__row(st, STORE__COUNT_DEAD, -1, &n, NULL, err, errlen);
	if (code)
		goto done;
	out->dead_letters = (uint64_t)n;
	code = limits__used(st, &out->bytes, err, errlen);
	if (code)
		goto done;
	code = limits__sinks(st, out, err, errlen);
done:
	if (own) {
		if (code == 0)
			code = store__run(st, STORE__COMMIT, "ending a read", err, errlen);
		if (code && !sqlite3_get_autocommit(st->db))
			store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
	}
	return code;
}
