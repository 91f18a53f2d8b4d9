/*
 * test_store.c - unit tests of the SQLite buffer (store/): groups and seq
 * continuity, dedup by key, rollback, quarantine and dead letters, positions,
 * retention, the size cap, read-only handles, refusing files that are not a
 * buffer, and a kill -9 loop that checks no committed event is lost or
 * renumbered, and store_open_recover() moving a damaged buffer aside (seq
 * carried above anything issued). Every database lives in a mkdtemp()
 * directory removed at exit.
 * The test reaches into store_int.h and SQLite only to check on-disk facts
 * (integrity_check, count(*)) and to simulate failures.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_int.h"
#include "tests/unit/check.h"

static char test_dir[64];

/* A database path inside the test directory (a few stay valid at once). */
static const char *db_path(const char *name)
{
	static char paths[8][128];
	static unsigned next;
	char *path = paths[next++ % 8];

	snprintf(path, sizeof(paths[0]), "%s/%s", test_dir, name);
	return path;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static struct store *open_store(const char *path, int readonly,
				const char *const *sinks, size_t nsinks,
				int64_t max_bytes, int64_t retention_ms)
{
	struct store_options o = { .path = path, .readonly = readonly,
		.max_bytes = max_bytes, .retention_ms = retention_ms,
		.sinks = sinks, .nsinks = nsinks };
	struct store *st = NULL;
	char err[256] = "";
	int rc = store_open(&st, &o, err, sizeof(err));

	if (rc)
		fprintf(stderr, "store_open(%s): %d %s\n", path, rc, err);
	CHECK_INT(rc, 0);
	return st;
}

/* Append n events with key "k<seq>" and data "event-<seq>" padded to len. */
static int append_n(struct store *st, int n, int64_t ts0, int64_t ts_step,
		    size_t len)
{
	char err[256], key[32], data[1024];
	int i;

	if (len > sizeof(data))
		return -1;
	for (i = 0; i < n; i++) {
		uint64_t seq = store_next_seq(st);
		int rc;

		memset(data, 'x', len);
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)seq);
		snprintf(data, len, "event-%llu", (unsigned long long)seq);
		rc = store_append(st, seq, ts0 + (int64_t)(seq - 1) * ts_step,
				  key, strlen(key), data, len, err, sizeof(err));
		if (rc != 1) {
			fprintf(stderr, "append %llu: %d %s\n",
				(unsigned long long)seq, rc, err);
			return -1;
		}
	}
	return 0;
}

static int commit_n(struct store *st, int n, int64_t ts0, int64_t ts_step,
		    size_t len)
{
	char err[256];

	if (store_begin(st, err, sizeof(err)) || append_n(st, n, ts0, ts_step, len))
		return -1;
	if (store_commit(st, err, sizeof(err))) {
		fprintf(stderr, "commit: %s\n", err);
		return -1;
	}
	return 0;
}

/* One integer from sql on path (read-only, a separate connection), with
 * other attached as "o" unless it is NULL; -1 on error. */
static long long raw_int2(const char *path, const char *other, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char att[STORE_PATH_MAX + 64];
	long long v = -1;

	if (other)
		snprintf(att, sizeof(att), "ATTACH '%s' AS o", other);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    (!other || sqlite3_exec(db, att, NULL, NULL, NULL) == SQLITE_OK) &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Raw one-integer query on a separate connection. */
static long long raw_int(const char *path, const char *sql)
{
	return raw_int2(path, NULL, sql);
}

static int integrity_ok(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return ok;
}

/* What a read callback saw. */
struct seen {
	uint64_t first, last; /* seqs */
	long n;               /* events */
	int bad;              /* events out of order or with wrong data */
	long stop_after;      /* return 1 after this many (0 = never) */
	int64_t last_ts;      /* ts of the last */
};

static int on_event(void *ctx, uint64_t seq, int64_t ts, const void *data,
		    size_t len)
{
	struct seen *s = ctx;
	char want[32];
	int wl = snprintf(want, sizeof(want), "event-%llu", (unsigned long long)seq);

	if (s->n == 0)
		s->first = seq;
	else if (seq != s->last + 1)
		s->bad++;
	if (len < (size_t)wl || memcmp(data, want, (size_t)wl) != 0)
		s->bad++;
	s->last = seq;
	s->last_ts = ts;
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void test_basic(void)
{
	const char *path = db_path("basic.db");
	struct store *st = open_store(path, 0, NULL, 0, 0, 0);
	struct store_stats ss;
	struct seen seen;
	char err[256];

	if (!st)
		return;
	CHECK_INT(store_next_seq(st), 1);
	CHECK_INT(commit_n(st, 10, 1000, 1, 100), 0);
	CHECK_INT(store_next_seq(st), 11);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 10);
	CHECK_INT(ss.accepted, 10);
	CHECK_INT(ss.oldest_seq, 1);
	CHECK_INT(ss.newest_seq, 10);
	CHECK_INT(ss.oldest_ms, 1000);
	CHECK_INT(ss.newest_ms, 1009);
	CHECK(ss.bytes > 0);
	store_close(&st);
	CHECK(st == NULL);
	store_close(&st); /* NULL is fine */
	store_close(NULL);

	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_next_seq(st), 11);
	CHECK_INT(commit_n(st, 5, 1000, 1, 100), 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_read(st, 1, 100, on_event, &seen, err, sizeof(err)), 15);
	CHECK_INT(seen.first, 1);
	CHECK_INT(seen.last, 15);
	CHECK_INT(seen.bad, 0);
	CHECK_INT(seen.last_ts, 1014);
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_read(st, 5, 3, on_event, &seen, err, sizeof(err)), 3);
	CHECK_INT(seen.first, 5);
	CHECK_INT(seen.last, 7);
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	CHECK_INT(store_read(st, 1, 100, on_event, &seen, err, sizeof(err)), 2);
	CHECK_INT(store_read(st, 16, 100, on_event, &seen, err, sizeof(err)), 0);
	CHECK_INT(store_read(st, 1, 0, on_event, &seen, err, sizeof(err)), 0);
	CHECK_INT(store_read(st, 1, 10, NULL, NULL, err, sizeof(err)), STORE_EINVAL);

	/* Caller errors. */
	CHECK_INT(store_append(st, 16, 0, "x", 1, "d", 1, err, sizeof(err)), STORE_EINVAL);
	CHECK(strstr(err, "no open group") != NULL);
	CHECK_INT(store_commit(st, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_begin(st, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_append(st, 17, 0, "x", 1, "d", 1, err, sizeof(err)), STORE_EINVAL);
	CHECK(strstr(err, "store_next_seq") != NULL);
	CHECK_INT(store_append(st, 16, 0, NULL, 0, "d", 1, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_enforce_limits(st, 0, NULL, err, sizeof(err)), STORE_EINVAL);
	/* An empty payload is allowed. */
	CHECK_INT(store_append(st, 16, 0, "empty", 5, NULL, 0, err, sizeof(err)), 1);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	CHECK_INT(store_next_seq(st), 17);
	store_close(&st);
}

static void test_dedup_rollback(void)
{
	const char *path = db_path("dedup.db");
	struct store *st = open_store(path, 0, NULL, 0, 0, 0);
	struct store_stats ss;
	char err[256];

	if (!st)
		return;
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 1, 10, "sensor-1@10", 11, "a", 1, err, sizeof(err)), 1);
	CHECK_INT(store_append(st, 2, 11, "sensor-1@11", 11, "b", 1, err, sizeof(err)), 1);
	/* Same key inside the group: not stored, seq not consumed. */
	CHECK_INT(store_append(st, 3, 12, "sensor-1@10", 11, "c", 1, err, sizeof(err)), 0);
	CHECK_INT(store_next_seq(st), 3);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	/* Same key in a later group. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 3, 12, "sensor-1@11", 11, "d", 1, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 3, 12, "sensor-1@12", 11, "e", 1, err, sizeof(err)), 1);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 3);
	CHECK_INT(ss.accepted, 3);

	/* Rollback gives the seqs back. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 4, 13, "r1", 2, "f", 1, err, sizeof(err)), 1);
	CHECK_INT(store_append(st, 5, 13, "r2", 2, "g", 1, err, sizeof(err)), 1);
	CHECK_INT(store_next_seq(st), 6);
	store_rollback(st);
	CHECK_INT(store_next_seq(st), 4);
	store_rollback(st); /* no group: no-op */
	CHECK_INT(store_next_seq(st), 4);
	/* The rolled-back key is free again. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 4, 13, "r1", 2, "f", 1, err, sizeof(err)), 1);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);

	/* A group that SQLite rolled back underneath (as after an I/O error):
	 * commit fails and seq returns to its value before begin. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 5, 14, "r2", 2, "g", 1, err, sizeof(err)), 1);
	CHECK_INT(sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(store_append(st, 6, 14, "r3", 2, "h", 1, err, sizeof(err)), STORE_EIO);
	CHECK(strstr(err, "rolled back") != NULL);
	CHECK(store_commit(st, err, sizeof(err)) < 0);
	CHECK_INT(store_next_seq(st), 5);
	store_close(&st);

	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_next_seq(st), 5);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 4);
	store_close(&st);
}

static void test_disk_full(void)
{
	const char *path = db_path("full.db");
	struct store *st = open_store(path, 0, NULL, 0, 0, 0);
	char err[256], data[600];
	uint64_t before;
	int rc = 1, i;

	if (!st)
		return;
	CHECK_INT(commit_n(st, 10, 0, 1, 100), 0);
	/* Cap the file at its current size: the next new page fails like ENOSPC. */
	CHECK_INT(sqlite3_exec(st->db, "PRAGMA max_page_count = 1", NULL, NULL, NULL),
		  SQLITE_OK);
	memset(data, 'y', sizeof(data));
	before = store_next_seq(st);
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	for (i = 0; i < 1000 && rc == 1; i++) {
		char key[16];

		snprintf(key, sizeof(key), "full%d", i);
		rc = store_append(st, store_next_seq(st), 0, key, strlen(key),
				  data, sizeof(data), err, sizeof(err));
	}
	CHECK_INT(rc, STORE_EFULL);
	CHECK(strstr(err, "disk full writing") != NULL);
	CHECK(strstr(err, path) != NULL);
	store_rollback(st);
	CHECK_INT(store_next_seq(st), before);
	store_close(&st);
}

