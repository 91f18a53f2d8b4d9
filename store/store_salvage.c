/*
 * store_salvage.c - copy what is still readable in a damaged buffer (moved
 * aside by store_open_recover()) into the fresh one: every readable event
 * with its seq, ts, key and bytes unchanged, the sinks' positions (so an
 * event already delivered is not sent again and none undelivered is
 * skipped), the counters of meta, quarantine and dead letters.
 *
 * How. Debian 12's libsqlite3 (3.40.1) does not export the recovery API
 * (sqlite3_recover_*: only in the shell's ext/recover, `nm -D` shows no
 * such symbol), so events are read through the b-tree by seq ranges:
 *     SELECT seq, ts, key, data FROM events WHERE seq BETWEEN ?1 AND ?2
 * in rowid order. A damaged page stops that scan with SQLITE_CORRUPT after
 * the last row before it. From there a probe "the first seq >= y" is tried
 * at y = x+1, x+2, x+4, ... (galloping) until one reads, then bisected down
 * to the smallest y that reads: [x, y-1] is a lost range, and the scan goes
 * on at y. A damaged leaf costs some 2 log2(n) probes, a damaged root the
 * same plus the scan: bounded whatever the size. Two damaged regions closer
 * together than the galloping step look like one: the key index then lists
 * the seqs of that range and each is read alone (salvage__gap()), so the
 * rows between them are kept too. A row whose seq is out of order or out
 * of the range, or whose columns have the wrong types (garbage that happens
 * to parse), counts as a read error at that point.
 *
 * The range to read is [min(seq), hi], hi being the highest seq meta,
 * positions or dead letters name; when an edge leaf of the table does not
 * read, the key index (which holds every event's seq as its rowid, on pages
 * of its own) gives both edges. Without it, a lost range with an unknown
 * edge is written "?-N" or "N-?".
 *
 * A damaged index (events' key) loses nothing: only the table is read.
 * Rows are copied in transactions of SALVAGE__GROUP, after the fresh
 * buffer's seq floor is recorded, so a crash during salvage leaves a valid
 * buffer with part of them (the old file is still there), and the next
 * start resumes it (store_recover.c, meta 'salvage:PATH'): every step here
 * is idempotent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

#define SALVAGE__GROUP 10000 /* rows per transaction in the fresh buffer */

struct salvage {
	sqlite3 *src;            /* the damaged file, read-only */
	struct store *st;        /* the fresh buffer */
	sqlite3_stmt *scan, *probe, *ins;
	long in_group;           /* rows in the open transaction */
	struct store_recovery *rec;
	size_t rlen;             /* bytes used in rec->lost_ranges */
	char *err;
	size_t errlen;
	void (*progress)(void *ctx, uint64_t events);
	void *progress_ctx;
};

