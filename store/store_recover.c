/*
 * store_recover.c - opening the buffer when it may be damaged: a buffer
 * file that SQLite calls corrupt ("file is not a database", a malformed
 * page) is moved aside, never deleted, and a fresh buffer takes its place,
 * so the agent keeps ingesting instead of refusing to start.
 *
 * What counts as damaged. store_open() already reads the header, the
 * schema, meta and the right edge of events; on top of that this file runs
 * store_stats() (the left and right edges of every table, the positions)
 * and PRAGMA quick_check on the two small tables (meta, positions): a few
 * milliseconds whatever the size. Then PRAGMA quick_check of the whole
 * file within a time budget (STORE_CHECK_BUDGET_MS, 2 s; recover__check()
 * says what is left unchecked when it runs out): it reads every page, 1.1 s
 * warm and 20 s cold for 3.3 million events (1.1 GB) on the development
 * machine. Without a budget with STORE_RECOVER_FULL_CHECK, or when a read
 * at run time failed with SQLITE_CORRUPT (store_mark_damaged()'s marker).
 * A SQLite database of another application, or a buffer written by a newer
 * fieldgate, is not damaged: it is refused, untouched, as before.
 *
 * Salvage. Once the damaged file is moved aside and the fresh buffer has
 * its seq floor, every event that still reads is copied into it with its
 * seq (store_salvage.c), with the positions, counters, quarantine and dead
 * letters; rec says how many and which seqs were lost.
 *
 * Moving aside. buffer.db becomes buffer.db.corrupt-YYYYMMDDTHHMMSSZ (with
 * "-N" added if that name is taken), and its -wal and -shm follow under
 * the same name plus "-wal"/"-shm", so `sqlite3 buffer.db.corrupt-...`
 * still sees the WAL for forensics. A leftover -wal next to a fresh
 * buffer.db would be replayed into it, so if any rename fails the earlier
 * ones are undone and nothing is created.
 *
 * seq across the move (SPEC §4: seq never repeats; event_id = gateway:seq
 * and Elasticsearch keeps the first document per _id, so a reused seq
 * silently loses the new event). The fresh buffer starts at
 *     max(highest seq readable in the damaged file + 1, now_ms * 1000).
 * The file's numbers alone are not enough: they come from a damaged file
 * (a lost page or WAL tail can hide the newest seqs, which the sinks may
 * already have). The clock term exceeds every seq the gateway can have
 * issued unless it averaged more than 1,000,000 events/s since 1970 (or
 * since the previous recovery, for a second one); the agent peaks near
 * 250,000/s. It stays below 2^53 (exact in a JSON double) until the year
 * 2255. A clock before 2024 (a gateway without a real-time clock, before
 * NTP) is not trusted: then only the file's figure counts, and when even
 * that is unreadable the caller is told (seq_floor_unsafe). The jump in seq
 * is the visible trace, downstream, of the recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

#define RECOVER__SANE_CLOCK_MS 1704067200000LL /* 2024-01-01T00:00:00Z */
#define RECOVER__SEQ_PER_MS 1000               /* see the comment above */
#define RECOVER__MAX_TRIES 100                 /* name suffixes tried */

static const char *const recover__suffix[] = { "", "-wal", "-shm" };
#define RECOVER__NFILES 3

static int recover__is_corrupt_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return 1;
	default:
		/* A file cut short reads as zeros or as a short read. */
		return rc == SQLITE_IOERR_SHORT_READ;
	}
}

/* 0 when path is absent, empty or starts with SQLite's header; 1 (cause
 * set) when it holds something else. Read before SQLite opens the file:
 * closing a connection to such a file deletes its -wal, which would then
 * no longer travel with it. */
static int recover__bad_header(const char *path, char *cause, size_t causelen)
{
	static const char magic[16] = "SQLite format 3";
	char head[sizeof(magic)];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0; /* absent, or not readable: store_open() says why */
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(head) && memcmp(head, magic, sizeof(magic)) == 0)
		return 0;
	snprintf(cause, causelen, "file is not a database (it does not start "
		 "with the SQLite header)");
	return 1;
}