static void test_quarantine_dead_letters(void)
{
	const char *path = db_path("quar.db");
	struct store *st = open_store(path, 0, NULL, 0, 0, 0);
	struct store_stats ss;
	char err[256];

	if (!st)
		return;
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(append_n(st, 3, 100, 1, 50), 0);
	CHECK_INT(store_quarantine(st, 100, "sensors/a/reading", "not JSON", "{{", 2,
				   err, sizeof(err)), 0);
	CHECK_INT(store_quarantine(st, 101, "file.jsonl", "humidity out of range",
				   NULL, 0, err, sizeof(err)), 0);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	/* Outside a group: its own transaction. */
	CHECK_INT(store_quarantine(st, 102, NULL, NULL, "x", 1, err, sizeof(err)), 0);
	CHECK_INT(store_dead_letter(st, "elasticsearch", 2, "mapper_parsing_exception",
				    err, sizeof(err)), 0);
	/* An event already dropped is still recorded, without data. */
	CHECK_INT(store_dead_letter(st, "elasticsearch", 99, "gone", err, sizeof(err)), 0);
	CHECK_INT(store_dead_letter(st, "", 2, "x", err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_dead_letter(st, "kafka", 0, "x", err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.quarantined, 3);
	CHECK_INT(ss.quarantine_rows, 3);
	CHECK_INT(ss.dead_letters, 2);
	CHECK_INT(ss.events, 3);
	CHECK_INT(raw_int(path, "SELECT length(data) FROM dead_letter WHERE seq = 2"), 50);
	CHECK_INT(raw_int(path, "SELECT ts FROM dead_letter WHERE seq = 2"), 101);
	CHECK_INT(raw_int(path, "SELECT data IS NULL FROM dead_letter WHERE seq = 99"), 1);
	CHECK_INT(raw_int(path, "SELECT length(raw) FROM quarantine WHERE ts = 100"), 2);
	/* A rolled back quarantine is not counted. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_quarantine(st, 103, "o", "r", "y", 1, err, sizeof(err)), 0);
	store_rollback(st);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.quarantined, 3);
	CHECK_INT(ss.quarantine_rows, 3);
	store_close(&st);
}

static void test_positions(void)
{
	const char *path = db_path("pos.db");
	const char *sinks[] = { "kafka", "elasticsearch" };
	struct store *st = open_store(path, 0, sinks, 2, 0, 0);
	struct store_stats ss;
	char err[256], longname[STORE_SINK_NAME_MAX + 1];
	uint64_t pos = 99;
	size_t i;
	int found = 0;

	if (!st)
		return;
	CHECK_INT(store_position_get(st, "kafka", &pos, err, sizeof(err)), 0);
	CHECK_INT(pos, 0);
	CHECK_INT(commit_n(st, 20, 5000, 10, 40), 0);
	CHECK_INT(store_position_set(st, "kafka", 5, "broker down", err, sizeof(err)), 0);
	CHECK_INT(store_position_set(st, "kafka", 12, NULL, err, sizeof(err)), 0);
	CHECK_INT(store_position_get(st, "kafka", &pos, err, sizeof(err)), 0);
	CHECK_INT(pos, 12);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(store_position_set(st, longname, 1, NULL, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_position_get(st, NULL, &pos, err, sizeof(err)), STORE_EINVAL);
	/* Inside a group it goes with the group. */
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_position_set(st, "old-sink", 3, "", err, sizeof(err)), 0);
	store_rollback(st);
	CHECK_INT(store_position_get(st, "old-sink", &pos, err, sizeof(err)), 0);
	CHECK_INT(pos, 0);
	CHECK_INT(store_position_set(st, "old-sink", 20, "", err, sizeof(err)), 0);

	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.nsinks, 3);
	for (i = 0; i < ss.nsinks; i++) {
		struct store_sink_stats *k = &ss.sinks[i];

		if (strcmp(k->name, "kafka") == 0) {
			found++;
			CHECK_INT(k->position, 12);
			CHECK_INT(k->backlog, 8);
			CHECK_INT(k->oldest_pending_ms, 5000 + 12 * 10);
			CHECK_STR(k->last_error, "broker down"); /* NULL kept it */
		} else if (strcmp(k->name, "elasticsearch") == 0) {
			found++;
			CHECK_INT(k->position, 0);
			CHECK_INT(k->backlog, 20);
			CHECK_INT(k->oldest_pending_ms, 5000);
			CHECK_STR(k->last_error, "");
		} else if (strcmp(k->name, "old-sink") == 0) {
			found++;
			CHECK_INT(k->backlog, 0);
			CHECK_INT(k->oldest_pending_ms, 0);
		}
	}
	CHECK_INT(found, 3);
	CHECK_INT(store_position_set(st, "kafka", 12, "", err, sizeof(err)), 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	for (i = 0; i < ss.nsinks; i++)
		if (strcmp(ss.sinks[i].name, "kafka") == 0)
			CHECK_STR(ss.sinks[i].last_error, "");
	store_close(&st);
}

static void test_retention(void)
{
	const char *path = db_path("ret.db");
	const char *sinks[] = { "kafka", "elasticsearch" };
	struct store *st = open_store(path, 0, sinks, 2, 0, 500);
	struct store_drops d;
	struct store_stats ss;
	char err[256];

	if (!st)
		return;
	/* Events 1..100 with ts = 1000 + 10 * (seq - 1). */
	CHECK_INT(commit_n(st, 100, 1000, 10, 100), 0);
	CHECK_INT(store_quarantine(st, 1000, "o", "old", "q", 1, err, sizeof(err)), 0);
	CHECK_INT(store_quarantine(st, 9000, "o", "new", "q", 1, err, sizeof(err)), 0);
	CHECK_INT(store_position_set(st, "kafka", 80, NULL, err, sizeof(err)), 0);
	CHECK_INT(store_position_set(st, "elasticsearch", 50, NULL, err, sizeof(err)), 0);
	/* cutoff = 2090 - 500 = 1590: seq 1..59 are old; only 1..50 delivered. */
	CHECK_INT(store_enforce_limits(st, 2090, &d, err, sizeof(err)), 0);
	CHECK_INT(d.expired, 50);
	CHECK_INT(d.quarantine, 1);
	CHECK_INT(d.delivered, 0);
	CHECK_INT(d.undelivered, 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.oldest_seq, 51);
	CHECK_INT(ss.events, 50);
	CHECK_INT(ss.events, raw_int(path, "SELECT count(*) FROM events"));
	CHECK_INT(ss.quarantine_rows, 1);
	CHECK_INT(ss.quarantined, 2);
	CHECK_INT(ss.drops.expired, 50);
	/* elasticsearch catches up: only the old ones go (seq 51..59). */
	CHECK_INT(store_position_set(st, "elasticsearch", 100, NULL, err, sizeof(err)), 0);
	CHECK_INT(store_enforce_limits(st, 2090, &d, err, sizeof(err)), 0);
	CHECK_INT(d.expired, 59);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.oldest_seq, 60);
	CHECK_INT(ss.events, raw_int(path, "SELECT count(*) FROM events"));
	store_close(&st);

	/* No sinks: every event counts as delivered. */
	st = open_store(path, 0, NULL, 0, 0, 500);
	if (!st)
		return;
	CHECK_INT(store_enforce_limits(st, 100000, &d, err, sizeof(err)), 0);
	CHECK_INT(d.expired, 100);
	CHECK_INT(d.quarantine, 2);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 0);
	CHECK_INT(ss.oldest_seq, 0);
	CHECK_INT(ss.accepted, 100);
	store_close(&st);

	/* retention 0 keeps everything. */
	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(commit_n(st, 5, 0, 0, 10), 0);
	CHECK_INT(store_enforce_limits(st, INT64_MAX / 2, &d, err, sizeof(err)), 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 5);
	CHECK_INT(ss.oldest_seq, 101);
	store_close(&st);
}

