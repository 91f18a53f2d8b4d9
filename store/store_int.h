/*
 * store_int.h - internals shared by the files of store/ (store.c: open,
 * groups, writes, reads; store_limits.c: retention, size cap, stats).
 * Nothing outside store/ includes this, except the store's unit test.
 *
 * A handle keeps one prepared statement per query in st->stmt[], prepared on
 * first use and reset after every use, so the hot path (store_append) never
 * parses SQL.
 */
#ifndef FIELDGATE_STORE_STORE_INT_H
#define FIELDGATE_STORE_STORE_INT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

#define STORE__SCHEMA_VERSION 1          /* PRAGMA user_version */
#define STORE__APPLICATION_ID 0x46474246 /* PRAGMA application_id: "FGBF" */
#define STORE__BUSY_MS 5000              /* wait this long for another writer */
#define STORE__CACHE_KIB 1024            /* page cache per writable handle */
#define STORE__RO_CACHE_KIB 512          /* page cache per read-only handle */
#ifndef STORE__PAGE_SIZE
#define STORE__PAGE_SIZE 4096            /* bytes per page of a new database (see store.c) */
/* How many seqs of [a, b] fall in the holes a salvage left (meta
 * 'hole:FROM' = TO). Returns 0 or a negative STORE_E*. */
int store__holes(struct store *st, uint64_t a, uint64_t b, uint64_t *n,
		 char *err, size_t errlen);

/* Copy what reads in the damaged file old_path (events with seq up to hi,
 * positions, meta counters, quarantine, dead letters) into the fresh buffer
 * st, filling rec's salvaged, lost, lost_ranges, positions_salvaged
 * (store_salvage.c). Returns 0 or a negative STORE_E* (writing st failed;
 * what was copied before stays). */
int store__salvage(struct store *st, const struct store_options *opt, const char *old_path,
		   uint64_t hi, struct store_recovery *rec, char *err, size_t errlen);

#endif
#ifndef STORE__WAL_PAGES
#define STORE__WAL_PAGES 8192            /* checkpoint at this many WAL pages (32 MiB): fewer checkpoint fsyncs, +13% at 200k events/s */
/* How many seqs of [a, b] fall in the holes a salvage left (meta
 * 'hole:FROM' = TO). Returns 0 or a negative STORE_E*. */
int store__holes(struct store *st, uint64_t a, uint64_t b, uint64_t *n,
		 char *err, size_t errlen);

/* Copy what reads in the damaged file old_path (events with seq up to hi,
 * positions, meta counters, quarantine, dead letters) into the fresh buffer
 * st, filling rec's salvaged, lost, lost_ranges, positions_salvaged
 * (store_salvage.c). Returns 0 or a negative STORE_E* (writing st failed;
 * what was copied before stays). */
int store__salvage(struct store *st, const struct store_options *opt, const char *old_path,
		   uint64_t hi, struct store_recovery *rec, char *err, size_t errlen);

#endif
/* store_checkpoint() restarts a WAL of this many frames (16 MiB of 4 KiB
 * pages) when its PASSIVE pass left at most STORE__RESTART_LEFT frames (the
 * copy done under the write lock), waiting at most STORE__RESTART_WAIT_MS. */
#define STORE__RESTART_FRAMES 4096
#define STORE__RESTART_LEFT 512
#define STORE__RESTART_WAIT_MS 10
#define STORE__RESTART_PASSES 3 /* more PASSIVE passes to get there */
#define STORE__WAL_KEEP_BYTES (64LL << 20) /* journal_size_limit: a WAL file past this is
					      cut back to it when the WAL restarts */

