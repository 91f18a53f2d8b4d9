/*
 * store.c - the durable buffer: opening (and creating) the SQLite database,
 * group commits, appends, quarantine, dead letters, sink positions and reads.
 * Retention, the size cap and statistics live in store_limits.c.
 *
 * The database is in WAL mode, so one writer and any number of readers (other
 * threads, other processes) work at once; busy_timeout lets a second writing
 * handle (a sink thread moving its position) wait for the writer's group.
 * Schema (PRAGMA application_id 'FGBF', user_version 1):
 *
 *   events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,
 *          key BLOB NOT NULL UNIQUE, data BLOB NOT NULL)
 *       the log; seq is the rowid, so order and min/max are B-tree lookups;
 *       the UNIQUE key gives dedup with no extra SELECT.
 *   quarantine(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, origin TEXT NOT
 *          NULL, reason TEXT NOT NULL, raw BLOB NOT NULL)
 *   dead_letter(id INTEGER PRIMARY KEY, sink TEXT NOT NULL, seq INTEGER NOT
 *          NULL, ts INTEGER (the event's, NULL if it was already dropped),
 *          created_ms INTEGER NOT NULL, reason TEXT NOT NULL, data BLOB)
 *   positions(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, last_error TEXT
 *          NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID
 *   meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID: last_seq,
 *          quarantined_total, drop_expired, drop_delivered,
 *          drop_undelivered, drop_quarantine.
 *
 * Invariant: the seqs present in events are contiguous, oldest..newest,
 * except for the holes a salvage leaves (store_salvage.c): the seqs that
 * could not be read in a damaged buffer and the jump to the fresh buffer's
 * floor, each kept in meta as 'hole:FROM' = TO, which stats subtract.
 * Appends take last seq + 1, a duplicate consumes no seq, a rolled back group
 * gives its seqs back, and rows are only ever deleted from the oldest end
 * (store_limits.c deletes prefixes), so the number of events is
 * newest - oldest + 1 without a count(*). The same holds for the ids of
 * quarantine (deleted oldest first) and dead_letter (never deleted).
 * meta.last_seq is written by store_enforce_limits() before it deletes
 * anything (the only place rows are deleted), so seq is never reused even
 * after every event was dropped; between two deletions max(events.seq) is
 * the truth and a commit writes no meta page.
 *
 * Pages are 4 KiB. 16 KiB pages cut the CPU per appended event in big
 * groups (about 245,000 against 205,000 events/s end to end), but a commit
 * of one event rewrites each touched page: 49 us per single-event commit
 * against 27 us with 4 KiB, and MQTT QoS >= 1 commits every message
 * (target 20,000/s). Smaller pages also write less to flash per commit.
 * Checkpoints run every STORE__WAL_PAGES pages (store_int.h), or, with
 * manual_checkpoint, wherever the owner calls store_checkpoint().
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store_int.h"

static const char *const store__sql[STORE__NSTMT] = {
	[STORE__BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[STORE__BEGIN_READ] = "BEGIN",
	[STORE__COMMIT] = "COMMIT",
	[STORE__ROLLBACK] = "ROLLBACK",
	[STORE__INSERT_EVENT] = "INSERT INTO events(seq, ts, key, data) "
		"VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO NOTHING",
	[STORE__META_GET] = "SELECT v FROM meta WHERE k = ?1",
	[STORE__META_ALL] = "SELECT k, v FROM meta",
	[STORE__HOLES] = "SELECT CAST(substr(k, 6) AS INTEGER), v FROM meta "
		"WHERE k > 'hole:' AND k < 'hole;'",
	[STORE__META_ADD] = "UPDATE meta SET v = v + ?2 WHERE k = ?1",
	[STORE__META_MAX] = "UPDATE meta SET v = max(v, ?2) WHERE k = ?1",
	[STORE__MAX_SEQ] = "SELECT max(seq) FROM events",
	[STORE__INSERT_QUAR] = "INSERT INTO quarantine(ts, origin, reason, raw) "
		"VALUES(?1, ?2, ?3, ?4)",
	[STORE__INSERT_DEAD] = "INSERT INTO dead_letter(sink, seq, ts, "
		"created_ms, reason, data) SELECT ?1, ?2, e.ts, ?4, ?3, e.data "
		"FROM (SELECT 1) LEFT JOIN events AS e ON e.seq = ?2",
	[STORE__POS_GET] = "SELECT seq FROM positions WHERE sink = ?1",
	[STORE__POS_SET] = "INSERT INTO positions(sink, seq, last_error, "
		"updated_ms) VALUES(?1, ?2, coalesce(?3, ''), ?4) "
		"ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq, "
		"last_error = coalesce(?3, last_error), "
		"updated_ms = excluded.updated_ms",
	[STORE__POS_ALL] = "SELECT sink, seq, last_error FROM positions "
		"ORDER BY sink",
	[STORE__READ] = "SELECT seq, ts, data FROM events WHERE seq >= ?1 "
		"ORDER BY seq LIMIT ?2",
	[STORE__RANGE] = "SELECT min(seq), max(seq), count(*) FROM events "
		"WHERE ts >= ?1 AND ts <= ?2",
	[STORE__OLDEST] = "SELECT seq, ts FROM events ORDER BY seq ASC LIMIT 1",
	[STORE__NEWEST] = "SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1",
	[STORE__TS_FROM] = "SELECT ts FROM events WHERE seq >= ?1 "
		"ORDER BY seq LIMIT 1",
	/* Both tables lose rows only from the oldest end (or never), so
	 * their ids are contiguous too: two B-tree lookups, not a scan. */
	[STORE__COUNT_QUAR] = "SELECT coalesce((SELECT max(id) FROM quarantine)"
		" - (SELECT min(id) FROM quarantine) + 1, 0)",
	[STORE__COUNT_DEAD] = "SELECT coalesce((SELECT max(id) FROM dead_letter)"
		" - (SELECT min(id) FROM dead_letter) + 1, 0)",
	[STORE__PAGE_COUNT] = "PRAGMA page_count",
	[STORE__FREELIST] = "PRAGMA freelist_count",
	[STORE__SCAN_EVENTS] = "SELECT seq, ts FROM events WHERE seq <= ?1 "
		"ORDER BY seq LIMIT ?2",
	[STORE__DEL_EVENTS] = "DELETE FROM events WHERE seq <= ?1",
	[STORE__SCAN_QUAR] = "SELECT id, ts FROM quarantine WHERE id <= ?1 "
		"ORDER BY id LIMIT ?2",
	[STORE__DEL_QUAR] = "DELETE FROM quarantine WHERE id <= ?1",
};