/* Retention deletes only a prefix: a newer ts among old ones stops it there,
 * so the seqs left stay contiguous. */
static void test_retention_prefix(void)
{
	const char *path = db_path("prefix.db");
	struct store *st = open_store(path, 0, NULL, 0, 0, 500);
	struct store_drops d;
	struct store_stats ss;
	char err[256];

	if (!st)
		return;
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_append(st, 1, 100, "a", 1, "x", 1, err, sizeof(err)), 1);
	CHECK_INT(store_append(st, 2, 5000, "b", 1, "x", 1, err, sizeof(err)), 1);
	CHECK_INT(store_append(st, 3, 100, "c", 1, "x", 1, err, sizeof(err)), 1);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	CHECK_INT(store_enforce_limits(st, 2000, &d, err, sizeof(err)), 0);
	CHECK_INT(d.expired, 1);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.oldest_seq, 2);
	CHECK_INT(ss.events, 2);
	CHECK_INT(ss.events, raw_int(path, "SELECT count(*) FROM events"));
	store_close(&st);
}

/*
 * The agent checks the cap about once a second while events keep coming:
 * the file (pages ever used, since freed pages are reused, never returned)
 * must stay within the cap, not the cap plus one interval's events.
 */
static void test_size_cap_file(void)
{
	const char *path = db_path("capfile.db");
	const char *sinks[] = { "kafka" };
	struct store *st = open_store(path, 0, sinks, 1, 0, 0);
	struct store_drops d;
	char err[256];
	long long page, pages_full, most = 0;
	int64_t cap;
	int i;

	if (!st)
		return;
	CHECK_INT(commit_n(st, 4000, 0, 1, 600), 0);
	store_close(&st);
	page = raw_int(path, "PRAGMA page_size");
	pages_full = raw_int(path, "PRAGMA page_count");
	cap = (int64_t)(pages_full * page) * 5 / 4; /* room for ~1,000 more */
	st = open_store(path, 0, sinks, 1, cap, 0);
	if (!st)
		return;
	/* 20 "seconds" of 400 events each (8 % of the cap), a check after
	 * each, as pipeline.c does; nothing is delivered, so the oldest
	 * undelivered go once it is full. */
	for (i = 0; i < 20; i++) {
		long long pages;

		CHECK_INT(commit_n(st, 400, 0, 1, 600), 0);
		pages = raw_int(path, "PRAGMA page_count");
		if (pages > most)
			most = pages;
		CHECK_INT(store_enforce_limits(st, 0, &d, err, sizeof(err)), 0);
	}
	if (most * page > cap)
		fprintf(stderr, "file grew to %lld pages, cap %lld pages\n", most,
			(long long)(cap / page));
	/* Without the headroom it reaches the cap plus ~400 events (8 %). */
	CHECK(most * page <= cap + cap / 100);
	CHECK(raw_int(path, "SELECT count(*) FROM events") > 3000);
	store_close(&st);
}