/* The cached statements; store__sql[] in store.c holds their text. */
enum store__sid {
	STORE__BEGIN_WRITE,   /* BEGIN IMMEDIATE */
	STORE__BEGIN_READ,    /* BEGIN (deferred: a read snapshot) */
	STORE__COMMIT,        /* COMMIT */
	STORE__ROLLBACK,      /* ROLLBACK */
	STORE__INSERT_EVENT,  /* (seq, ts, key, data), nothing on a duplicate key */
	STORE__META_GET,      /* v of meta key ?1 */
	STORE__META_ALL,      /* every (k, v) of meta */
	STORE__HOLES,         /* (from, to) of every 'hole:FROM' = TO of meta */
	STORE__META_ADD,      /* meta[?1] += ?2 */
	STORE__META_MAX,      /* meta[?1] = max(meta[?1], ?2) */
	STORE__MAX_SEQ,       /* max(seq) of events */
	STORE__INSERT_QUAR,   /* (ts, origin, reason, raw) */
	STORE__INSERT_DEAD,   /* (sink, seq, reason, created_ms), copying the event */
	STORE__POS_GET,       /* seq of sink ?1 */
	STORE__POS_SET,       /* upsert (sink, seq, last_error or NULL, updated_ms) */
	STORE__POS_ALL,       /* every (sink, seq, last_error) by name */
	STORE__READ,          /* (seq, ts, data) from seq ?1, ?2 rows */
	STORE__RANGE,         /* min(seq), max(seq), count of events with ts in [?1, ?2] */
	STORE__OLDEST,        /* (seq, ts) of the first event */
	STORE__NEWEST,        /* (seq, ts) of the last event */
	STORE__TS_FROM,       /* ts of the first event with seq >= ?1 */
	STORE__COUNT_QUAR,    /* rows in quarantine (ids are contiguous) */
	STORE__COUNT_DEAD,    /* rows in dead_letter (ids are contiguous) */
	STORE__PAGE_COUNT,    /* PRAGMA page_count */
	STORE__FREELIST,      /* PRAGMA freelist_count */
	STORE__SCAN_EVENTS,   /* (seq, ts) with seq <= ?1, oldest first, ?2 rows */
	STORE__DEL_EVENTS,    /* delete events with seq <= ?1 */
	STORE__SCAN_QUAR,     /* (id, ts) with id <= ?1, oldest first, ?2 rows */
	STORE__DEL_QUAR,      /* delete quarantine with id <= ?1 */
	STORE__NSTMT          /* how many */
};

struct store {
	sqlite3 *db;              /* the connection */
	char *path;               /* database file, for messages */
	int readonly;             /* opened with SQLITE_OPEN_READONLY */
	int in_tx;                /* 1 between store_begin() and commit/rollback */
	uint64_t next_seq;        /* seq the next appended event must carry */
	uint64_t begin_seq;       /* next_seq at store_begin(), restored on rollback */
	int64_t page_size;        /* bytes per page, read at open */
	int64_t max_bytes;        /* size cap, 0 = none */
	int64_t cap_last_used;    /* pages in use after the last cap check (bytes), 0 = none yet */
	int64_t cap_headroom;     /* what the cap keeps free for the growth until the next check */
	int64_t retention_ms;     /* retention of delivered events, 0 = keep */
	size_t nsinks;            /* enabled sinks */
	char sinks[STORE_SINK_MAX][STORE_SINK_NAME_MAX]; /* their names */
	sqlite3_stmt *stmt[STORE__NSTMT]; /* cached statements, NULL until used */
	struct store *peer;       /* options.checkpoints_for */
	_Atomic int restart_wanted; /* set by peer's store_checkpoint(): a WAL restart
				       waits for the write lock; store_begin() waits */
	_Atomic long wal_frames;  /* frames in the WAL after this handle's last commit
				     (handles with manual_checkpoint; store_wal_frames()) */
};

/* Write a formatted message into err (err may be NULL or errlen 0). */
void store__seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Describe the SQLite failure rc of the last call on st->db ("what" says what
 * was being done) and return the matching STORE_E* code. */
int store__error(struct store *st, int rc, const char *what,
		 char *err, size_t errlen);

/* The cached statement id, prepared on first use, or NULL with *code set and
 * a message in err. */
sqlite3_stmt *store__stmt(struct store *st, enum store__sid id, int *code,
			  char *err, size_t errlen);

/* Run a cached statement that returns no rows (binding nothing new) and reset
 * it. Returns 0 or a negative STORE_E*. */
int store__run(struct store *st, enum store__sid id, const char *what,
	       char *err, size_t errlen);

/* meta[key] += delta inside the current transaction. Returns 0 or < 0. */
int store__meta_add(struct store *st, const char *key, int64_t delta,
		    char *err, size_t errlen);

/* Wall-clock time in epoch milliseconds. */
int64_t store__now_ms(void);

/* Record meta.last_seq = next_seq - 1 inside the open transaction (before
 * any deletion). Returns 0 or a negative STORE_E*. */
int store__record_last_seq(struct store *st, char *err, size_t errlen);

/* How many seqs of [a, b] fall in the holes a salvage left (meta
 * 'hole:FROM' = TO). Returns 0 or a negative STORE_E*. */
int store__holes(struct store *st, uint64_t a, uint64_t b, uint64_t *n,
		 char *err, size_t errlen);

/* Copy what reads in the damaged file old_path (events with seq up to hi,
 * positions, meta counters, quarantine, dead letters) into the fresh buffer
 * st, filling rec's salvaged, lost, lost_ranges, positions_salvaged
 * (store_salvage.c). Returns 0 or a negative STORE_E* (writing st failed;
 * what was copied before stays). */
int store__salvage(struct store *st, const struct store_options *opt, const char *old_path,
		   uint64_t hi, struct store_recovery *rec, char *err, size_t errlen);

#endif