static const char store__schema_sql[] =
	"CREATE TABLE events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
	"key BLOB NOT NULL UNIQUE, data BLOB NOT NULL);"
	"CREATE TABLE quarantine(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
	"origin TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL);"
	"CREATE TABLE dead_letter(id INTEGER PRIMARY KEY, sink TEXT NOT NULL, "
	"seq INTEGER NOT NULL, ts INTEGER, created_ms INTEGER NOT NULL, "
	"reason TEXT NOT NULL, data BLOB);"
	"CREATE TABLE positions(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
	"last_error TEXT NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;";

/* Created at open if missing, so a later schema can add counters. */
static const char store__meta_sql[] =
	"INSERT OR IGNORE INTO meta(k, v) VALUES ('last_seq', 0), "
	"('quarantined_total', 0), ('drop_expired', 0), ('drop_delivered', 0), "
	"('drop_undelivered', 0), ('drop_quarantine', 0);";

void store__seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int store__error(struct store *st, int rc, const char *what,
		 char *err, size_t errlen)
{
	const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
	int sys = st->db ? sqlite3_system_errno(st->db) : 0;

	/* Creating the -wal or -shm file on a full disk is an I/O error to
	 * SQLite; the operator needs to hear "disk full". */
	if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT))
		rc = SQLITE_FULL;
	switch (rc & 0xff) {
	case SQLITE_FULL:
		store__seterr(err, errlen, "disk full writing %s: %s: %s",
			      st->path, what, msg);
		return STORE_EFULL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		store__seterr(err, errlen, "%s: not a valid buffer database "
			      "(%s: %s)", st->path, what, msg);
		return STORE_ECORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		store__seterr(err, errlen, "%s: %s: locked by another writer "
			      "for more than %d ms (%s)", st->path, what,
			      STORE__BUSY_MS, msg);
		return STORE_EBUSY;
	default:
		store__seterr(err, errlen, "%s: %s: %s", st->path, what, msg);
		return STORE_EIO;
	}
}