static void test_size_cap(void)
{
	const char *path = db_path("cap.db");
	const char *sinks[] = { "kafka" };
	struct store *st = open_store(path, 0, sinks, 1, 0, 0);
	struct store_stats full, ss;
	struct store_drops d;
	char err[256];
	int64_t cap;

	if (!st)
		return;
	CHECK_INT(commit_n(st, 3000, 0, 1, 600), 0);
	CHECK_INT(store_quarantine(st, 0, "o", "r", "raw", 3, err, sizeof(err)), 0);
	CHECK_INT(store_position_set(st, "kafka", 1000, NULL, err, sizeof(err)), 0);
	CHECK_INT(store_stats(st, &full, err, sizeof(err)), 0);
	CHECK(full.bytes > 3000 * 600);
	store_close(&st);

	/* Cap at 3/4 (a third of the events are delivered, and pages hold
	 * some overhead): only delivered events go. */
	cap = full.bytes * 3 / 4;
	st = open_store(path, 0, sinks, 1, cap, 0);
	if (!st)
		return;
	CHECK_INT(store_enforce_limits(st, 0, &d, err, sizeof(err)), 0);
	CHECK(d.delivered > 0 && d.delivered <= 1000);
	CHECK_INT(d.undelivered, 0);
	CHECK_INT(d.quarantine, 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK(ss.bytes <= cap);
	CHECK_INT(ss.oldest_seq, d.delivered + 1);
	CHECK_INT(ss.events, 3000 - d.delivered);
	CHECK_INT(ss.events, raw_int(path, "SELECT count(*) FROM events"));
	/* Freed pages are reused: new events do not grow the file. */
	{
		long long pages = raw_int(path, "PRAGMA page_count");

		CHECK_INT(commit_n(st, 50, 0, 1, 600), 0);
		CHECK_INT(raw_int(path, "PRAGMA page_count"), pages);
	}
	store_close(&st);

	/* Cap at a third: all delivered go, then the oldest undelivered. */
	cap = full.bytes / 3;
	st = open_store(path, 0, sinks, 1, cap, 0);
	if (!st)
		return;
	CHECK_INT(store_enforce_limits(st, 0, &d, err, sizeof(err)), 0);
	CHECK_INT(d.delivered, 1000);
	CHECK(d.undelivered > 0);
	CHECK_INT(d.quarantine, 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK(ss.bytes <= cap);
	CHECK_INT(ss.oldest_seq, 1000 + d.undelivered + 1);
	CHECK_INT(ss.events, raw_int(path, "SELECT count(*) FROM events"));
	CHECK_INT(ss.sinks[0].backlog, ss.events);
	CHECK_INT(ss.drops.delivered, 1000);
	store_close(&st);

	/* A cap below the empty schema: everything goes, quarantine last. */
	st = open_store(path, 0, sinks, 1, 1, 0);
	if (!st)
		return;
	CHECK_INT(store_enforce_limits(st, 0, &d, err, sizeof(err)), 0);
	CHECK_INT(d.quarantine, 1);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 0);
	CHECK_INT(ss.quarantine_rows, 0);
	CHECK_INT(ss.drops.delivered + ss.drops.undelivered, 3050);
	CHECK_INT(ss.accepted, 3050);
	store_close(&st);

	/* seq is never reused, even with every event gone. */
	st = open_store(path, 0, sinks, 1, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_next_seq(st), 3051);
	CHECK_INT(commit_n(st, 1, 0, 1, 10), 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.oldest_seq, 3051);
	CHECK_INT(ss.events, 1);
	CHECK_INT(ss.accepted, 3051);
	store_close(&st);
	CHECK(integrity_ok(path));
}

static void test_readonly(void)
{
	const char *path = db_path("ro.db");
	struct store *w = open_store(path, 0, NULL, 0, 0, 0), *r;
	struct store_options o = { .path = db_path("missing.db"), .readonly = 1 };
	struct store_stats ss;
	struct seen seen;
	char err[256];

	if (!w)
		return;
	r = open_store(path, 1, NULL, 0, 0, 0);
	if (!r) {
		store_close(&w);
		return;
	}
	CHECK_INT(store_stats(r, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 0);
	CHECK_INT(commit_n(w, 10, 0, 1, 20), 0);
	CHECK_INT(store_stats(r, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, 10);
	CHECK_INT(ss.newest_seq, 10);
	/* A reader in the middle of a writer's group sees the last commit. */
	CHECK_INT(store_begin(w, err, sizeof(err)), 0);
	CHECK_INT(append_n(w, 5, 0, 1, 20), 0);
	CHECK_INT(store_stats(r, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.newest_seq, 10);
	CHECK_INT(store_commit(w, err, sizeof(err)), 0);
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_read(r, 1, 100, on_event, &seen, err, sizeof(err)), 15);
	CHECK_INT(seen.bad, 0);
	CHECK_INT(store_position_set(w, "kafka", 4, "e", err, sizeof(err)), 0);
	CHECK_INT(store_stats(r, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.nsinks, 1);
	CHECK_INT(ss.sinks[0].backlog, 11);
	/* Writes on a read-only handle are refused. */
	CHECK_INT(store_begin(r, err, sizeof(err)), STORE_EINVAL);
	CHECK(strstr(err, "read-only") != NULL);
	CHECK_INT(store_position_set(r, "kafka", 1, NULL, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_quarantine(r, 0, "o", "r", "x", 1, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_enforce_limits(r, 0, NULL, err, sizeof(err)), STORE_EINVAL);
	store_close(&r);
	store_close(&w);

	/* Read-only of a missing file: a clear error, and no file created. */
	r = NULL;
	CHECK_INT(store_open(&r, &o, err, sizeof(err)), STORE_EIO);
	CHECK(r == NULL);
	CHECK(strstr(err, "missing.db") != NULL);
	CHECK(strstr(err, "No such file") != NULL);
	CHECK(access(o.path, F_OK) != 0);
}

static void test_bad_files(void)
{
	const char *path = db_path("garbage.db");
	struct store_options o = { .path = path };
	struct store *st = NULL;
	char err[256], junk[4096];
	const char *sinks9[9] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };
	FILE *f;
	sqlite3 *db = NULL;

	memset(junk, 'g', sizeof(junk));
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("this is not a database\n", f);
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_ECORRUPT);
	CHECK(st == NULL);
	CHECK(strstr(err, path) != NULL);
	o.readonly = 1;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_ECORRUPT);
	CHECK(strstr(err, path) != NULL);

	/* A SQLite database that is someone else's. */
	path = db_path("other.db");
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	o.path = path;
	o.readonly = 0;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_ECORRUPT);
	CHECK(strstr(err, "not a fieldgate buffer") != NULL);
	/* A newer schema. */
	path = db_path("newer.db");
	o.path = path;
	st = open_store(path, 0, NULL, 0, 0, 0);
	store_close(&st);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_ECORRUPT);
	CHECK(strstr(err, "newer") != NULL);

	/* Bad options. */
	o.path = NULL;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_EINVAL);
	o.path = db_path("opts.db");
	o.sinks = sinks9;
	o.nsinks = 9;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_EINVAL);
	sinks9[0] = "";
	o.nsinks = 1;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_EINVAL);
	o.nsinks = 0;
	o.max_bytes = -1;
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_EINVAL);
	CHECK_INT(store_open(NULL, &o, err, sizeof(err)), STORE_EINVAL);
	/* A directory that does not exist. */
	o.max_bytes = 0;
	o.path = "/nonexistent-fieldgate-dir/x.db";
	CHECK_INT(store_open(&st, &o, err, sizeof(err)), STORE_EIO);
	CHECK(strstr(err, "/nonexistent-fieldgate-dir/x.db") != NULL);
	CHECK(st == NULL);
}

/* Child of the kill test: commit groups of 100 forever, reporting each
 * committed last seq on fd. */
static void kill_child(const char *path, int fd)
{
	struct store_options o = { .path = path };
	struct store *st = NULL;
	char err[256];

	if (store_open(&st, &o, err, sizeof(err)))
		_exit(2);
	for (;;) {
		uint64_t last;

		if (commit_n(st, 100, 0, 1, 200))
			_exit(3);
		last = store_next_seq(st) - 1;
		if (write(fd, &last, sizeof(last)) != sizeof(last))
			_exit(4);
	}
}

static void test_kill9(void)
{
	const char *path = db_path("kill.db");
	uint64_t reported = 0;
	struct store *st;
	struct store_stats ss;
	struct seen seen;
	char err[256];
	int round;

	for (round = 0; round < 5; round++) {
		int fds[2], status = 0, got = 0;
		uint64_t v;
		pid_t pid;

		CHECK_INT(pipe(fds), 0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid < 0)
			return;
		if (pid == 0) {
			close(fds[0]);
			kill_child(path, fds[1]);
		}
		close(fds[1]);
		while (got < 5 + round * 7 && read(fds[0], &v, sizeof(v)) == sizeof(v)) {
			CHECK(v > reported);
			reported = v;
			got++;
		}
		/* Kill at a random point inside the next groups. */
		usleep((useconds_t)(rand() % 5000));
		kill(pid, SIGKILL);
		while (read(fds[0], &v, sizeof(v)) == sizeof(v))
			reported = v;
		close(fds[0]);
		CHECK_INT(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		CHECK_INT(got, 5 + round * 7);
	}
	CHECK(reported >= 100 * 5);
	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.oldest_seq, 1);
	CHECK(ss.newest_seq >= reported);
	CHECK_INT(ss.newest_seq % 100, 0); /* whole groups only */
	CHECK_INT(store_next_seq(st), ss.newest_seq + 1);
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_read(st, 1, SIZE_MAX, on_event, &seen, err, sizeof(err)),
		  (long)ss.newest_seq);
	CHECK_INT(seen.bad, 0);
	CHECK_INT(seen.first, 1);
	CHECK_INT(seen.last, ss.newest_seq);
	store_close(&st);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), (long long)ss.newest_seq);
	CHECK(integrity_ok(path));
}