/* Open path for reading without creating anything and without
 * checkpointing at close, so a damaged file is left as it is. */
static sqlite3 *recover__open_raw(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE__BUSY_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
	return db;
}

/* One integer from sql into *v. Returns the SQLite code (SQLITE_OK when a
 * value was read; a NULL reads as 0). */
static int recover__int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	*v = 0;
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * store_open() said STORE_ECORRUPT or STORE_EIO: is the file damaged (1),
 * or a valid SQLite file that is not ours to replace (0: another
 * application's database, a newer schema, or an I/O error that is not
 * about the content)? cause gets SQLite's words for the damage.
 */
static int recover__classify(const char *path, char *cause, size_t causelen)
{
	sqlite3 *db = recover__open_raw(path);
	int64_t appid = 0, version = 0, ntables = 0;
	int rc;

	if (!db)
		return 0; /* cannot even open it: not a question of content */
	if ((rc = recover__int(db, "PRAGMA application_id", &appid)) != SQLITE_OK ||
	    (rc = recover__int(db, "PRAGMA user_version", &version)) != SQLITE_OK ||
	    (rc = recover__int(db, "SELECT count(*) FROM sqlite_master", &ntables)) != SQLITE_OK) {
		int damaged = recover__is_corrupt_rc(rc);

		if (damaged)
			snprintf(cause, causelen, "%s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return damaged;
	}
	sqlite3_close(db);
	if (appid != STORE__APPLICATION_ID)
		return 0; /* someone else's database (or an empty one) */
	if (version > STORE__SCHEMA_VERSION)
		return 0; /* a newer fieldgate's buffer */
	/* Ours, with a readable schema, yet store_open() failed on content. */
	return -1;
}

/* The time budget of the check of the whole file at start. PRAGMA
 * quick_check runs inside one VM instruction, so a progress handler (called
 * between instructions) never sees it; sqlite3_interrupt(), which the
 * b-tree check polls page by page, does. A timer thread calls it at the
 * deadline unless the check ended first. */
struct recover__budget {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	int timed;                /* 0: no deadline, only ticks */
	sqlite3 *db;
	void (*tick)(void *ctx);  /* every RECOVER__TICK_MS while the check runs (or NULL) */
	void *tick_ctx;
	int done;                 /* the check ended: the timer goes */
	int expired;              /* the timer interrupted the check */
};

#define RECOVER__TICK_MS 1000

static void recover__ts_add(struct timespec *t, int64_t ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static int recover__ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Wakes at every tick (a check of a cold 2 GB file takes half a minute:
 * systemd's watchdog and start timeout are told it goes on) and at the
 * deadline, where it interrupts the check. */
static void *recover__timer(void *p)
{
	struct recover__budget *b = p;
	struct timespec tick;

	clock_gettime(CLOCK_MONOTONIC, &tick);
	recover__ts_add(&tick, RECOVER__TICK_MS);
	pthread_mutex_lock(&b->mu);
	while (!b->done) {
		int at_deadline = b->timed && !recover__ts_before(&tick, &b->deadline);
		const struct timespec *until = at_deadline ? &b->deadline : &tick;

		if (pthread_cond_timedwait(&b->cv, &b->mu, until) != ETIMEDOUT || b->done)
			continue;
		if (at_deadline) {
			b->expired = 1;
			sqlite3_interrupt(b->db);
			break;
		}
		if (b->tick) {
			pthread_mutex_unlock(&b->mu);
			b->tick(b->tick_ctx);
			pthread_mutex_lock(&b->mu);
		}
		recover__ts_add(&tick, RECOVER__TICK_MS);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Start the timer (ms < 0: no deadline, ticks only); 0, or -1 (then the
 * check runs without a budget and without ticks). */
static int recover__budget_start(struct recover__budget *b, sqlite3 *db, int64_t ms,
				 void (*tick)(void *), void *tick_ctx, pthread_t *th)
{
	pthread_condattr_t ca;

	memset(b, 0, sizeof(*b));
	b->db = db;
	b->tick = tick;
	b->tick_ctx = tick_ctx;
	b->timed = ms >= 0;
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &b->deadline);
	if (b->timed)
		recover__ts_add(&b->deadline, ms);
	if (pthread_create(th, NULL, recover__timer, b) != 0) {
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
		return -1;
	}
	return 0;
}

/* Stop the timer; returns 1 when it interrupted the check. */
static int recover__budget_stop(struct recover__budget *b, pthread_t th)
{
	pthread_mutex_lock(&b->mu);
	b->done = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(th, NULL);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	return b->expired;
}

/*
 * Checks beyond store_open() on a handle that opened. Returns 0 when they
 * pass, 1 when the file is damaged (cause set), or a negative STORE_E* for
 * a failure that says nothing about the content.
 *
 * The whole file: PRAGMA quick_check (every page of every b-tree, the
 * freelist, record formats; not the index-to-table match that
 * integrity_check adds) under a time budget (budget_ms; < 0: none), stopped
 * by sqlite3_interrupt() from a timer thread. It walks the freelist, then the b-trees in schema
 * order: events, its key index, quarantine, dead_letter (positions and
 * meta were checked whole just before). When the budget runs out the pages
 * walked so far were checked and the rest were not (*partial = 1): on a
 * large buffer, the newest events. Those are then checked when they are
 * read: a forwarder's read that fails with SQLITE_CORRUPT leaves a marker
 * (store_mark_damaged()) and the next start checks the whole file without
 * a budget. Figures: a 1.17-million-event (838 MB) buffer takes 0.7 s warm,
 * 16 s cold; a budget of 2 s covers a warm file of about 2 GB and never
 * holds a start back more than 2 s. The agent then checks the whole file
 * again in the background (store_check()), and a check at start can be
 * skipped (skip: *partial = 1) to leave all of it to that one.
 * tick(tick_ctx) is called every second while the whole file is checked.
 */
static int recover__check(struct store *st, int64_t budget_ms, int skip,
			  void (*tick)(void *), void *tick_ctx, int *partial,
			  char *cause, size_t causelen)
{
	static const char *const quick[] = {
		"PRAGMA quick_check(meta)", "PRAGMA quick_check(positions)",
	};
	const char *full = "PRAGMA quick_check";
	struct recover__budget b;
	pthread_t timer;
	int timed = 0, expired = 0;
	struct store_stats ss;
	char msg[256] = "";
	size_t i, n = sizeof(quick) / sizeof(quick[0]);
	int code = store_stats(st, &ss, msg, sizeof(msg));

	*partial = 0;
	if (code == STORE_ECORRUPT) {
		snprintf(cause, causelen, "%s", msg);
		return 1;
	}
	if (code)
		return 0; /* busy, I/O: let the caller's writes report it */
	for (i = 0; i <= n; i++) {
		const char *sql = i < n ? quick[i] : full;
		sqlite3_stmt *s = NULL;
		int rc;

		if (i == n && skip) {
			*partial = 1;
			break;
		}
		if (i == n && (budget_ms >= 0 || tick))
			timed = recover__budget_start(&b, st->db, budget_ms, tick, tick_ctx,
						      &timer) == 0;
		rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (i == n && timed)
			expired = recover__budget_stop(&b, timer);
		if (rc == SQLITE_ROW) {
			const char *r = (const char *)sqlite3_column_text(s, 0);

			if (r && strcmp(r, "ok") != 0) {
				char *c;

				snprintf(cause, causelen, "%s: %s", sql, r);
				for (c = cause; *c; c++)
					if (*c == '\n' || *c == '\r')
						*c = ' '; /* one line per message */
				sqlite3_finalize(s);
				return 1;
			}
		} else if (recover__is_corrupt_rc(rc)) {
			snprintf(cause, causelen, "%s: %s", sql, sqlite3_errmsg(st->db));
			sqlite3_finalize(s);
			return 1;
		} else if (i == n && expired) {
			*partial = 1;
		}
		sqlite3_finalize(s);
	}
	return 0;
}

/* path + ".check": the marker store_mark_damaged() leaves. */
static int recover__marker(char *buf, size_t len, const char *path)
{
	int n = snprintf(buf, len, "%s.check", path);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Remove path's marker (the file it was about was checked or replaced). */
static void recover__unmark(const char *path)
{
	char m[STORE_PATH_MAX];

	if (path && recover__marker(m, sizeof(m), path) == 0)
		unlink(m);
}

int store_mark_damaged(const struct store *st)
{
	char m[STORE_PATH_MAX];
	int fd;

	if (!st || !st->path || recover__marker(m, sizeof(m), st->path))
		return -1;
	fd = open(m, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int store_check(struct store *st, char *cause, size_t causelen)
{
	int partial = 0;

	if (!st || !st->db)
		return STORE_EINVAL;
	return recover__check(st, -1, 0, NULL, NULL, &partial, cause, causelen);
}

void store_interrupt(struct store *st)
{
	if (st && st->db)
		sqlite3_interrupt(st->db);
}

/* path + suffix into buf; 0, or -1 when it does not fit. */
static int recover__name(char *buf, size_t len, const char *path, const char *mid,
			 const char *suffix)
{
	int n = snprintf(buf, len, "%s%s%s", path, mid, suffix);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* fsync the directory holding path, so the renames survive a power cut. */
static void recover__sync_dir(const char *path)
{
	char dir[STORE_PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Rename path (and its -wal, -shm) to path.corrupt-STAMP[-N]; moved_to gets
 * the main file's new name. Nothing is overwritten; on failure every rename
 * done is undone. Returns 0 or STORE_EIO with a message. */
static int recover__move(const char *path, char *moved_to, size_t movedlen,
			 char *err, size_t errlen)
{
	char mid[64], stamp[32], from[STORE_PATH_MAX], to[STORE_PATH_MAX];
	time_t now = time(NULL);
	struct tm tm;
	struct stat sb;
	int try, i, moved[RECOVER__NFILES] = { 0, 0, 0 };

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (try = 1; try <= RECOVER__MAX_TRIES; try++) {
		int taken = 0;

		if (try == 1)
			snprintf(mid, sizeof(mid), ".corrupt-%s", stamp);
		else
			snprintf(mid, sizeof(mid), ".corrupt-%s-%d", stamp, try);
		for (i = 0; i < RECOVER__NFILES && !taken; i++) {
			if (recover__name(to, sizeof(to), path, mid, recover__suffix[i])) {
				store__seterr(err, errlen, "%s: path too long to move "
					      "the damaged buffer aside", path);
				return STORE_EIO;
			}
			taken = lstat(to, &sb) == 0 || errno != ENOENT;
		}
		if (!taken)
			break;
	}
	if (try > RECOVER__MAX_TRIES) {
		store__seterr(err, errlen, "%s: %d damaged copies already; "
			      "move some away", path, RECOVER__MAX_TRIES);
		return STORE_EIO;
	}
	for (i = 0; i < RECOVER__NFILES; i++) {
		recover__name(from, sizeof(from), path, "", recover__suffix[i]);
		recover__name(to, sizeof(to), path, mid, recover__suffix[i]);
		if (rename(from, to) == 0) {
			moved[i] = 1;
			continue;
		}
		if (errno == ENOENT && i > 0)
			continue; /* no -wal or -shm: nothing to move */
		store__seterr(err, errlen, "%s: cannot move the damaged buffer "
			      "aside to %s: %s (free the file or fix the "
			      "permissions of its directory)", from, to,
			      strerror(errno));
		while (i-- > 0) {
			if (!moved[i])
				continue;
			recover__name(from, sizeof(from), path, "", recover__suffix[i]);
			recover__name(to, sizeof(to), path, mid, recover__suffix[i]);
			rename(to, from);
		}
		return STORE_EIO;
	}
	recover__sync_dir(path);
	snprintf(moved_to, movedlen, "%s%s", path, mid);
	return 0;
}

/* The highest seq the damaged file still shows, 0 if none is readable;
 * *skipped gets its meta 'seq_skipped' (0 if it does not read). */
static uint64_t recover__file_seq(const char *path, uint64_t *skipped)
{
	static const char *const sql[] = {
		"SELECT v FROM meta WHERE k = 'last_seq'",
		"SELECT max(seq) FROM events",
		"SELECT max(seq) FROM positions",
		"SELECT max(seq) FROM dead_letter",
	};
	sqlite3 *db = recover__open_raw(path);
	uint64_t best = 0;
	size_t i;

	*skipped = 0;
	if (!db)
		return 0;
	{
		int64_t v;

		if (recover__int(db, "SELECT v FROM meta WHERE k = 'seq_skipped'", &v) == SQLITE_OK &&
		    v > 0)
			*skipped = (uint64_t)v;
	}
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		int64_t v;

		if (recover__int(db, sql[i], &v) == SQLITE_OK && v > 0 &&
		    (uint64_t)v > best)
			best = (uint64_t)v;
	}
	sqlite3_close(db);
	return best;
}

/* One statement with a text (?1) and, if it has one, an integer (?2); 0 or
 * a negative STORE_E*. */
static int recover__exec_tv(struct store *st, const char *sql, const char *t, uint64_t v,
			    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
		if (sqlite3_bind_parameter_count(s) > 1)
			sqlite3_bind_int64(s, 2, (sqlite3_int64)v);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : store__error(st, rc, what, err, errlen);
}

/*
 * A salvage under way: meta 'salvage:PATH' = the highest seq the damaged
 * file PATH names, written with the floor before the first event is
 * copied and deleted once the salvage ends. A start that finds it (the
 * agent was killed or lost power half way through a salvage) runs the
 * salvage again: every step of it is idempotent (events ON CONFLICT DO
 * NOTHING, positions replaced, counters by max, rows by id, holes
 * recomputed), so it resumes where the copy stopped.
 */
#define RECOVER__PENDING_SQL "SELECT substr(k, 9), v FROM meta WHERE k > 'salvage:' AND " \
			     "k < 'salvage;' ORDER BY k LIMIT 1"

/* Make the fresh buffer's next seq `floor` and record it in meta, so that
 * it holds across restarts before any event is written; with salvage_from,
 * the salvage to come (above). */
static int recover__set_floor(struct store *st, uint64_t floor, const char *salvage_from,
			      uint64_t hi, char *err, size_t errlen)
{
	uint64_t old = st->next_seq;
	int code;

	if (floor <= st->next_seq && !salvage_from)
		return 0;
	code = store__run(st, STORE__BEGIN_WRITE, "starting the fresh buffer",
			  err, errlen);
	if (code)
		return code;
	if (floor > st->next_seq) {
		st->next_seq = floor;
		code = store__record_last_seq(st, err, errlen);
	}
	if (code == 0 && salvage_from)
		code = recover__exec_tv(st, "INSERT OR REPLACE INTO meta(k, v) VALUES "
					"('salvage:' || ?1, ?2)", salvage_from, hi,
					"starting the fresh buffer", err, errlen);

	/* Tells a later salvage that seqs below it were not issued here. */
	if (code == 0 && floor > old) {
		char sql[128];
		int rc;

		snprintf(sql, sizeof(sql), "INSERT INTO meta(k, v) VALUES ('seq_floor', %llu) "
			 "ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v)",
			 (unsigned long long)floor);
		rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			code = store__error(st, rc, "starting the fresh buffer", err, errlen);
	}
	if (code == 0)
		code = store__run(st, STORE__COMMIT, "starting the fresh buffer",
				  err, errlen);
	if (code) {
		if (!sqlite3_get_autocommit(st->db))
			store__run(st, STORE__ROLLBACK, "rolling back", NULL, 0);
		st->next_seq = old;
	}
	return code;
}

/*
 * Salvage old_path into st, then end the pending salvage (above). The seqs
 * the floor jumped over, never issued (above the highest seq the old file
 * shows, which the salvage puts in rec->seq_from_file), are added to meta
 * 'seq_skipped' (skipped: the old file's own), so that "events ever
 * accepted" (store_stats()) stays a count of events.
 */
static int recover__salvage(struct store *st, const struct store_options *opt,
			    const char *old_path, uint64_t hi, uint64_t skipped,
			    struct store_recovery *rec, char *err, size_t errlen)
{
	int code = store__salvage(st, opt, old_path, hi, rec, err, errlen);

	if (code == 0 && rec->seq_floor > rec->seq_from_file + 1)
		code = recover__exec_tv(st, "INSERT INTO meta(k, v) VALUES ('seq_skipped', ?2) "
					"ON CONFLICT(k) DO UPDATE SET v = max(v, excluded.v)", "",
					skipped + (rec->seq_floor - rec->seq_from_file - 1),
					"ending the salvage", err, errlen);
	if (code == 0)
		code = recover__exec_tv(st, "DELETE FROM meta WHERE k = 'salvage:' || ?1",
					old_path, 0, "ending the salvage", err, errlen);
	return code;
}

/*
 * A salvage that a kill or a power cut stopped half way (meta
 * 'salvage:PATH' in the fresh buffer that opened): run it again. Returns
 * 0 when there was none, 1 when it was resumed (rec says what it did, as
 * for a first salvage, with every event salvaged counted, both times), or
 * a negative STORE_E*.
 */
static int recover__resume(struct store *st, const struct store_options *opt,
			   struct store_recovery *rec, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	uint64_t hi = 0, skipped = 0;
	int64_t n = 0, floor = 0;
	int rc, code;

	rc = sqlite3_prepare_v2(st->db, RECOVER__PENDING_SQL, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(rec->moved_to, sizeof(rec->moved_to), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		hi = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		rec->moved_to[0] = '\0';
		return 0;
	}
	if (access(rec->moved_to, F_OK) != 0) {
		/* The damaged file is gone (an operator removed it): nothing
		 * more to salvage; what was copied stays. */
		code = recover__exec_tv(st, "DELETE FROM meta WHERE k = 'salvage:' || ?1",
					rec->moved_to, 0, "ending the salvage", err, errlen);
		rec->moved_to[0] = '\0';
		return code;
	}
	recover__int(st->db, "SELECT v FROM meta WHERE k = 'seq_floor'", &floor);
	rec->recovered = 1;
	rec->resumed = 1;
	rec->seq_from_file = hi;
	rec->seq_floor = (uint64_t)floor;
	snprintf(rec->cause, sizeof(rec->cause), "the salvage of it was cut short (the agent "
		 "was stopped or lost power); resumed");
	recover__file_seq(rec->moved_to, &skipped);
	code = recover__salvage(st, opt, rec->moved_to, hi, skipped, rec, err, errlen);
	if (code)
		return code;
	/* Both runs: every event below the floor came from the old file. */
	if (floor > 0) {
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE seq < %lld",
			 (long long)floor);
		if (recover__int(st->db, sql, &n) == SQLITE_OK)
			rec->salvaged = (uint64_t)n;
	}
	return 1;
}

int store_open_recover(struct store **out, const struct store_options *opt,
		       int flags, struct store_recovery *rec,
		       char *err, size_t errlen)
{
	char cause[sizeof(rec->cause)] = "";
	struct store_recovery dummy;
	uint64_t from_file, from_clock = 0, skipped = 0;
	int64_t now_ms;
	struct stat sb;
	int code, damaged, bad_header = 0;

	if (!rec)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if (!out || !opt || opt->readonly)
		return store_open(out, opt, err, errlen);
	/* A buffer cut to nothing (a file system that lost it at a power
	 * cut) would otherwise become a new one with seq 1 again. */
	if (opt->path && stat(opt->path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size == 0) {
		char wal[STORE_PATH_MAX];
		struct stat wb;

		if (recover__name(wal, sizeof(wal), opt->path, "", "-wal") == 0 &&
		    (stat(wal, &wb) != 0 || wb.st_size == 0)) {
			snprintf(cause, sizeof(cause), "the file is empty (0 bytes) "
				 "and has no WAL");
			goto damaged;
		}
	}
	if (opt->path && recover__bad_header(opt->path, cause, sizeof(cause))) {
		bad_header = 1; /* nothing in it to read a seq from */
		goto damaged;
	}
	code = store_open(out, opt, err, errlen);
	if (code == 0 && (code = recover__resume(*out, opt, rec, err, errlen)) != 0) {
		if (code < 0) {
			store_close(out);
			return code;
		}
		recover__unmark(opt->path); /* it was about the file just salvaged */
		return 0;
	}
	if (code == 0) {
		char marker[STORE_PATH_MAX];
		int marked = opt->path && recover__marker(marker, sizeof(marker), opt->path) == 0 &&
			     access(marker, F_OK) == 0;
		int64_t budget = opt->check_budget_ms ? opt->check_budget_ms : STORE_CHECK_BUDGET_MS;
		int skip = budget < 0;

		if ((flags & STORE_RECOVER_FULL_CHECK) || marked) {
			budget = -1;
			skip = 0;
		}
		damaged = recover__check(*out, budget, skip, opt->check_progress, opt->salvage_ctx,
					 &rec->check_partial, cause, sizeof(cause));
		if (damaged <= 0) {
			if (marked && damaged == 0)
				unlink(marker); /* checked whole: the read error was not the file's */
			return 0;
		}
		store_close(out);
	} else if (code == STORE_ECORRUPT || code == STORE_EIO) {
		damaged = recover__classify(opt->path, cause, sizeof(cause));
		/* Not ours to replace (refuse as before), or an I/O failure
		 * (permissions, a read-only file) on a file that reads fine. */
		if (damaged == 0 || (damaged < 0 && code != STORE_ECORRUPT))
			return code;
		if (damaged < 0)
			snprintf(cause, sizeof(cause), "%s", err);
	} else {
		return code;
	}
damaged:
	/* Read before the move, so a -shm this creates moves with the rest. */
	from_file = bad_header ? 0 : recover__file_seq(opt->path, &skipped);
	code = recover__move(opt->path, rec->moved_to, sizeof(rec->moved_to),
			     err, errlen);
	if (code)
		return code;
	snprintf(rec->cause, sizeof(rec->cause), "%s", cause);
	rec->recovered = 1;
	now_ms = store__now_ms();
	if (now_ms >= RECOVER__SANE_CLOCK_MS)
		from_clock = (uint64_t)now_ms * RECOVER__SEQ_PER_MS;
	rec->seq_from_file = from_file;
	rec->seq_floor = from_file + 1 > from_clock ? from_file + 1 : from_clock;
	rec->seq_floor_unsafe = from_file == 0 && from_clock == 0;
	code = store_open(out, opt, err, errlen);
	if (code)
		return code;
	code = recover__set_floor(*out, rec->seq_floor, bad_header ? NULL : rec->moved_to,
				  from_file, err, errlen);
	if (code) {
		store_close(out);
		return code;
	}
	if (bad_header) {
		/* Nothing in it reads: say so rather than "no event lost". */
		snprintf(rec->lost_ranges, sizeof(rec->lost_ranges), "all");
	} else {
		code = recover__salvage(*out, opt, rec->moved_to, from_file, skipped, rec, err, errlen);
		if (code) {
			store_close(out);
			return code;
		}
	}
	recover__unmark(opt->path);
	return 0;
}