sqlite3_stmt *store__stmt(struct store *st, enum store__sid id, int *code,
			  char *err, size_t errlen)
{
	int rc;

	assert(id < STORE__NSTMT && store__sql[id]);
	if (st->stmt[id])
		return st->stmt[id];
	rc = sqlite3_prepare_v3(st->db, store__sql[id], -1,
				SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL);
	if (rc != SQLITE_OK) {
		*code = store__error(st, rc, "preparing a statement", err, errlen);
		sqlite3_finalize(st->stmt[id]);
		st->stmt[id] = NULL;
		return NULL;
	}
	return st->stmt[id];
}

int store__run(struct store *st, enum store__sid id, const char *what,
	       char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s = store__stmt(st, id, &code, err, errlen);

	if (!s)
		return code;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store__error(st, rc, what, err, errlen);
	return 0;
}

int store__meta_add(struct store *st, const char *key, int64_t delta,
		    char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;

	if (delta == 0)
		return 0;
	s = store__stmt(st, STORE__META_ADD, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, delta);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "updating counters", err, errlen);
	return 0;
}

int64_t store__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run SQL text (setup only, never on the hot path). */
static int store__exec(struct store *st, const char *sql, const char *what,
		       char *err, size_t errlen)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store__error(st, rc, what, err, errlen);
	return 0;
}

/* Run a one-row, one-integer query (a PRAGMA) into *v (0 without a row). */
static int store__int_query(struct store *st, const char *sql, int64_t *v,
			    char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*v = 0;
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int64(s, 0);
			rc = SQLITE_DONE;
		}
	}
	if (rc != SQLITE_DONE) {
		int code = store__error(st, rc, sql, err, errlen);

		sqlite3_finalize(s);
		return code;
	}
	sqlite3_finalize(s);
	return 0;
}

/* Check the schema, creating it in an empty writable database. */
static int store__schema(struct store *st, char *err, size_t errlen)
{
	int64_t version, appid, ntables;
	int code, own = 0;
	char sql[96];

	if (!st->readonly) {
		code = store__run(st, STORE__BEGIN_WRITE, "starting setup",
				  err, errlen);
		if (code)
			return code;
		own = 1;
	}
	code = store__int_query(st, "PRAGMA user_version", &version, err, errlen);
	if (code)
		goto fail;
	code = store__int_query(st, "PRAGMA application_id", &appid, err, errlen);
	if (code)
		goto fail;
	if (version == 0) {
		code = store__int_query(st, "SELECT count(*) FROM sqlite_master",
					&ntables, err, errlen);
		if (code)
			goto fail;
		code = STORE_ECORRUPT;
		if (ntables > 0) {
			store__seterr(err, errlen, "%s: not a fieldgate buffer "
				      "(a SQLite database with other tables)",
				      st->path);
			goto fail;
		}
		if (st->readonly) {
			store__seterr(err, errlen, "%s: not a fieldgate buffer "
				      "(empty database)", st->path);
			goto fail;
		}
		code = store__exec(st, store__schema_sql, "creating the schema",
				   err, errlen);
		if (code)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; "
			 "PRAGMA user_version = %d;", STORE__APPLICATION_ID,
			 STORE__SCHEMA_VERSION);
		code = store__exec(st, sql, "creating the schema", err, errlen);
		if (code)
			goto fail;
	} else if (appid != STORE__APPLICATION_ID) {
		store__seterr(err, errlen, "%s: not a fieldgate buffer "
			      "(application_id %#llx)", st->path,
			      (unsigned long long)appid);
		code = STORE_ECORRUPT;
		goto fail;
	} else if (version > STORE__SCHEMA_VERSION) {
		store__seterr(err, errlen, "%s: buffer schema version %lld is "
			      "newer than this fieldgate understands (%d)",
			      st->path, (long long)version, STORE__SCHEMA_VERSION);
		code = STORE_ECORRUPT;
		goto fail;
	}
	if (own) {
		code = store__exec(st, store__meta_sql, "creating counters",
				   err, errlen);
		if (code)
			goto fail;
		code = store__run(st, STORE__COMMIT, "committing setup", err, errlen);
		if (code)
			goto fail;
	}
	return 0;