/* ---- store_open_recover(): a damaged buffer is moved aside ---- */

/* Overwrite page pgno (4 KiB pages) of path with garbage. */
static void smash_page(const char *path, long long pgno)
{
	char junk[4096];
	FILE *f = fopen(path, "r+b");

	CHECK(f != NULL);
	if (!f)
		return;
	memset(junk, 0xAA, sizeof(junk));
	CHECK_INT(fseek(f, (long)((pgno - 1) * 4096), SEEK_SET), 0);
	CHECK_INT(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
}

static long long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* How many names in the test directory start with prefix. */
static int count_files(const char *prefix)
{
	DIR *d = opendir(test_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open with recovery; checks the handle matches the outcome. */
static struct store *open_recover(const char *path, int flags,
				  struct store_recovery *rec, int want)
{
	struct store_options o = { .path = path };
	struct store *st = NULL;
	char err[512] = "";
	int rc = store_open_recover(&st, &o, flags, rec, err, sizeof(err));

	if (rc != want)
		fprintf(stderr, "store_open_recover(%s): %d %s\n", path, rc, err);
	CHECK_INT(rc, want);
	CHECK((st != NULL) == (want == 0));
	return st;
}

/* A recovered buffer: the damaged file kept byte for byte under moved_to,
 * a fresh one whose seq starts at the floor, kept across a reopen. */
static void check_recovered(const char *path, const struct store_recovery *rec,
			    struct store **stp, long long old_size, int64_t t0)
{
	struct store *st = *stp;
	uint64_t floor = rec->seq_floor;

	CHECK_INT(rec->recovered, 1);
	CHECK(strncmp(rec->moved_to, path, strlen(path)) == 0);
	CHECK(strstr(rec->moved_to, ".corrupt-20") != NULL);
	CHECK_INT(file_size(rec->moved_to), old_size);
	CHECK(rec->cause[0] != '\0');
	CHECK(floor >= (uint64_t)t0 * 1000);
	CHECK(floor < (uint64_t)1 << 53);
	CHECK(floor > rec->seq_from_file);
	CHECK_INT(rec->seq_floor_unsafe, 0);
	if (!st)
		return;
	CHECK_INT(store_next_seq(st), floor);
	store_close(stp);
	/* The floor is in meta before any event: a restart keeps it. */
	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_next_seq(st), floor);
	CHECK_INT(commit_n(st, 3, 0, 1, 50), 0);
	CHECK_INT(store_next_seq(st), floor + 3);
	{
		char sql[128];

		/* Salvaged events keep their seqs, below the floor. */
		snprintf(sql, sizeof(sql), "SELECT min(seq) FROM events WHERE seq >= %llu",
			 (unsigned long long)floor);
		CHECK_INT(raw_int(path, sql), (long long)floor);
	}
	store_close(&st);
	CHECK(integrity_ok(path));
	*stp = NULL;
}

static void test_recover_garbage(void)
{
	const char *path = db_path("rec-garbage.db"), *wal = db_path("rec-garbage.db-wal");
	struct store_recovery rec;
	struct store *st;
	char moved_wal[STORE_PATH_MAX + 8], junk[8192];
	int64_t t0 = now_ms();
	FILE *f;

	memset(junk, 'g', sizeof(junk));
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	f = fopen(wal, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(junk, 1, 100, f);
	fclose(f);
	st = open_recover(path, 0, &rec, 0);
	CHECK(strstr(rec.cause, "not a database") != NULL);
	CHECK_INT(rec.seq_from_file, 0);
	CHECK_INT(rec.salvaged, 0);
	CHECK(strcmp(rec.lost_ranges, "all") == 0); /* not "no event lost" */
	snprintf(moved_wal, sizeof(moved_wal), "%s-wal", rec.moved_to);
	CHECK_INT(file_size(moved_wal), 100); /* the WAL went with it */
	check_recovered(path, &rec, &st, (long long)sizeof(junk), t0);
	/* A second damaged file in the same second gets a name of its own. */
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(junk, 1, 4096, f);
	fclose(f);
	{
		struct store_recovery rec2;

		st = open_recover(path, 0, &rec2, 0);
		CHECK(strcmp(rec2.moved_to, rec.moved_to) != 0);
		CHECK_INT(file_size(rec.moved_to), (long long)sizeof(junk));
		check_recovered(path, &rec2, &st, 4096, t0);
		CHECK(rec2.seq_floor > rec.seq_floor); /* the clock moved on */
	}
	/* 2 files + the first WAL, + the -wal/-shm that the checks' read-only
	 * connections left next to the fresh buffer, moved with the second. */
	CHECK(count_files("rec-garbage.db.corrupt-") >= 3);
}

/* A closed buffer of n events of 200 bytes, no sinks. Returns 0 or -1. */
static int filled_buffer(const char *path, int n)
{
	struct store *st = open_store(path, 0, NULL, 0, 0, 0);

	if (!st)
		return -1;
	CHECK_INT(commit_n(st, n, 0, 1, 200), 0);
	store_close(&st);
	return 0;
}

/* A closed buffer of n events with kafka's position at n - 10, the root page
 * of table smashed. Returns its size before the damage, or -1. */
static long long damaged_buffer(const char *path, int n, const char *table)
{
	const char *sinks[] = { "kafka" };
	struct store *st = open_store(path, 0, sinks, 1, 0, 0);
	char err[256], sql[128];
	long long root, size;

	if (!st)
		return -1;
	CHECK_INT(commit_n(st, n, 0, 1, 100), 0);
	CHECK_INT(store_position_set(st, "kafka", (uint64_t)n - 10, "", err, sizeof(err)), 0);
	store_close(&st);
	snprintf(sql, sizeof(sql), "SELECT rootpage FROM sqlite_master WHERE name = '%s'", table);
	root = raw_int(path, sql);
	CHECK(root > 1);
	size = file_size(path);
	smash_page(path, root);
	return size;
}

/* Damage inside a real buffer: the seq it reached is carried forward. */
static void test_recover_pages(void)
{
	const char *path = db_path("rec-meta.db");
	struct store_recovery rec;
	struct store *st;
	int64_t t0 = now_ms();
	long long size;

	/* meta damaged: store_open() fails reading last_seq. */
	if ((size = damaged_buffer(path, 50, "meta")) < 0)
		return;
	st = open_recover(path, 0, &rec, 0);
	CHECK_INT(rec.seq_from_file, 50); /* max(events.seq) still reads */
	check_recovered(path, &rec, &st, size, t0);

	/* positions damaged: store_open() passes, the stats check fails. */
	path = db_path("rec-pos.db");
	if ((size = damaged_buffer(path, 20, "positions")) < 0)
		return;
	st = open_recover(path, 0, &rec, 0);
	CHECK_INT(rec.seq_from_file, 20);
	check_recovered(path, &rec, &st, size, t0);

	/* A page in the middle of events: the check at start (within its
	 * budget) reads it. */
	path = db_path("rec-mid.db");
	if (filled_buffer(path, 3000) < 0)
		return;
	size = file_size(path);
	CHECK(size > 100 * 4096);
	smash_page(path, size / 4096 / 2);
	st = open_recover(path, 0, &rec, 0);
	CHECK(strstr(rec.cause, "quick_check") != NULL);
	CHECK_INT(rec.check_partial, 0);
	CHECK_INT(rec.seq_from_file, 3000);
	CHECK_INT(rec.salvaged + rec.lost, 3000);
	check_recovered(path, &rec, &st, size, t0);

	/* A file cut short in the middle of events. */
	path = db_path("rec-cut.db");
	if (filled_buffer(path, 3000) < 0)
		return;
	size = file_size(path) / 2 / 4096 * 4096;
	CHECK_INT(truncate(path, size), 0);
	st = open_recover(path, 0, &rec, 0);
	check_recovered(path, &rec, &st, size, t0);

	/* A 0-byte file (a file system that lost it) is not a new buffer. */
	path = db_path("rec-empty.db");
	fclose(fopen(path, "w"));
	st = open_recover(path, 0, &rec, 0);
	check_recovered(path, &rec, &st, 0, t0);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	size_t n;
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	int ok = a && b;

	while (ok && (n = fread(buf, 1, sizeof(buf), a)) > 0)
		ok = fwrite(buf, 1, n, b) == n;
	if (a)
		fclose(a);
	if (b)
		fclose(b);
	return ok ? 0 : -1;
}

/* The n-th (0-based; -1: the last) leaf page of events in key order. */
static long long events_leaf(const char *path, int nth)
{
	char sql[192];

	if (nth < 0)
		return raw_int(path, "SELECT pageno FROM dbstat WHERE name = 'events' AND "
			       "pagetype = 'leaf' ORDER BY path DESC LIMIT 1");
	snprintf(sql, sizeof(sql), "SELECT pageno FROM dbstat WHERE name = 'events' AND "
		 "pagetype = 'leaf' ORDER BY path LIMIT 1 OFFSET %d", nth);
	return raw_int(path, sql);
}

/* Damage one leaf of events (at the start, middle, end): every other
 * event is salvaged byte for byte with its seq, the lost seqs are exactly
 * the ones reported, the position and counters come along, and the stats
 * count what is there despite the holes. */
static void test_salvage_leaf(const char *name, int nth)
{
	const char *sinks[] = { "kafka" };
	const char *path = db_path(name);
	char pristine[STORE_PATH_MAX + 16], err[256];
	struct store_recovery rec;
	struct store_stats ss;
	struct store *st;
	long long leaf, have, same;
	uint64_t pos = 0;

	st = open_store(path, 0, sinks, 1, 0, 0);
	if (!st)
		return;
	CHECK_INT(commit_n(st, 3000, 0, 1, 200), 0);
	CHECK_INT(store_position_set(st, "kafka", 1234, "", err, sizeof(err)), 0);
	CHECK_INT(store_begin(st, err, sizeof(err)), 0);
	CHECK_INT(store_quarantine(st, 5, "t", "bad", "x", 1, err, sizeof(err)), 0);
	CHECK_INT(store_commit(st, err, sizeof(err)), 0);
	store_close(&st);
	snprintf(pristine, sizeof(pristine), "%s.pristine", path);
	CHECK_INT(copy_file(path, pristine), 0);
	leaf = events_leaf(path, nth == 1 ? (int)(raw_int(path, "SELECT count(*) FROM dbstat "
			   "WHERE name = 'events' AND pagetype = 'leaf'") / 2) : nth);
	CHECK(leaf > 1);
	smash_page(path, leaf);
	st = open_recover(path, 0, &rec, 0);
	if (!st)
		return;
	CHECK_INT(rec.recovered, 1);
	CHECK(rec.lost > 0 && rec.lost < 100);
	CHECK_INT(rec.salvaged + rec.lost, 3000);
	CHECK_INT(rec.positions_salvaged, 1);
	CHECK(rec.lost_ranges[0] != '\0' && strchr(rec.lost_ranges, '?') == NULL);
	CHECK_INT(store_position_get(st, "kafka", &pos, err, sizeof(err)), 0);
	CHECK_INT(pos, 1234);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, rec.salvaged);
	CHECK_INT(ss.quarantined, 1);
	CHECK_INT(ss.quarantine_rows, 1);
	CHECK_INT(ss.sinks[0].backlog, raw_int(path, "SELECT count(*) FROM events WHERE seq > 1234"));
	/* New events go on above the floor; stats still agree. */
	CHECK_INT(store_next_seq(st), rec.seq_floor);
	CHECK_INT(commit_n(st, 5, 0, 1, 50), 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, rec.salvaged + 5);
	store_close(&st);
	have = raw_int(path, "SELECT count(*) FROM events WHERE seq <= 3000");
	same = raw_int2(path, pristine, "SELECT count(*) FROM events e JOIN o.events p "
			"USING (seq) WHERE e.ts = p.ts AND e.key = p.key AND e.data = p.data");
	CHECK_INT(have, (long long)rec.salvaged);
	CHECK_INT(same, (long long)rec.salvaged);
	/* The lost seqs: the single range reported, and no more. */
	{
		unsigned long long a = 0, b = 0;
		char sql[160];

		if (sscanf(rec.lost_ranges, "%llu-%llu", &a, &b) == 1)
			b = a;
		CHECK(a >= 1 && b >= a && b <= 3000);
		CHECK_INT(b - a + 1, rec.lost);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE seq BETWEEN %llu AND %llu",
			 a, b);
		CHECK_INT(raw_int(path, sql), 0);
		if (nth == 0)
			CHECK_INT(a, 1);
		if (nth < 0)
			CHECK_INT(b, 3000);
	}
	CHECK(integrity_ok(path));
	/* A reopen: nothing to recover, the floor and the holes hold. */
	st = open_recover(path, 0, &rec, 0);
	if (!st)
		return;
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(store_stats(st, &ss, err, sizeof(err)), 0);
	CHECK_INT(ss.events, (uint64_t)raw_int(path, "SELECT count(*) FROM events"));
	store_close(&st);
}

/* The time budget, and the marker a failed read leaves. */
static void test_salvage_budget(void)
{
	const char *path = db_path("rec-budget.db");
	char marker[STORE_PATH_MAX + 16];
	struct store_options o = { .path = path, .check_budget_ms = 1 };
	struct store_recovery rec;
	struct store *st = NULL;
	char err[256];

	if (filled_buffer(path, 60000) < 0)
		return;
	/* Damage three quarters in, where a 1 ms check does not reach (the
	 * edges are read by the cheap checks). */
	smash_page(path, events_leaf(path, (int)(raw_int(path, "SELECT count(*) FROM dbstat "
			  "WHERE name = 'events' AND pagetype = 'leaf'") * 3 / 4)));
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	/* Under qemu-user (tests/cross/, FIELDGATE_EMULATED=1) a new thread
	 * takes 10-30 ms to run, the check to the damage about 13 ms: the
	 * timer may come too late, and then the check finds the damage. Not
	 * a defect of the budget; the case cannot be made here. */
	if (getenv("FIELDGATE_EMULATED") && rec.recovered && !rec.check_partial) {
		fprintf(stderr, "test_salvage_budget: skipped under emulation: the 1 ms timer "
			"ran after the check had reached the damage\n");
		store_close(&st);
		return;
	}
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(rec.check_partial, 1);
	/* A read fails there: the marker makes the next start check it all. */
	CHECK_INT(store_mark_damaged(st), 0);
	store_close(&st);
	snprintf(marker, sizeof(marker), "%s.check", path);
	CHECK_INT(access(marker, F_OK), 0);
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 1);
	CHECK_INT(rec.check_partial, 0);
	CHECK_INT(rec.salvaged + rec.lost, 60000);
	CHECK(access(marker, F_OK) != 0); /* gone with the damaged file */
	store_close(&st);
	/* On a sound file the marker is removed after the whole check. */
	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(store_mark_damaged(st), 0);
	store_close(&st);
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 0);
	CHECK(access(marker, F_OK) != 0);
	store_close(&st);
}

