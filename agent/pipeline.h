/*
 * pipeline.h - the hand-off from the source thread to the store: a bounded
 * queue and the one writer thread that commits it in group commits.
 *
 *   source thread: decode -> score -> encode body -> pipeline_push_event()
 *   writer thread: give each event its seq, write head+body, commit every
 *                  commit_ms (or sooner when the queue is half full or a
 *                  caller waits), enforce the buffer's limits once a second
 *                  and after every eighth of max_bytes written.
 *
 * A full queue blocks the pusher (backpressure), it never drops. Items leave
 * the queue only once committed: when a commit fails (disk full) the writer
 * rolls back, keeps the items, says so once, and retries with backoff, so
 * ingestion pauses rather than loses. Each push returns a ticket;
 * pipeline_wait() returns once that item is committed (MQTT QoS >= 1 acks
 * only after that).
 */
#ifndef FIELDGATE_AGENT_PIPELINE_H
#define FIELDGATE_AGENT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct pipeline_options {
	struct store *store;     /* the writable buffer; the writer thread owns it while running */
	const char *gateway_id;  /* for event heads */
	const char *site;        /* for event heads */
	int commit_ms;           /* group-commit interval */
	int64_t max_bytes;       /* [buffer] max_mb in bytes (0 = none): limits are also
				    enforced after every max_bytes/8 appended, not only
				    once a second, so a small cap is not overshot */
};

/* Counters, readable at any time (relaxed atomics inside). */
struct pipeline_stats {
	uint64_t pushed;        /* items handed to the queue */
	uint64_t committed;     /* items committed (events + quarantine) */
	uint64_t events;        /* events stored */
	uint64_t duplicates;    /* events not stored: same key already buffered */
	uint64_t quarantined;   /* rejected readings stored */
	uint64_t commits;       /* successful group commits */
	uint64_t commit_errors; /* failed commits (retried) */
	uint64_t last_seq;      /* seq of the last committed event */
	int healthy;            /* 0 while the writer cannot commit */
};

struct pipeline;

/* Start the writer thread. Returns 0, or -1 with a reason in err. */
int pipeline_start(struct pipeline **out, const struct pipeline_options *opt,
		   char *err, size_t errlen);

/*
 * Queue an event: key (dedup key), ts_ms (arrival time), body (event JSON
 * after the head, see sensors/event.h). Blocks while the queue is full.
 * ticket: NULL for group commit by the writer; non-NULL (set to the item's
 * ticket) when the caller will pipeline_wait() for it, which then commits it
 * in the caller's thread. Returns 0, or -1 once the pipeline is stopping or
 * out of memory.
 */
int pipeline_push_event(struct pipeline *p, const void *key, size_t keylen,
			int64_t ts_ms, const char *body, size_t len, uint64_t *ticket);

/* Queue a rejected reading for the quarantine (same rules). */
int pipeline_push_quarantine(struct pipeline *p, int64_t ts_ms, const char *origin,
			     const char *reason, const void *raw, size_t len,
			     uint64_t *ticket);

/* Wait until the item with this ticket is committed, at most timeout_ms.
 * Returns 0 when committed, -1 on timeout. */
int pipeline_wait(struct pipeline *p, uint64_t ticket, int timeout_ms);

/*
 * Hand a sink's position (and its last error, "" for none) to the writer,
 * which stores it within a commit interval; a newer post for the same sink
 * replaces an unstored one. Returns 0, or -1 once the pipeline is stopping
 * (the caller then writes the position itself: the writer is gone).
 */
int pipeline_post_position(struct pipeline *p, const char *sink, uint64_t seq,
			   const char *last_error);

/* Wait until an event with seq > after is committed (or the pipeline
 * stops), at most timeout_ms: forwarders sleep here when they have caught
 * up. Returns 1 if there is such an event, 0 otherwise. */
int pipeline_wait_events(struct pipeline *p, uint64_t after, int timeout_ms);

/* Copy the counters. */
void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *out);

/* 1 when the writer met a damaged page (a write or the limits' reads failed
 * with STORE_ECORRUPT; the marker is left, store_mark_damaged()), with its
 * error in cause; the agent then restarts itself. 0 otherwise. */
int pipeline_buffer_damaged(struct pipeline *p, char *cause, size_t causelen);

/*
 * Commit everything queued (retrying for at most drain_ms when the disk
 * refuses) and end the writer, but keep the pipeline readable (stats,
 * pipeline_wait_events() returns at once) until pipeline_stop(). Only one
 * thread may call it, once or more.
 */
void pipeline_drain(struct pipeline *p, int drain_ms);

/*
 * Stop: commit everything queued (retrying for at most drain_ms when the
 * disk refuses), join the writer, free. Logs how many items could not be
 * committed, if any. Clears the pointer; accepts NULL.
 */
void pipeline_stop(struct pipeline **p, int drain_ms);

#endif
