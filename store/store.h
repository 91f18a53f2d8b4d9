/*
 * store.h - the durable buffer: a SQLite database in WAL mode used as a log.
 *
 * It holds
 *   events      opaque records (seq, ts, key, bytes); seq is never reused, even
 *               after rows are dropped or the process is killed; key is unique,
 *               so a redelivered reading (same key) is stored once;
 *   quarantine  rejected input: raw bytes, origin (topic or file) and reason;
 *   dead_letter events a sink rejected for their content, with the reason;
 *   positions   per sink: the highest seq it has acknowledged, its last error.
 *
 * The store never parses what it stores. Exactly one handle writes (the
 * agent's writer thread); any number of read-only handles (other threads,
 * `fieldgate status` in another process) may read concurrently. Writes are
 * grouped: store_begin() ... store_commit(). A handle must be used by one
 * thread at a time. Nothing here logs or exits.
 */
#ifndef FIELDGATE_STORE_STORE_H
#define FIELDGATE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SINK_MAX 8         /* sinks with positions */
#define STORE_SINK_NAME_MAX 32   /* bytes in a sink name */

/* Error codes (all negative). */
enum store_error {
	STORE_OK = 0,
	STORE_EIO = -1,      /* SQLite or OS error: see the message */
	STORE_EFULL = -2,    /* the disk is full (SQLITE_FULL) */
	STORE_ECORRUPT = -3, /* the file is not a valid buffer */
	STORE_EBUSY = -4,    /* locked by another writer longer than the timeout */
	STORE_EINVAL = -5,   /* a caller error (bad argument, wrong seq) */
};

struct store_options {
	const char *path;      /* database file */
	int readonly;          /* 1: open read-only (status, replay) */
	int sync_full;         /* 1: PRAGMA synchronous=FULL, else NORMAL */
	int64_t max_bytes;     /* size cap for store_enforce_limits(); 0 = none */
	int64_t retention_ms;  /* delivered events older than this are deleted; 0 = keep */
	int manual_checkpoint; /* 1: commits never checkpoint the WAL; the owner calls
				  store_checkpoint() (from another handle) instead */
	struct store *checkpoints_for; /* the writing handle (with manual_checkpoint) whose
				  WAL this handle checkpoints: it steps aside between
				  groups while store_checkpoint() restarts the WAL;
				  must stay open until this handle is closed (or NULL) */
	const char *const *sinks; /* names of the enabled sinks (may be NULL) */
	size_t nsinks;         /* how many; events are "delivered" when every sink
				  acknowledged them, and all are when there is none */
	int64_t check_budget_ms; /* store_open_recover(): time allowed for the check of
				  the whole file at start; 0 = STORE_CHECK_BUDGET_MS;
				  < 0: none at start (check_partial is set: the caller
				  checks it in the background with store_check()) */
	void (*check_progress)(void *ctx); /* store_open_recover(): called every second
				  while the whole file is checked (may be NULL), with
				  salvage_ctx */
	void (*salvage_progress)(void *ctx, uint64_t events); /* store_open_recover():
				  called every 10,000 events salvaged (may be NULL), e.g.
				  to tell systemd the start goes on */
	void *salvage_ctx;     /* its first argument */
};

#define STORE_CHECK_BUDGET_MS 2000 /* see store_recover.c for the figures */

struct store;

/* Open (creating if absent, unless readonly) the buffer. Returns 0 and a
 * handle in *out, or a negative STORE_E* with a reason in err. */
int store_open(struct store **out, const struct store_options *opt,
	       char *err, size_t errlen);

/* Close the handle (rolling back an open transaction) and clear the pointer;
 * accepts NULL. */
void store_close(struct store **st);

/* Start a group of writes. Returns 0 or a negative STORE_E*. */
int store_begin(struct store *st, char *err, size_t errlen);

/* Make the group durable (as durable as `sync` allows) and record the highest
 * seq used, so seq survives any drop. Returns 0 or a negative STORE_E*; on
 * failure the group is rolled back and store_next_seq() returns to its value
 * before store_begin(). */
int store_commit(struct store *st, char *err, size_t errlen);

/* Roll back an open group (no-op without one). */
void store_rollback(struct store *st);

/* The seq the next appended event must carry (last used + 1, starting at 1). */
uint64_t store_next_seq(const struct store *st);

/*
 * Append an event inside a group. seq must equal store_next_seq(). ts_ms is
 * the event's time (the agent uses arrival time, so ts grows with seq).
 * Returns 1 if stored (next seq advances), 0 if an event with the same key is
 * already in the buffer (nothing stored, seq not consumed), or a negative
 * STORE_E*.
 */