static int salvage__begin(struct salvage *sv)
{
	int rc;

	if (sv->in_group >= 0)
		return 0;
	rc = sqlite3_exec(sv->st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__error(sv->st, rc, "salvaging into the fresh buffer",
				    sv->err, sv->errlen);
	sv->in_group = 0;
	return 0;
}

static int salvage__commit(struct salvage *sv)
{
	int rc;

	if (sv->in_group < 0)
		return 0;
	rc = sqlite3_exec(sv->st->db, "COMMIT", NULL, NULL, NULL);
	sv->in_group = -1;
	if (rc != SQLITE_OK) {
		int code = store__error(sv->st, rc, "salvaging into the fresh buffer",
					sv->err, sv->errlen);

		sqlite3_exec(sv->st->db, "ROLLBACK", NULL, NULL, NULL);
		return code;
	}
	return 0;
}

/* One row more in the group; commits every SALVAGE__GROUP rows. */
static int salvage__counted(struct salvage *sv)
{
	if (++sv->in_group >= SALVAGE__GROUP) {
		int code = salvage__commit(sv);

		if (code == 0 && sv->progress)
			sv->progress(sv->progress_ctx, sv->rec->salvaged);
		return code;
	}
	return 0;
}

/* Record [a, b] as lost (a == 0: the start is unknown, b == 0: the end). */
static void salvage__lost(struct salvage *sv, uint64_t a, uint64_t b)
{
	struct store_recovery *r = sv->rec;
	char item[64];
	int n;

	if (a && b)
		r->lost += b - a + 1;
	if (a && !b)
		n = snprintf(item, sizeof(item), "%s%" PRIu64 "-?", sv->rlen ? "," : "", a);
	else if (a == b)
		n = snprintf(item, sizeof(item), "%s%" PRIu64, sv->rlen ? "," : "", a);
	else if (a)
		n = snprintf(item, sizeof(item), "%s%" PRIu64 "-%" PRIu64,
			     sv->rlen ? "," : "", a, b);
	else
		n = snprintf(item, sizeof(item), "%s?-%" PRIu64, sv->rlen ? "," : "", b);
	if (sv->rlen + (size_t)n + 5 < sizeof(r->lost_ranges)) {
		memcpy(r->lost_ranges + sv->rlen, item, (size_t)n + 1);
		sv->rlen += (size_t)n;
	} else if (sv->rlen + 5 <= sizeof(r->lost_ranges) &&
		   (sv->rlen < 4 || strcmp(r->lost_ranges + sv->rlen - 4, ",...") != 0)) {
		memcpy(r->lost_ranges + sv->rlen, ",...", 5);
		sv->rlen += 4;
	}
}

/* Copy one row of the scan or point statement s (its columns seq, ts, key,
 * data) if they have the right types. Returns 1 copied, 0 garbage (a read
 * error), or a negative STORE_E*. */
static int salvage__copy_row(struct salvage *sv, sqlite3_stmt *s)
{
	int rc, code;

	if (sqlite3_column_type(s, 0) != SQLITE_INTEGER || sqlite3_column_type(s, 1) != SQLITE_INTEGER ||
	    sqlite3_column_type(s, 2) != SQLITE_BLOB || sqlite3_column_type(s, 3) != SQLITE_BLOB)
		return 0;
	if ((code = salvage__begin(sv)) != 0)
		return code;
	sqlite3_bind_int64(sv->ins, 1, sqlite3_column_int64(s, 0));
	sqlite3_bind_value(sv->ins, 2, sqlite3_column_value(s, 1));
	sqlite3_bind_value(sv->ins, 3, sqlite3_column_value(s, 2));
	sqlite3_bind_value(sv->ins, 4, sqlite3_column_value(s, 3));
	rc = sqlite3_step(sv->ins);
	if (rc == SQLITE_DONE && sqlite3_changes(sv->st->db) == 1)
		sv->rec->salvaged++;
	sqlite3_reset(sv->ins);
	if (rc != SQLITE_DONE)
		return store__error(sv->st, rc, "salvaging an event", sv->err, sv->errlen);
	code = salvage__counted(sv);
	return code ? code : 1;
}

/*
 * Copy the events with seq in [lo, hi]. Returns 0 when the range was read
 * to its end, 1 when a read failed (*stop = the first seq not read), or a
 * negative STORE_E* when writing the fresh buffer failed.
 */
static int salvage__scan(struct salvage *sv, uint64_t lo, uint64_t hi, uint64_t *stop)
{
	sqlite3_stmt *s = sv->scan;
	uint64_t next = lo;
	int rc, code = 0;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)hi);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sqlite3_int64 seq = sqlite3_column_int64(s, 0);
		int got;

		if (seq < (sqlite3_int64)next || (uint64_t)seq > hi)
			break; /* garbage that parsed: a read error here */
		if ((got = salvage__copy_row(sv, s)) <= 0) {
			code = got; /* 0: garbage again */
			break;
		}
		next = (uint64_t)seq + 1;
	}
	sqlite3_reset(s);
	if (code)
		return code;
	if (rc == SQLITE_DONE)
		return 0;
	*stop = next;
	return 1;
}

/* Does "the first event with seq >= y" read? 1 yes (*first = its seq, or
 * UINT64_MAX when there is none), 0 no. */
static int salvage__probe(struct salvage *sv, uint64_t y, uint64_t *first)
{
	int rc, ok;

	sqlite3_bind_int64(sv->probe, 1, (sqlite3_int64)y);
	rc = sqlite3_step(sv->probe);
	ok = rc == SQLITE_DONE || (rc == SQLITE_ROW &&
				   sqlite3_column_type(sv->probe, 0) == SQLITE_INTEGER &&
				   sqlite3_column_int64(sv->probe, 0) >= (sqlite3_int64)y);
	*first = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(sv->probe, 0) : UINT64_MAX;
	sqlite3_reset(sv->probe);
	return ok;
}

/*
 * [a, b] did not read as a range (galloping and bisection found its end,
 * but two damaged regions closer together than a gallop step look like
 * one). The key index lists the seqs that were there (as its rowids, on
 * pages of its own): each is read alone, by rowid, so the rows between two
 * such regions are kept and only the unreadable ones are lost, run by run.
 * When the index does not read, all of [a, b] is lost (lo_known = 0: its
 * start is unknown). Returns 0 or a negative STORE_E*.
 */