/* Damaged pages closer together than a gallop step (four leaves, one sound
 * leaf, one more damaged): the rows of the sound leaf between them are
 * salvaged too, and the lost seqs are exactly those of the five leaves. */
static void test_salvage_close_damage(void)
{
	static const int bad[] = { 10, 11, 12, 13, 15 };
	const char *path = db_path("rec-close.db");
	struct store_recovery rec;
	struct store *st;
	long long pages[5], on_bad = 0, total;
	char sql[256];

	if (filled_buffer(path, 20000) < 0)
		return;
	total = raw_int(path, "SELECT count(*) FROM events");
	for (int i = 0; i < 5; i++) {
		pages[i] = events_leaf(path, bad[i]);
		snprintf(sql, sizeof(sql), "SELECT ncell FROM dbstat WHERE pageno = %lld", pages[i]);
		on_bad += raw_int(path, sql);
	}
	CHECK(on_bad > 0);
	for (int i = 0; i < 5; i++)
		smash_page(path, pages[i]);
	st = open_recover(path, STORE_RECOVER_FULL_CHECK, &rec, 0);
	CHECK_INT(rec.recovered, 1);
	CHECK_INT(rec.lost, (uint64_t)on_bad);
	CHECK_INT(rec.salvaged, (uint64_t)(total - on_bad));
	/* Two runs: leaves 10-13, and 15. */
	CHECK(strchr(rec.lost_ranges, ',') != NULL);
	store_close(&st);
}