int store_append(struct store *st, uint64_t seq, int64_t ts_ms,
		 const void *key, size_t keylen, const void *data, size_t len,
		 char *err, size_t errlen);

/* Keep a rejected reading inside a group. Returns 0 or a negative STORE_E*. */
int store_quarantine(struct store *st, int64_t ts_ms, const char *origin,
		     const char *reason, const void *raw, size_t len,
		     char *err, size_t errlen);

/* Record that `sink` rejected event seq for its content. Returns 0 or < 0. */
int store_dead_letter(struct store *st, const char *sink, uint64_t seq,
		      const char *reason, char *err, size_t errlen);

/* Read the position of a sink (0 when never set). Returns 0 or < 0. */
int store_position_get(struct store *st, const char *sink, uint64_t *seq,
		       char *err, size_t errlen);

/* Set the position of a sink and its last error (NULL keeps the old one, ""
 * clears it). Outside a group it commits on its own. Returns 0 or < 0. */
int store_position_set(struct store *st, const char *sink, uint64_t seq,
		       const char *last_error, char *err, size_t errlen);

/* Called for each event read; return 0 to go on, non-zero to stop. */
typedef int (*store_event_fn)(void *ctx, uint64_t seq, int64_t ts_ms,
			      const void *data, size_t len);

/* Read up to max events with seq >= from_seq, oldest first. Returns the
 * number read (>= 0) or a negative STORE_E*. */
long store_read(struct store *st, uint64_t from_seq, size_t max,
		store_event_fn fn, void *ctx, char *err, size_t errlen);

/* The buffered events with ts in [since_ms, until_ms]: the lowest and
 * highest seq and how many (all 0 when none). A full scan of the events'
 * times (ts is not indexed: it only serves replays). Returns 0 or < 0. */
int store_range(struct store *st, int64_t since_ms, int64_t until_ms, uint64_t *first,
		uint64_t *last, uint64_t *count, char *err, size_t errlen);

/* What store_enforce_limits() removed, cumulative over the buffer's life. */
struct store_drops {
	uint64_t expired;      /* delivered events deleted by retention */
	uint64_t delivered;    /* delivered events deleted for max_bytes */
	uint64_t undelivered;  /* undelivered events deleted for max_bytes */
	uint64_t quarantine;   /* quarantine rows deleted (retention or size) */
};

/*
 * Enforce retention and the size cap (SPEC §2 [buffer]): delete delivered
 * events older than retention; then while the used size exceeds max_bytes
 * drop the oldest delivered events, then the oldest undelivered, counting
 * each. Runs its own transaction (call outside a group), in bounded chunks.
 * Returns 0 or a negative STORE_E*; *drops (may be NULL) gets the totals.
 */
int store_enforce_limits(struct store *st, int64_t now_ms,
			 struct store_drops *drops, char *err, size_t errlen);

struct store_sink_stats {
	char name[STORE_SINK_NAME_MAX];  /* sink name */
	uint64_t position;               /* highest acknowledged seq */
	uint64_t backlog;                /* buffered events above position */
	int64_t oldest_pending_ms;       /* ts of the oldest unacknowledged event, 0 if none */
	char last_error[256];            /* "" when none */
};

struct store_stats {
	uint64_t events;          /* event rows buffered now */
	uint64_t accepted;        /* events ever stored (= last seq) */
	uint64_t quarantined;     /* rejected readings ever stored */
	uint64_t quarantine_rows; /* quarantine rows buffered now */
	uint64_t dead_letters;    /* dead-letter rows */
	uint64_t oldest_seq, newest_seq; /* 0 when empty */
	int64_t oldest_ms, newest_ms;    /* ts of those, 0 when empty */
	int64_t bytes;            /* used bytes of the database (pages in use) */
	struct store_drops drops; /* cumulative drops */
	size_t nsinks;            /* entries in sinks[] */
	struct store_sink_stats sinks[STORE_SINK_MAX]; /* every sink with a position */
};

/* Fill *out. Works on read-only handles. Returns 0 or a negative STORE_E*. */
int store_stats(struct store *st, struct store_stats *out, char *err, size_t errlen);

/*
 * Copy committed WAL frames into the database file (a PASSIVE checkpoint:
 * never waits for the writer, never blocks it), so that commits stay cheap
 * and the WAL stays small. A WAL past 16 MiB is then restarted (the next
 * commit writes from its start again) if the writer and the readers let it
 * within 10 ms; the writer waits while the few frames left are copied
 * (store.c says why). Meant for a second read-write handle on another
 * thread while the writing handle has manual_checkpoint set: the fsyncs
 * then happen off the path that acknowledges readings. Returns 0, or a
 * negative STORE_E*; *wal_frames (may be NULL) gets the WAL's size in frames.
 */