static int salvage__gap(struct salvage *sv, uint64_t a, uint64_t b, int lo_known)
{
	sqlite3_stmt *ix = NULL, *one = NULL;
	uint64_t run_a = 0, run_b = 0;
	int rc, code = 0, listed = 0;

	if (sqlite3_prepare_v2(sv->src, "SELECT seq FROM events INDEXED BY "
			       "sqlite_autoindex_events_1 WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
			       -1, &ix, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sv->src, "SELECT seq, ts, key, data FROM events WHERE seq = ?1",
			       -1, &one, NULL) != SQLITE_OK)
		goto whole;
	sqlite3_bind_int64(ix, 1, (sqlite3_int64)a);
	sqlite3_bind_int64(ix, 2, (sqlite3_int64)b);
	while ((rc = sqlite3_step(ix)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(ix, 0);
		int got = 0;

		listed = 1;
		if (seq < a || seq > b)
			continue;
		sqlite3_bind_int64(one, 1, (sqlite3_int64)seq);
		if (sqlite3_step(one) == SQLITE_ROW && sqlite3_column_int64(one, 0) == (sqlite3_int64)seq)
			got = salvage__copy_row(sv, one);
		sqlite3_reset(one);
		if (got < 0) {
			code = got;
			goto out;
		}
		if (got)
			continue;
		if (run_b && seq == run_b + 1) {
			run_b = seq;
			continue;
		}
		if (run_b)
			salvage__lost(sv, run_a, run_b);
		run_a = run_b = seq;
	}
	if (rc != SQLITE_DONE || !listed)
		goto whole; /* the index does not read (its sort reads it whole
			       before the first row), or lists nothing there */
	if (run_b)
		salvage__lost(sv, run_a, run_b);
	goto out;
whole:
	salvage__lost(sv, lo_known ? a : 0, b);
out:
	sqlite3_finalize(ix);
	sqlite3_finalize(one);
	return code;
}

/* Events of [lo, hi]; lo_known = 0 when lo is a guess (the first readable
 * seq could not be read). Returns 0 or a negative STORE_E*. */
static int salvage__events(struct salvage *sv, uint64_t lo, uint64_t hi, int lo_known)
{
	uint64_t x = lo, stop = lo;

	while (x <= hi) {
		uint64_t bad, good, step, first = UINT64_MAX;
		int code = salvage__scan(sv, x, hi, &stop);

		if (code <= 0)
			return code;
		if (stop > hi)
			return 0; /* all of it read; the error was past its end */
		if (stop != x)
			lo_known = 1; /* rows were read before the damage */
		/* [stop, ?] does not read: find the smallest y that does. */
		bad = stop;
		good = 0;
		for (step = 1; ; step *= 2) {
			uint64_t y = stop + step > hi || stop + step < stop ? hi + 1 : stop + step;

			if (y > hi || salvage__probe(sv, y, &first)) {
				good = y;
				break;
			}
			bad = y;
		}
		while (good - bad > 1) {
			uint64_t mid = bad + (good - bad) / 2, f;

			if (salvage__probe(sv, mid, &f)) {
				good = mid;
				first = f;
			} else {
				bad = mid;
			}
		}
		if ((code = salvage__gap(sv, stop, good - 1, lo_known)) != 0)
			return code;
		lo_known = 1;
		if (good > hi || first == UINT64_MAX)
			break;
		x = good;
	}
	return 0;
}

/* Copy every row of a small table, stopping at the first read error (best
 * effort: these are diagnostics and counters). Returns rows copied or < 0. */
static long salvage__table(struct salvage *sv, const char *sel, const char *ins, int ncols,
			   int *complete)
{
	sqlite3_stmt *s = NULL, *w = NULL;
	long n = 0;
	int rc, rrc, code = 0;

	if (complete)
		*complete = 0;
	if (sqlite3_prepare_v2(sv->src, sel, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return 0; /* the schema itself does not read: nothing to copy */
	}
	rc = sqlite3_prepare_v2(sv->st->db, ins, -1, &w, NULL);
	if (rc != SQLITE_OK) {
		code = store__error(sv->st, rc, "salvaging", sv->err, sv->errlen);
		sqlite3_finalize(s);
		return code;
	}
	while ((rrc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((code = salvage__begin(sv)) != 0)
			break;
		for (int i = 0; i < ncols; i++)
			sqlite3_bind_value(w, i + 1, sqlite3_column_value(s, i));
		rc = sqlite3_step(w);
		sqlite3_reset(w);
		if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT) {
			code = store__error(sv->st, rc, "salvaging", sv->err, sv->errlen);
			break;
		}
		n++;
		if ((code = salvage__counted(sv)) != 0)
			break;
	}
	if (complete && rrc == SQLITE_DONE)
		*complete = 1;
	sqlite3_finalize(s);
	sqlite3_finalize(w);
	return code ? code : n;
}

/*
 * Record the seqs below the fresh buffer's floor that it does not hold,
 * between its oldest and the floor, as holes (meta 'hole:FROM' = TO), so
 * that stats still count events and backlogs without a count(*) (the
 * invariant of store.c). Gaps inside the damaged file's own holes were
 * not copied as such: this walk finds every gap, whatever its cause.
 */
static int salvage__holes(struct salvage *sv)
{
	struct store *st = sv->st;
	sqlite3_stmt *s = NULL, *w = NULL;
	uint64_t prev = 0;
	int rc, code = 0;

	if ((code = salvage__commit(sv)) != 0)
		return code;
	rc = sqlite3_prepare_v2(st->db, "SELECT seq FROM events WHERE seq < ?1 ORDER BY seq",
				-1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta(k, v) "
					"VALUES ('hole:' || ?1, ?2)", -1, &w, NULL);
	if (rc != SQLITE_OK) {
		code = store__error(st, rc, "recording the salvage's holes", sv->err, sv->errlen);
		goto out;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)st->next_seq);
	for (;;) {
		uint64_t seq;

		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			code = store__error(st, rc, "recording the salvage's holes",
					    sv->err, sv->errlen);
			break;
		}
		seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : st->next_seq;
		if (prev && seq > prev + 1) {
			int wrc;

			if ((code = salvage__begin(sv)) != 0)
				break;
			sqlite3_bind_int64(w, 1, (sqlite3_int64)(prev + 1));
			sqlite3_bind_int64(w, 2, (sqlite3_int64)(seq - 1));
			wrc = sqlite3_step(w);

			sqlite3_reset(w);
			if (wrc != SQLITE_DONE) {
				code = store__error(st, wrc, "recording the salvage's holes",
						    sv->err, sv->errlen);
				break;
			}
			if ((code = salvage__counted(sv)) != 0)
				break;
		}
		if (rc == SQLITE_DONE || seq >= st->next_seq)
			break;
		prev = seq;
	}
out:
	sqlite3_finalize(s);
	sqlite3_finalize(w);
	return code;
}