/* A salvage killed half way (here: the process kill -9s itself at the first
 * progress report, 10,000 events in; SIGKILL, as a power cut, leaves no
 * exit path to run, and nothing for ASan or valgrind to report): the next
 * start resumes it, and every readable event ends up in the fresh buffer
 * once, byte for byte. */
static void resume__die(void *ctx, uint64_t events)
{
	(void)ctx;
	(void)events;
	raise(SIGKILL);
}

static void test_salvage_resume(void)
{
	const char *path = db_path("rec-resume.db");
	struct store_options o = { .path = path, .salvage_progress = resume__die };
	struct store_recovery rec;
	struct store *st = NULL;
	char err[256], pristine[STORE_PATH_MAX + 16], moved[STORE_PATH_MAX + 16];
	int status = -1;
	pid_t pid;

	if (filled_buffer(path, 30000) < 0)
		return;
	snprintf(pristine, sizeof(pristine), "%s.pristine", path);
	CHECK_INT(copy_file(path, pristine), 0);
	smash_page(path, events_leaf(path, 3)); /* near the start: most is still to copy */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		store_open_recover(&st, &o, STORE_RECOVER_FULL_CHECK, &rec, err, sizeof(err));
		_exit(3); /* the salvage ended before its first progress report */
	}
	CHECK(pid > 0);
	if (pid <= 0)
		return;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Cut short: the fresh buffer holds one group, and says a salvage is due. */
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 10000);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM meta WHERE k LIKE 'salvage:%'"), 1);
	/* The next start resumes it. */
	o.salvage_progress = NULL;
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 1);
	CHECK_INT(rec.resumed, 1);
	CHECK(strstr(rec.moved_to, ".corrupt-20") != NULL);
	CHECK(strstr(rec.cause, "cut short") != NULL);
	CHECK(rec.lost > 0 && rec.lost < 200);
	CHECK_INT(rec.salvaged + rec.lost, 30000);
	CHECK(rec.seq_floor > 30000);
	CHECK_INT(store_next_seq(st), rec.seq_floor);
	snprintf(moved, sizeof(moved), "%s", rec.moved_to);
	store_close(&st);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM meta WHERE k LIKE 'salvage:%'"), 0);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), (long long)rec.salvaged);
	CHECK_INT(raw_int2(path, pristine, "SELECT count(*) FROM events e JOIN o.events p "
			   "USING (seq) WHERE e.ts = p.ts AND e.key = p.key AND e.data = p.data"),
		  (long long)rec.salvaged);
	CHECK(integrity_ok(path));
	/* Once: the start after that finds nothing to do. */
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(rec.resumed, 0);
	store_close(&st);
	/* A pending salvage whose file was removed is dropped, nothing else. */
	{
		sqlite3 *db = NULL;
		char sql[STORE_PATH_MAX + 128];

		snprintf(sql, sizeof(sql), "INSERT INTO meta(k, v) VALUES ('salvage:%s.gone', 5)", path);
		CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 0);
	store_close(&st);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM meta WHERE k LIKE 'salvage:%'"), 0);
	CHECK(access(moved, F_OK) == 0); /* the damaged file is kept */
}

/* The check in the background: store_check() on a handle of its own finds
 * what a skipped check at start left; store_interrupt() ends it as a pass. */
struct check__stopper {
	struct store *st;
	_Atomic int go;
};

