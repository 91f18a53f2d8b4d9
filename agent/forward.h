/*
 * forward.h - one thread per enabled sink that moves events from the buffer
 * to the sink, oldest first, and advances the sink's position only over
 * what the far end acknowledged (SPEC §5).
 *
 * The forwarder reads committed events from SQLite with its own handle (so
 * a restart or an outage simply resumes from the stored position), keeps a
 * bounded window of events in flight, and handles the three outcomes of
 * sinks/sink.h: delivered (the contiguous delivered prefix becomes the new
 * position), retry later (the event is read again from the buffer after a
 * backoff with jitter), rejected (a dead-letter row with the reason; the
 * position moves past it). It never blocks ingestion: the buffer is the
 * queue between the two. It logs once when the sink goes down and once when
 * it delivers again.
 *
 * Replay mode (fieldgate replay) sends a seq range without reading or
 * writing the live position.
 */
#ifndef FIELDGATE_AGENT_FORWARD_H
#define FIELDGATE_AGENT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "agent/pipeline.h"
#include "sinks/sink.h"
#include "store/store.h"

struct forward;

struct forward_options {
	const char *name;          /* sink name: "kafka", "elasticsearch" */
	const char *describe;      /* for the start line: "brokers X, topic T" */
	struct store_options store; /* to open the forwarder's own handle */
	struct pipeline *pipe;     /* to wake on commits (NULL: poll the buffer) */
	size_t window;             /* events in flight at most */
	size_t batch;              /* events read and handed over at a time */
	int replay;                /* 1: send [from_seq, until_seq] and stop; no positions */
	uint64_t from_seq;         /* replay: first seq */
	uint64_t until_seq;        /* replay: last seq (inclusive) */
	int64_t since_ms, until_ms; /* replay: only events whose arrival time is in this range */
	int64_t max_rate;          /* replay: events per second at most (0 = no limit) */
};

/* Live counters, readable from any thread. */
struct forward_stats {
	uint64_t delivered;        /* events acknowledged */
	uint64_t retried;          /* SINK_RETRY outcomes (an event may count several times) */
	uint64_t rejected;         /* events dead-lettered */
	uint64_t missing;          /* events gone from the buffer before delivery (max_mb) */
	uint64_t position;         /* the acknowledged prefix */
	uint64_t sent_seq;         /* highest seq handed to the sink */
	uint64_t inflight;         /* events handed over, no outcome yet */
	int up;                    /* 1 delivering, 0 down, -1 nothing delivered yet */
	int done;                  /* replay: finished */
	char last_error[256];      /* "" when none */
};

/* Allocate the forwarder and open its buffer handle (no thread yet).
 * Returns 0, or -1 with a reason in err. */
int forward_create(struct forward **out, const struct forward_options *opt,
		   char *err, size_t errlen);

/* The callbacks and context to give the sink at its creation. */
void forward_on_outcome(void *fw, uint64_t seq, enum sink_outcome o, const char *reason,
			int64_t retry_after_ms);
void forward_on_state(void *fw, int up, const char *reason);

/* Take the sink and start the thread. Returns 0 (the forwarder owns the
 * sink from now on), or -1 with a reason in err (the sink stays the
 * caller's). */
int forward_start(struct forward *fw, struct sink *sink, char *err, size_t errlen);

/* Wait for a replay to finish (the thread ends by itself then). */
void forward_wait(struct forward *fw);

/* Delivery latency over the last 10 to 20 s: reading arrived -> sink
 * acknowledged, in whole ms (arrival times are kept in ms), from a 1 ms
 * histogram; 10000 means "10 s or more", under 1 ms is reported as 1. All
 * zero when nothing was delivered in that time. */
struct forward_latency {
	uint64_t count;   /* deliveries measured */
	int p50_ms, p99_ms, max_ms;
};
void forward_latency(struct forward *fw, struct forward_latency *out);

/* The sink's name ("kafka"). */
const char *forward_name(const struct forward *fw);

/* Non-zero once a stop's flush time is over: a sink blocked in a request
 * should give up (the event stays in the buffer). Takes the forwarder as
 * the sinks' callback context. */
int forward_cancelled(void *fw);

/* Copy the counters. */
void forward_get_stats(struct forward *fw, struct forward_stats *out);

/* 1 when a read of the buffer failed with STORE_ECORRUPT (the marker is
 * left, store_mark_damaged()), with its error in cause; the agent then
 * restarts itself. 0 otherwise. */
int forward_buffer_damaged(struct forward *fw, char *cause, size_t causelen);

/* Ask the thread to finish within flush_ms, without waiting: stop several
 * forwarders at once, then forward_stop() each. */
void forward_request_stop(struct forward *fw, int flush_ms);

/*
 * Stop: keep sending what is committed for at most flush_ms, wait for
 * outcomes within the same time, store the position, destroy the sink and
 * free everything. What was not acknowledged stays in the buffer for next
 * time. Clears the pointer; accepts NULL.
 */
void forward_stop(struct forward **fw, int flush_ms);

#endif