/* One integer; 1 when read, 0 when not. */
static int salvage__int(sqlite3 *db, const char *sql, uint64_t *v)
{
	sqlite3_stmt *s = NULL;
	int ok = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
		*v = (uint64_t)sqlite3_column_int64(s, 0);
		ok = 1;
	}
	sqlite3_finalize(s);
	return ok;
}

int store__salvage(struct store *st, const struct store_options *opt, const char *old_path,
		   uint64_t hi, struct store_recovery *rec, char *err, size_t errlen)
{
	struct salvage sv = { .st = st, .rec = rec, .in_group = -1, .err = err, .errlen = errlen,
			      .progress = opt->salvage_progress, .progress_ctx = opt->salvage_ctx };
	uint64_t lo = 1;
	int lo_known, hi_from_index = 0, code = 0;
	long n;

	rec->salvaged = rec->lost = 0;
	rec->lost_ranges[0] = '\0';
	/* Read-write but query_only and no checkpoint at close, as
	 * store_recover.c opens it: a WAL file opens without help, and the
	 * kept file is left as it is. */
	if (sqlite3_open_v2(old_path, &sv.src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		sqlite3_close(sv.src);
		return 0; /* nothing readable: the floor alone protects seq */
	}
	sqlite3_extended_result_codes(sv.src, 1);
	sqlite3_db_config(sv.src, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_exec(sv.src, "PRAGMA query_only = 1", NULL, NULL, NULL);
	lo_known = salvage__int(sv.src, "SELECT min(seq) FROM events", &lo);
	if (!lo_known) {
		/* The oldest leaf does not read. A buffer that never was a
		 * recovery's fresh one (no seq_floor, no holes in meta) issued
		 * seqs from 1 and deleted only from the oldest end, so its first
		 * seq is 1 + what the limits dropped; otherwise it is unknown
		 * and the lost range is reported from "?". */
		uint64_t drops = 0, other = 0;

		lo = 1;
		if (salvage__int(sv.src, "SELECT count(*) FROM meta WHERE k = 'seq_floor' OR "
				 "(k > 'hole:' AND k < 'hole;')", &other) && other == 0 &&
		    salvage__int(sv.src, "SELECT sum(v) FROM meta WHERE k IN ('drop_expired', "
				 "'drop_delivered', 'drop_undelivered')", &drops)) {
			lo = drops + 1;
			lo_known = 1;
		}
	}
	if (lo == 0)
		lo = 1;
	/* The key index holds every event's seq (its rowid) on pages of its
	 * own: the range to read when an edge of the table does not read. */
	{
		sqlite3_stmt *ix = NULL;

		if (sqlite3_prepare_v2(sv.src, "SELECT min(seq), max(seq) FROM events INDEXED BY "
				       "sqlite_autoindex_events_1", -1, &ix, NULL) == SQLITE_OK &&
		    sqlite3_step(ix) == SQLITE_ROW &&
		    sqlite3_column_type(ix, 0) == SQLITE_INTEGER) {
			uint64_t a = (uint64_t)sqlite3_column_int64(ix, 0);
			uint64_t b = (uint64_t)sqlite3_column_int64(ix, 1);

			if (!lo_known || a < lo) {
				lo = a;
				lo_known = 1;
			}
			if (b > hi)
				hi = b;
			hi_from_index = 1;
			if (b > rec->seq_from_file)
				rec->seq_from_file = b; /* the highest seq it names */
		}
		sqlite3_finalize(ix);
	}
	if (sqlite3_prepare_v2(sv.src, "SELECT seq, ts, key, data FROM events "
			       "WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq", -1, &sv.scan, NULL) ||
	    sqlite3_prepare_v2(sv.src, "SELECT seq FROM events WHERE seq >= ?1 "
			       "ORDER BY seq LIMIT 1", -1, &sv.probe, NULL)) {
		if (hi)
			salvage__lost(&sv, 0, hi); /* the schema does not read */
		goto others;
	}
	code = sqlite3_prepare_v2(st->db, "INSERT INTO events(seq, ts, key, data) "
				  "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING", -1,
				  &sv.ins, NULL);
	if (code != SQLITE_OK) {
		code = store__error(st, code, "salvaging", err, errlen);
		goto out;
	}
	if (hi >= lo)
		code = salvage__events(&sv, lo, hi, lo_known);
	if (code)
		goto out;
	/* Above every seq the file names (when its index did not read):
	 * nothing, or the damage hides it. */
	if (!hi_from_index && hi < INT64_MAX) {
		uint64_t first;

		if (!salvage__probe(&sv, hi + 1, &first))
			salvage__lost(&sv, hi + 1, 0);
		else if (first != UINT64_MAX && first > hi)
			code = salvage__events(&sv, first, INT64_MAX, 1);
		if (code)
			goto out;
	}
others:
	n = salvage__table(&sv, "SELECT sink, seq, last_error, updated_ms FROM positions",
			   "INSERT OR REPLACE INTO positions(sink, seq, last_error, updated_ms) "
			   "VALUES (?1, ?2, ?3, ?4)", 4, &rec->positions_salvaged);
	if (n < 0) {
		code = (int)n;
		goto out;
	}
	n = salvage__table(&sv, "SELECT k, v FROM meta WHERE k != 'last_seq' AND "
			   "substr(k, 1, 5) != 'hole:' AND substr(k, 1, 8) != 'salvage:'",
			   "INSERT INTO meta(k, v) VALUES (?1, ?2) "
			   "ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v)", 2, NULL);
	if (n >= 0)
		n = salvage__table(&sv, "SELECT id, ts, origin, reason, raw FROM quarantine ORDER BY id",
				   "INSERT OR IGNORE INTO quarantine(id, ts, origin, reason, raw) "
				   "VALUES (?1, ?2, ?3, ?4, ?5)", 5, NULL);
	if (n >= 0)
		n = salvage__table(&sv, "SELECT id, sink, seq, ts, created_ms, reason, data "
				   "FROM dead_letter ORDER BY id",
				   "INSERT OR IGNORE INTO dead_letter(id, sink, seq, ts, created_ms, "
				   "reason, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", 7, NULL);
	if (n < 0)
		code = (int)n;
	if (code == 0)
		code = salvage__holes(&sv);
out:
	if (code == 0)
		code = salvage__commit(&sv);
	else if (sv.in_group >= 0)
		salvage__commit(&sv); /* keep what was copied */
	sqlite3_finalize(sv.scan);
	sqlite3_finalize(sv.probe);
	sqlite3_finalize(sv.ins);
	sqlite3_close(sv.src);
	return code;
}