int store_checkpoint(struct store *st, long *wal_frames, char *err, size_t errlen);

/* How many frames (pages) the WAL held after the last commit of the
 * writing handle: st itself, or the handle st checkpoints for. Known only
 * for handles opened with manual_checkpoint (0 otherwise); an atomic read,
 * for deciding from another thread when a checkpoint is due. It drops when
 * the writer starts the WAL over after a complete checkpoint. */
long store_wal_frames(const struct store *st);

#define STORE_PATH_MAX 4160        /* bytes in a path store_open_recover() reports */
#define STORE_RECOVER_FULL_CHECK 1 /* store_open_recover(): PRAGMA quick_check over the
				      whole file with no time budget (seconds on a large
				      buffer); without it the check stops at the budget */
#define STORE_LOST_RANGES_MAX 256  /* bytes in store_recovery.lost_ranges */

/* What store_open_recover() found and did (store_recover.c). */
struct store_recovery {
	int recovered;            /* 1: the file was damaged, moved aside, replaced */
	char moved_to[STORE_PATH_MAX]; /* the damaged file's new name ("" if not recovered);
				     its -wal and -shm moved to the same name + "-wal"/"-shm" */
	char cause[256];          /* why it was judged damaged (SQLite's words) */
	uint64_t seq_from_file;   /* highest seq it names (meta, tables; the key index, read
				     by the salvage), 0 if none reads */
	uint64_t seq_floor;       /* the fresh buffer's first seq: max(seq_from_file + 1,
				     wall-clock ms * 1000), so no seq repeats */
	int seq_floor_unsafe;     /* 1: neither the file nor the clock (before 2024) gave
				     a floor; seqs may repeat: tell the operator */
	int check_partial;        /* 1: the check of the whole file ran out of its budget
				     (the file was not moved for what it did not read) */
	/* Salvage (store_salvage.c): every readable event of the damaged file is
	 * copied into the fresh buffer with its seq, and the sinks' positions,
	 * the counters, quarantine and dead letters with it. */
	uint64_t salvaged;        /* events copied, seq and bytes kept */
	uint64_t lost;            /* seqs in the ranges below that could not be read */
	char lost_ranges[STORE_LOST_RANGES_MAX]; /* "120-131,4000-4011" ("" = none, "all":
				     the file has no SQLite header, nothing in it reads;
				     "?" as a start: the first readable seq is unknown;
				     ",..." at the end: more than fit) */
	int positions_salvaged;   /* 1: the sinks' positions were read and kept */
	int resumed;              /* 1: a salvage that a kill or power cut stopped half
				     way was run again (moved_to is the file it reads) */
};

/*
 * Open the writable buffer like store_open(), but when the file is damaged
 * (SQLITE_CORRUPT, "file is not a database", a failed quick_check of the
 * small tables, a 0-byte file; with STORE_RECOVER_FULL_CHECK in flags, a
 * failed quick_check of the whole file) move it aside, never deleting it,
 * and create a fresh buffer whose seq starts above anything the damaged
 * one can have issued. Another application's database or a newer schema is
 * refused as by store_open(). Returns 0 and a handle in *out, with *rec
 * (may be NULL) saying what happened, or a negative STORE_E* with a reason
 * in err (then nothing was created; a move is undone when it fails half
 * way). Read-only options go straight to store_open(). Nothing is logged:
 * the caller reports rec.
 */
int store_open_recover(struct store **out, const struct store_options *opt,
		       int flags, struct store_recovery *rec,
		       char *err, size_t errlen);

/* Note that a read of st's file failed with STORE_ECORRUPT at run time: a
 * marker next to the file (path + ".check") makes the next
 * store_open_recover() check the whole file without a budget. Returns 0 or
 * -1 (errno). */
int store_mark_damaged(const struct store *st);

/*
 * PRAGMA quick_check of the whole of st's file (every page of every b-tree,
 * as at start but without a time budget: seconds on a large buffer), for a
 * check in the background on a handle of its own (readonly will do).
 * store_interrupt() from another thread ends it early; that counts as a
 * pass. Returns 0 when it passes, 1 when the file is damaged (cause gets
 * one line: SQLite's words), or a negative STORE_E* for a failure that
 * says nothing about the content.
 */
int store_check(struct store *st, char *cause, size_t causelen);

/* End a store_check() (or any statement) running on st in another thread;
 * harmless when none runs. */
void store_interrupt(struct store *st);

/* Version of the SQLite library in use ("3.40.1"). */
const char *store_library_version(void);

#endif