static void *check__interrupt(void *p)
{
	struct check__stopper *c = p;
	struct timespec ts = { 0, 1000000L };

	/* A no-op until the check runs: repeat it (as bufcheck_stop() does). */
	while (atomic_load(&c->go)) {
		store_interrupt(c->st);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void test_check_background(void)
{
	const char *path = db_path("rec-bg.db");
	struct store_options o = { .path = path, .check_budget_ms = -1 };
	struct store_options ro = { .path = path, .readonly = 1 };
	struct store_recovery rec;
	struct store *st = NULL, *r = NULL;
	struct check__stopper c;
	pthread_t th;
	char err[256], cause[512] = "";

	if (filled_buffer(path, 60000) < 0)
		return;
	/* Sound: passes; interrupted: passes (0) at once. */
	CHECK_INT(store_open(&r, &ro, err, sizeof(err)), 0);
	CHECK_INT(store_check(r, cause, sizeof(cause)), 0);
	c.st = r;
	atomic_store(&c.go, 1);
	CHECK_INT(pthread_create(&th, NULL, check__interrupt, &c), 0);
	CHECK_INT(store_check(r, cause, sizeof(cause)), 0);
	atomic_store(&c.go, 0);
	pthread_join(th, NULL);
	store_interrupt(NULL);
	CHECK_INT(store_check(NULL, cause, sizeof(cause)), STORE_EINVAL);
	store_close(&r);
	/* A damaged page in the middle: a start with the check skipped does
	 * not see it (check_partial says so); store_check() does. */
	smash_page(path, events_leaf(path, (int)(raw_int(path, "SELECT count(*) FROM dbstat "
			  "WHERE name = 'events' AND pagetype = 'leaf'") / 2)));
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(rec.check_partial, 1);
	CHECK_INT(store_open(&r, &ro, err, sizeof(err)), 0);
	CHECK_INT(store_check(r, cause, sizeof(cause)), 1);
	CHECK(strstr(cause, "quick_check") != NULL);
	CHECK(strchr(cause, '\n') == NULL);
	CHECK_INT(store_mark_damaged(r), 0);
	store_close(&r);
	store_close(&st);
	/* The marker: the next start checks it all and salvages. */
	CHECK_INT(store_open_recover(&st, &o, 0, &rec, err, sizeof(err)), 0);
	CHECK_INT(rec.recovered, 1);
	CHECK_INT(rec.salvaged + rec.lost, 60000);
	store_close(&st);
}

/* Good buffers stay, and files that are not ours are refused untouched. */
static void test_recover_refuses(void)
{
	const char *path = db_path("rec-good.db");
	struct store_options o = { .path = path, .readonly = 1 };
	struct store_recovery rec;
	struct store *st;
	sqlite3 *db = NULL;
	char err[256];

	st = open_store(path, 0, NULL, 0, 0, 0);
	if (!st)
		return;
	CHECK_INT(commit_n(st, 10, 0, 1, 100), 0);
	store_close(&st);
	st = open_recover(path, 0, &rec, 0);
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(rec.moved_to[0], 0);
	CHECK_INT(store_next_seq(st), 11);
	store_close(&st);
	st = open_recover(path, STORE_RECOVER_FULL_CHECK, &rec, 0);
	CHECK_INT(rec.recovered, 0);
	store_close(&st);
	/* Read-only: plain store_open(); NULL rec is fine. */
	CHECK_INT(store_open_recover(&st, &o, 0, NULL, err, sizeof(err)), 0);
	store_close(&st);
	/* A missing file is created as usual, from seq 1. */
	st = open_recover(db_path("rec-new.db"), 0, &rec, 0);
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(store_next_seq(st), 1);
	store_close(&st);

	/* Another application's database. */
	path = db_path("rec-other.db");
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
			       NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_recover(path, 0, &rec, STORE_ECORRUPT);
	CHECK_INT(rec.recovered, 0);
	CHECK_INT(raw_int(path, "SELECT x FROM t"), 1);
	CHECK_INT(count_files("rec-other.db.corrupt"), 0);
	/* A newer fieldgate's buffer. */
	path = db_path("rec-newer.db");
	st = open_store(path, 0, NULL, 0, 0, 0);
	store_close(&st);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_recover(path, 0, &rec, STORE_ECORRUPT);
	CHECK_INT(count_files("rec-newer.db.corrupt"), 0);
	CHECK_INT(raw_int(path, "PRAGMA user_version"), 99);
}

/*
 * One thread commits single events flat out (as MQTT QoS 1 does) while
 * another calls store_checkpoint() every 20 ms: the WAL must start over
 * now and then, not grow with everything ever written.
 */
struct wal_writer {
	struct store *st;
	int commits;
	_Atomic int done;
	int failed;
};

static void *wal_writer_main(void *arg)
{
	struct wal_writer *w = arg;

	for (int i = 0; i < w->commits && !w->failed; i++)
		if (commit_n(w->st, 1, 1000, 1, 900) < 0)
			w->failed = 1;
	atomic_store(&w->done, 1);
	return NULL;
}

static void test_wal_restart(void)
{
	const char *path = db_path("wal.db");
	char wal[600], err[256];
	struct store_options wo = { .path = path, .manual_checkpoint = 1 };
	struct store_options co = { .path = path };
	struct store *ck = NULL;
	struct wal_writer w = { .commits = 24000 };
	struct timespec tick = { 0, 20 * 1000000L };
	pthread_t t;
	long long size, max_size = 0;
	int fails = 0;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK_INT(store_open(&w.st, &wo, err, sizeof(err)), 0);
	co.checkpoints_for = w.st;
	CHECK_INT(store_open(&ck, &co, err, sizeof(err)), 0);
	if (!w.st || !ck)
		return;
	CHECK_INT(pthread_create(&t, NULL, wal_writer_main, &w), 0);
	while (!atomic_load(&w.done)) {
		nanosleep(&tick, NULL);
		if (store_checkpoint(ck, NULL, err, sizeof(err)) < 0)
			fails++;
		size = file_size(wal);
		if (size > max_size)
			max_size = size;
	}
	pthread_join(t, NULL);
	CHECK_INT(w.failed, 0);
	CHECK_INT(fails, 0);
	/* ~2.7 frames of 4 KiB a commit: 24,000 commits write ~260 MiB of
	 * frames, all of it in the WAL without restarts. With them it peaked
	 * at 19-34 MiB: idle machine, both cores also busy, under valgrind;
	 * and at 93-103 MiB with four other builds and benchmarks on the two
	 * cores (the checkpointer then waits on the writer's lock). Half of
	 * the no-restart figure still tells the two apart. */
	if (getenv("WALDEBUG") || max_size >= 128LL << 20)
		fprintf(stderr, "WAL grew to %lld bytes\n", max_size);
	CHECK(max_size > 0 && max_size < 128LL << 20);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 24000);
	store_close(&ck);
	store_close(&w.st);
	CHECK(integrity_ok(path));
}

/*
 * A reader that holds one snapshot keeps every frame in the WAL, so the
 * file grows past STORE__WAL_KEEP_BYTES. Once the reader is gone, the next
 * checkpoint restarts the WAL and the first commit after it cuts the file
 * back (journal_size_limit).
 */
static void test_wal_trim(void)
{
	const char *path = db_path("trim.db");
	char wal[600], err[256];
	struct store_options wo = { .path = path, .manual_checkpoint = 1 };
	struct store_options co = { .path = path };
	struct store *st = NULL, *ck = NULL;
	sqlite3 *reader = NULL;
	long long big, after;
	long frames;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK_INT(store_open(&st, &wo, err, sizeof(err)), 0);
	co.checkpoints_for = st;
	CHECK_INT(store_open(&ck, &co, err, sizeof(err)), 0);
	CHECK_INT(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (!st || !ck || !reader)
		return;
	CHECK_INT(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM events;", NULL, NULL, NULL),
		  SQLITE_OK);
	/* store_wal_frames(): the writer's count, read through either handle,
	 * and growing with each commit while the reader pins the WAL. */
	CHECK_INT(commit_n(st, 1, 1000, 1, 900), 0);
	frames = store_wal_frames(ck);
	CHECK(frames > 0 && frames == store_wal_frames(st));
	CHECK_INT(commit_n(st, 1, 1000, 1, 900), 0);
	CHECK(store_wal_frames(ck) > frames);
	for (int i = 0; i < 8000; i++)
		if (commit_n(st, 1, 1000, 1, 900) < 0 ||
		    (i % 500 == 0 && store_checkpoint(ck, NULL, err, sizeof(err)) < 0)) {
			CHECK(0);
			break;
		}
	big = file_size(wal);
	CHECK(big > STORE__WAL_KEEP_BYTES);
	CHECK_INT(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	CHECK_INT(store_checkpoint(ck, NULL, err, sizeof(err)), 0);
	CHECK_INT(commit_n(st, 1, 1000, 1, 900), 0);
	after = file_size(wal);
	/* The WAL started over: the count fell with it. */
	CHECK(store_wal_frames(ck) > 0 && store_wal_frames(ck) < 100);
	if (after > STORE__WAL_KEEP_BYTES)
		fprintf(stderr, "WAL %lld bytes after the restart (was %lld)\n", after, big);
	CHECK(after > 0 && after <= STORE__WAL_KEEP_BYTES);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 8003);
	store_close(&ck);
	store_close(&st);
}

int main(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(test_dir)) {
		perror("mkdtemp");
		return 1;
	}
	srand((unsigned)time(NULL));
	test_basic();
	test_dedup_rollback();
	test_disk_full();
	test_quarantine_dead_letters();
	test_positions();
	test_retention();
	test_retention_prefix();
	test_size_cap();
	test_size_cap_file();
	test_readonly();
	test_bad_files();
	test_kill9();
	test_recover_garbage();
	test_recover_pages();
	test_recover_refuses();
	test_salvage_leaf("salv-start.db", 0);
	test_salvage_leaf("salv-mid.db", 1);
	test_salvage_leaf("salv-end.db", -1);
	test_salvage_budget();
	test_check_background();
	test_salvage_resume();
	test_salvage_close_damage();
	test_wal_restart();
	test_wal_trim();
	rm_dir(test_dir);
	return check_done("test_store");
}