fail:
	if (own && !sqlite3_get_autocommit(st->db))
		store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
	return code;
}

/* next_seq = max(meta last_seq, max(events.seq)) + 1. */
static int store__load_seq(struct store *st, char *err, size_t errlen)
{
	int64_t last = 0, maxseq = 0;
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;

	s = store__stmt(st, STORE__META_GET, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_text(s, 1, "last_seq", -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__error(st, rc, "reading last_seq", err, errlen);
	s = store__stmt(st, STORE__MAX_SEQ, &code, err, errlen);
	if (!s)
		return code;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		maxseq = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__error(st, rc, "reading the newest seq", err, errlen);
	if (last < 0 || maxseq < 0) {
		store__seterr(err, errlen, "%s: not a valid buffer (negative seq)",
			      st->path);
		return STORE_ECORRUPT;
	}
	st->next_seq = (uint64_t)(last > maxseq ? last : maxseq) + 1;
	return 0;
}

static int store__check_options(const struct store_options *opt,
				char *err, size_t errlen)
{
	size_t i;

	if (!opt->path || !*opt->path) {
		store__seterr(err, errlen, "buffer: no path given");
		return STORE_EINVAL;
	}
	if (opt->max_bytes < 0 || opt->retention_ms < 0) {
		store__seterr(err, errlen, "%s: negative size cap or retention",
			      opt->path);
		return STORE_EINVAL;
	}
	if (opt->nsinks > STORE_SINK_MAX || (opt->nsinks && !opt->sinks)) {
		store__seterr(err, errlen, "%s: at most %d sinks", opt->path,
			      STORE_SINK_MAX);
		return STORE_EINVAL;
	}
	for (i = 0; i < opt->nsinks; i++) {
		const char *n = opt->sinks[i];

		if (!n || !*n || strlen(n) >= STORE_SINK_NAME_MAX) {
			store__seterr(err, errlen, "%s: bad sink name (1 to %d "
				      "bytes)", opt->path, STORE_SINK_NAME_MAX - 1);
			return STORE_EINVAL;
		}
	}
	return 0;
}

/* sqlite3_wal_hook(): called after each commit with the WAL's frames. */
static int store__wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *st = arg;

	(void)db;
	(void)name;
	atomic_store(&st->wal_frames, frames);
	return SQLITE_OK;
}

int store_open(struct store **out, const struct store_options *opt,
	       char *err, size_t errlen)
{
	struct store *st = NULL;
	char pragma[64];
	const char *mode;
	int code, rc, flags;
	size_t i;

	if (!out || !opt) {
		store__seterr(err, errlen, "buffer: no options");
		return STORE_EINVAL;
	}
	*out = NULL;
	code = store__check_options(opt, err, errlen);
	if (code)
		return code;
	code = STORE_EIO;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(opt->path))) {
		store__seterr(err, errlen, "%s: out of memory", opt->path);
		goto fail;
	}
	st->readonly = opt->readonly != 0;
	st->max_bytes = opt->max_bytes;
	st->peer = opt->checkpoints_for;
	st->retention_ms = opt->retention_ms;
	st->nsinks = opt->nsinks;
	for (i = 0; i < opt->nsinks; i++)
		snprintf(st->sinks[i], sizeof(st->sinks[i]), "%s", opt->sinks[i]);

	if (st->readonly) {
		struct stat sb;

		/* SQLite would say only "unable to open database file". */
		if (stat(st->path, &sb) != 0) {
			store__seterr(err, errlen, "%s: cannot open the buffer "
				      "read-only: %s", st->path, strerror(errno));
			goto fail;
		}
		flags = SQLITE_OPEN_READONLY;
	} else {
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	}
	/* One thread at a time per handle: the per-call mutex is not needed. */
	flags |= SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
	if (rc != SQLITE_OK) {
		code = store__error(st, rc, "opening", err, errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE__BUSY_MS);

	if (!st->readonly) {
		/* page_size only matters before the file has pages; WAL mode
		 * persists in the file. A file that is not a database fails
		 * here with SQLITE_NOTADB. */
		snprintf(pragma, sizeof(pragma), "PRAGMA page_size = %d",
			 STORE__PAGE_SIZE);
		code = store__exec(st, pragma, "reading", err, errlen);
		if (code)
			goto fail;
		snprintf(pragma, sizeof(pragma), "PRAGMA wal_autocheckpoint = %d",
			 opt->manual_checkpoint ? 0 : STORE__WAL_PAGES);
		code = store__exec(st, pragma, "setting wal_autocheckpoint",
				   err, errlen);
		if (code)
			goto fail;
		/* In place of the automatic checkpoint's hook (the pragma
		 * removed it): it only counts, the owner checkpoints. */
		if (opt->manual_checkpoint)
			sqlite3_wal_hook(st->db, store__wal_hook, st);
		code = store__exec(st, "PRAGMA journal_mode = WAL",
				   "switching to WAL", err, errlen);
		if (code)
			goto fail;
		/* The first commit after the WAL restarts trims a file that a
		 * burst grew past this (store_checkpoint() says why it grows). */
		snprintf(pragma, sizeof(pragma), "PRAGMA journal_size_limit = %lld",
			 (long long)STORE__WAL_KEEP_BYTES);
		code = store__exec(st, pragma, "setting journal_size_limit", err, errlen);
		if (code)
			goto fail;
		mode = opt->sync_full ? "PRAGMA synchronous = FULL"
				      : "PRAGMA synchronous = NORMAL";
		code = store__exec(st, mode, "setting synchronous", err, errlen);
		if (code)
			goto fail;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d",
		 st->readonly ? STORE__RO_CACHE_KIB : STORE__CACHE_KIB);
	code = store__exec(st, pragma, "setting cache_size", err, errlen);
	if (code)
		goto fail;
	code = store__schema(st, err, errlen);
	if (code)
		goto fail;
	if (!st->readonly) {
		char buf[16] = "";
		sqlite3_stmt *s = NULL;

		/* Check that WAL took (it cannot on some file systems). */
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &s, NULL);
		if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
			snprintf(buf, sizeof(buf), "%s",
				 (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
		if (strcmp(buf, "wal") != 0) {
			store__seterr(err, errlen, "%s: cannot use WAL mode "
				      "(journal_mode is '%s')", st->path, buf);
			code = STORE_EIO;
			goto fail;
		}
	}
	code = store__int_query(st, "PRAGMA page_size", &st->page_size, err, errlen);
	if (code)
		goto fail;
	code = store__load_seq(st, err, errlen);
	if (code)
		goto fail;
	*out = st;
	return 0;
fail:
	store_close(&st);
	return code;
}

void store_close(struct store **stp)
{
	struct store *st;
	size_t i;

	if (!stp || !*stp)
		return;
	st = *stp;
	if (st->in_tx)
		store_rollback(st);
	for (i = 0; i < STORE__NSTMT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
	*stp = NULL;
}

/* Refuse writes on read-only handles, with a message. */
static int store__writable(const struct store *st, char *err, size_t errlen)
{
	if (!st) {
		store__seterr(err, errlen, "buffer: no handle");
		return STORE_EINVAL;
	}
	if (st->readonly) {
		store__seterr(err, errlen, "%s: the handle is read-only", st->path);
		return STORE_EINVAL;
	}
	return 0;
}

/* Inside a group, SQLite may already have rolled the transaction back after
 * an I/O error or a full disk; writing on would then autocommit each row. */
static int store__group_alive(struct store *st, char *err, size_t errlen)
{
	if (st->in_tx && sqlite3_get_autocommit(st->db)) {
		store__seterr(err, errlen, "%s: the group was rolled back after "
			      "an earlier error", st->path);
		return STORE_EIO;
	}
	return 0;
}

static int64_t store__mono_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* The deadline for a WAL restart's waits (store__mono_ns() time). */
static int64_t store__restart_deadline(void)
{
	return store__mono_ns() + (int64_t)STORE__RESTART_WAIT_MS * 1000000;
}

/* Before the deadline: pause 20 us and return 1 (try again); after it, 0.
 * Both sides of a WAL restart poll this finely: the moment between two
 * groups lasts microseconds. */
static int store__pause_until(int64_t deadline)
{
	struct timespec pause = { 0, 20000 };

	if (store__mono_ns() >= deadline)
		return 0;
	nanosleep(&pause, NULL);
	return 1;
}

/*
 * The checkpointing handle wants the write lock for a WAL restart: wait
 * (outside any transaction) until it is done, at most as long as it would
 * wait itself. Without this, a writer that commits flat out, or one that
 * shares the CPU with the checkpointer (one core, valgrind), nearly always
 * holds the lock when the checkpointer looks.
 */
static void store__step_aside(struct store *st)
{
	int64_t deadline = store__restart_deadline();

	while (atomic_load(&st->restart_wanted) && store__pause_until(deadline))
		;
}

int store_begin(struct store *st, char *err, size_t errlen)
{
	int code = store__writable(st, err, errlen);

	if (code)
		return code;
	if (st->in_tx) {
		store__seterr(err, errlen, "%s: a group is already open", st->path);
		return STORE_EINVAL;
	}
	if (atomic_load(&st->restart_wanted))
		store__step_aside(st);
	code = store__run(st, STORE__BEGIN_WRITE, "starting a group", err, errlen);
	if (code)
		return code;
	st->in_tx = 1;
	st->begin_seq = st->next_seq;
	return 0;
}

int store_commit(struct store *st, char *err, size_t errlen)
{
	int code = STORE_EIO;

	if (!st || !st->in_tx) {
		store__seterr(err, errlen, "%s: no group to commit",
			      st ? st->path : "buffer");
		return STORE_EINVAL;
	}
	code = store__group_alive(st, err, errlen);
	if (code)
		goto fail;
	assert(st->next_seq >= st->begin_seq);
	/* last_seq is not written here: max(events.seq) says the same until rows
	 * are deleted, and store_enforce_limits() records it before it deletes
	 * any. One page less per commit matters when each MQTT message is its
	 * own commit. */
	code = store__run(st, STORE__COMMIT, "committing", err, errlen);
	if (code)
		goto fail;
	st->in_tx = 0;
	return 0;
fail:
	store_rollback(st);
	return code;
}

int store__record_last_seq(struct store *st, char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;

	if (st->next_seq <= 1)
		return 0;
	s = store__stmt(st, STORE__META_MAX, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_text(s, 1, "last_seq", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(st->next_seq - 1));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "recording last_seq", err, errlen);
	return 0;
}

/*
 * Busy handler for the RESTART: try again every 20 us until the deadline
 * in *arg. SQLite's own handler sleeps 1 ms and more between tries and so
 * seldom meets the moment between two groups.
 */
static int store__restart_busy(void *arg, int tries)
{
	(void)tries;
	return store__pause_until(*(const int64_t *)arg);
}

long store_wal_frames(const struct store *st)
{
	if (!st)
		return 0;
	return atomic_load(&(st->peer ? st->peer : st)->wal_frames);
}

int store_checkpoint(struct store *st, long *wal_frames, char *err, size_t errlen)
{
	int log = 0, done = 0, rc;

	if (!st || st->readonly) {
		store__seterr(err, errlen, "%s: checkpoint needs a read-write handle",
			      st ? st->path : "buffer");
		return STORE_EINVAL;
	}
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	/*
	 * Under steady load a PASSIVE checkpoint never catches up with the
	 * frames committed while it runs, so the WAL never starts over: it
	 * grows without bound, and every commit lands on a new page of the
	 * file (block allocation and page-cache misses: ~20% of the thread
	 * that commits MQTT QoS 1). Once the WAL is big and the PASSIVE pass left little
	 * behind, a RESTART copies that little while it holds the write lock
	 * and lets the next commit write from the start of the WAL again. A
	 * few more PASSIVE passes first shrink what is left (each copies only
	 * what the writer added during the last). The RESTART waits at most
	 * STORE__RESTART_WAIT_MS for the writer and the readers; if they stay
	 * busy it gives up (SQLITE_BUSY) and the next call tries again. The
	 * writing handle (checkpoints_for) waits before its next group while
	 * the RESTART wants the lock, so that it gets it.
	 */
	for (int pass = 0; rc == SQLITE_OK && log >= STORE__RESTART_FRAMES &&
	     log - done > STORE__RESTART_LEFT && pass < STORE__RESTART_PASSES; pass++)
		rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return store__error(st, rc, "checkpointing the WAL", err, errlen);
	if (rc == SQLITE_OK && log >= STORE__RESTART_FRAMES && log - done <= STORE__RESTART_LEFT) {
		int64_t deadline = store__restart_deadline();

		if (st->peer)
			atomic_store(&st->peer->restart_wanted, 1);
		sqlite3_busy_handler(st->db, store__restart_busy, &deadline);
		rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
		sqlite3_busy_timeout(st->db, STORE__BUSY_MS);
		if (st->peer)
			atomic_store(&st->peer->restart_wanted, 0);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			return store__error(st, rc, "restarting the WAL", err, errlen);
	}
	if (wal_frames)
		*wal_frames = log;
	return 0;
}

void store_rollback(struct store *st)
{
	if (!st || !st->in_tx)
		return;
	if (!sqlite3_get_autocommit(st->db))
		store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
	st->next_seq = st->begin_seq;
	st->in_tx = 0;
}

uint64_t store_next_seq(const struct store *st)
{
	return st ? st->next_seq : 0;
}

int store_append(struct store *st, uint64_t seq, int64_t ts_ms,
		 const void *key, size_t keylen, const void *data, size_t len,
		 char *err, size_t errlen)
{
	int code = store__writable(st, err, errlen), rc;
	sqlite3_stmt *s;

	if (code)
		return code;
	if (!st->in_tx || seq != st->next_seq || !key || keylen == 0 ||
	    keylen > INT32_MAX || (!data && len) || len > INT32_MAX ||
	    seq > INT64_MAX) {
		store__seterr(err, errlen, "%s: append: %s", st->path,
			      !st->in_tx ? "no open group" :
			      seq != st->next_seq ? "seq is not store_next_seq()" :
			      "bad key or data");
		return STORE_EINVAL;
	}
	code = store__group_alive(st, err, errlen);
	if (code)
		return code;
	s = store__stmt(st, STORE__INSERT_EVENT, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(s, 2, ts_ms);
	sqlite3_bind_blob(s, 3, key, (int)keylen, SQLITE_STATIC);
	/* A NULL pointer would bind SQL NULL; data is NOT NULL. */
	sqlite3_bind_blob(s, 4, len ? data : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "appending an event", err, errlen);
	if (sqlite3_changes(st->db) == 0)
		return 0; /* the key is already buffered */
	st->next_seq++;
	return 1;
}

/* Start a transaction of our own when the caller has no group open. */
static int store__auto_begin(struct store *st, int *own, char *err, size_t errlen)
{
	int code;

	*own = 0;
	if (st->in_tx)
		return store__group_alive(st, err, errlen);
	code = store__run(st, STORE__BEGIN_WRITE, "starting a write", err, errlen);
	if (code == 0)
		*own = 1;
	return code;
}

/* Finish what store__auto_begin() started: commit if code is 0, else roll back. */
static int store__auto_end(struct store *st, int own, int code,
			   char *err, size_t errlen)
{
	if (!own)
		return code;
	if (code == 0)
		code = store__run(st, STORE__COMMIT, "committing", err, errlen);
	if (code && !sqlite3_get_autocommit(st->db))
		store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
	return code;
}

int store_quarantine(struct store *st, int64_t ts_ms, const char *origin,
		     const char *reason, const void *raw, size_t len,
		     char *err, size_t errlen)
{
	int code = store__writable(st, err, errlen), own = 0, rc;
	sqlite3_stmt *s;

	if (code)
		return code;
	if ((!raw && len) || len > INT32_MAX) {
		store__seterr(err, errlen, "%s: quarantine: bad raw bytes", st->path);
		return STORE_EINVAL;
	}
	code = store__auto_begin(st, &own, err, errlen);
	if (code)
		return code;
	s = store__stmt(st, STORE__INSERT_QUAR, &code, err, errlen);
	if (!s)
		goto done;
	sqlite3_bind_int64(s, 1, ts_ms);
	sqlite3_bind_text(s, 2, origin ? origin : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, len ? raw : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		code = store__error(st, rc, "quarantining a reading", err, errlen);
		goto done;
	}
	code = store__meta_add(st, "quarantined_total", 1, err, errlen);
done:
	return store__auto_end(st, own, code, err, errlen);
}

/* Sink names are bounded so that stats can hold them. */
static int store__check_sink(const struct store *st, const char *sink,
			     char *err, size_t errlen)
{
	if (!sink || !*sink || strlen(sink) >= STORE_SINK_NAME_MAX) {
		store__seterr(err, errlen, "%s: bad sink name (1 to %d bytes)",
			      st->path, STORE_SINK_NAME_MAX - 1);
		return STORE_EINVAL;
	}
	return 0;
}

int store_dead_letter(struct store *st, const char *sink, uint64_t seq,
		      const char *reason, char *err, size_t errlen)
{
	int code = store__writable(st, err, errlen), own = 0, rc;
	sqlite3_stmt *s;

	if (code || (code = store__check_sink(st, sink, err, errlen)))
		return code;
	if (seq == 0 || seq > INT64_MAX) {
		store__seterr(err, errlen, "%s: dead letter: bad seq", st->path);
		return STORE_EINVAL;
	}
	code = store__auto_begin(st, &own, err, errlen);
	if (code)
		return code;
	s = store__stmt(st, STORE__INSERT_DEAD, &code, err, errlen);
	if (!s)
		goto done;
	sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
	sqlite3_bind_text(s, 3, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, store__now_ms());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		code = store__error(st, rc, "recording a dead letter", err, errlen);
done:
	return store__auto_end(st, own, code, err, errlen);
}

int store_position_get(struct store *st, const char *sink, uint64_t *seq,
		       char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;

	if (!st || !seq) {
		store__seterr(err, errlen, "buffer: position: bad arguments");
		return STORE_EINVAL;
	}
	*seq = 0;
	code = store__check_sink(st, sink, err, errlen);
	if (code)
		return code;
	s = store__stmt(st, STORE__POS_GET, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(s, 0);

		*seq = v > 0 ? (uint64_t)v : 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__error(st, rc, "reading a position", err, errlen);
	return 0;
}

int store_position_set(struct store *st, const char *sink, uint64_t seq,
		       const char *last_error, char *err, size_t errlen)
{
	int code = store__writable(st, err, errlen), rc;
	sqlite3_stmt *s;

	if (code || (code = store__check_sink(st, sink, err, errlen)))
		return code;
	if (seq > INT64_MAX) {
		store__seterr(err, errlen, "%s: position: bad seq", st->path);
		return STORE_EINVAL;
	}
	code = store__group_alive(st, err, errlen);
	if (code)
		return code;
	/* One statement: outside a group it is its own transaction. */
	s = store__stmt(st, STORE__POS_SET, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
	if (last_error)
		sqlite3_bind_text(s, 3, last_error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	sqlite3_bind_int64(s, 4, store__now_ms());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "setting a position", err, errlen);
	return 0;
}

int store_range(struct store *st, int64_t since_ms, int64_t until_ms, uint64_t *first,
		uint64_t *last, uint64_t *count, char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;

	*first = *last = *count = 0;
	s = store__stmt(st, STORE__RANGE, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_int64(s, 1, since_ms);
	sqlite3_bind_int64(s, 2, until_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*first = (uint64_t)sqlite3_column_int64(s, 0);
		*last = (uint64_t)sqlite3_column_int64(s, 1);
		*count = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store__error(st, rc, "finding a time range", err, errlen);
	return 0;
}

long store_read(struct store *st, uint64_t from_seq, size_t max,
		store_event_fn fn, void *ctx, char *err, size_t errlen)
{
	int code = STORE_EIO, rc;
	sqlite3_stmt *s;
	long n = 0;

	if (!st || !fn) {
		store__seterr(err, errlen, "buffer: read: bad arguments");
		return STORE_EINVAL;
	}
	if (max == 0 || from_seq > INT64_MAX)
		return 0;
	if (max > LONG_MAX)
		max = LONG_MAX;
	s = store__stmt(st, STORE__READ, &code, err, errlen);
	if (!s)
		return code;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)from_seq);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(s, 0);
		int64_t ts = sqlite3_column_int64(s, 1);
		const void *data = sqlite3_column_blob(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);

		n++;
		if (fn(ctx, (uint64_t)seq, ts, data ? data : "", len)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store__error(st, rc, "reading events", err, errlen);
	return n;
}
