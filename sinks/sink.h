/*
 * sink.h - what every forwarder (Kafka, Elasticsearch) looks like to the
 * agent: one interface, three outcomes per event, as in Fluent Bit.
 *
 *   send     hand over a batch of events (copied; the caller's buffers may
 *            be reused as soon as send returns);
 *   poll     let the sink make progress and report outcomes;
 *   flush    wait (bounded) until nothing is in flight;
 *   destroy  free everything; events still in flight get no outcome.
 *
 * Each event handed over gets exactly one outcome, through the callback
 * given at creation, on the thread that called send/poll/flush:
 *   SINK_DELIVERED  the far end acknowledged it (or already had it);
 *   SINK_RETRY      not delivered this time (outage, timeout, overload):
 *                   keep it and send it again later;
 *   SINK_REJECTED   refused for its content (too large, mapping error):
 *                   retrying cannot help; the reason says why.
 * Connection-level news (all brokers down, credentials refused) goes to
 * the state callback; it is information for an operator, not an outcome.
 * A sink is used by one thread. Sinks never log and never exit.
 */
#ifndef FIELDGATE_SINKS_SINK_H
#define FIELDGATE_SINKS_SINK_H

#include <stddef.h>
#include <stdint.h>

enum sink_outcome {
	SINK_DELIVERED = 0,
	SINK_RETRY = 1,
	SINK_REJECTED = 2,
};

/* One event to forward. Strings are not NUL-terminated. */
struct sink_event {
	uint64_t seq;            /* its seq in the buffer, echoed in its outcome */
	int64_t ts_ms;           /* when its reading arrived (ms since the epoch) */
	const char *data;        /* the event JSON (SPEC §4) */
	size_t len;
	const char *sensor_id;   /* unescaped sensor_id (the Kafka key) */
	size_t sensor_id_len;
	const char *event_id;    /* unescaped event_id */
	size_t event_id_len;
	const char *gateway_id;  /* unescaped gateway_id */
	size_t gateway_id_len;
	const char *event_id_json; /* event_id as it appears in data: JSON-escaped, no quotes */
	size_t event_id_json_len;
};

/*
 * The outcome of one event. reason: NULL for SINK_DELIVERED, else a short
 * text for the dead-letter table or the sink's last error. retry_after_ms:
 * for SINK_RETRY, how long the far end asked us to wait (0 = our choice).
 */
typedef void (*sink_outcome_fn)(void *ctx, uint64_t seq, enum sink_outcome outcome,
				const char *reason, int64_t retry_after_ms);

/* News about the connection: up = 0 when the sink cannot reach its peer
 * (reason says why), 1 when it can again. Sinks may repeat themselves; the
 * caller logs changes only. */
typedef void (*sink_state_fn)(void *ctx, int up, const char *reason);

struct sink;

struct sink_ops {
	/* Take up to n events. Returns how many were taken (0..n; fewer when the
	 * sink is full: call poll and offer the rest later), or -1 with a reason
	 * in err when the sink is unusable. */
	long (*send)(struct sink *s, const struct sink_event *ev, size_t n,
		     char *err, size_t errlen);
	/* Serve callbacks for up to timeout_ms. Returns 0. */
	int (*poll)(struct sink *s, int timeout_ms);
	/* Wait at most timeout_ms for everything in flight to get its outcome.
	 * Returns how many events are still in flight. */
	size_t (*flush)(struct sink *s, int timeout_ms);
	/* Events taken whose outcome is not reported yet. */
	size_t (*inflight)(const struct sink *s);
	/* Free; accepts NULL. */
	void (*destroy)(struct sink *s);
};

/* The common head of every sink; implementations embed it first. */
struct sink {
	const struct sink_ops *ops;  /* the implementation */
	const char *name;            /* "kafka", "elasticsearch": its position's name */
	sink_outcome_fn on_outcome;  /* outcome callback */
	sink_state_fn on_state;      /* state callback (may be NULL) */
	void *ctx;                   /* passed to both */
};

/* Destroy a sink through its ops and clear the pointer; accepts NULL. */
static inline void sink_destroy(struct sink **s)
{
	if (s && *s) {
		(*s)->ops->destroy(*s);
		*s = NULL;
	}
}

#endif
