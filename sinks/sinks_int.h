/*
 * sinks_int.h - internals shared by the sinks' own files (not for use
 * outside sinks/).
 */
#ifndef FIELDGATE_SINKS_SINKS_INT_H
#define FIELDGATE_SINKS_SINKS_INT_H

#include <stddef.h>

#include "sinks/sink.h"

/* printf into the caller's error buffer (nothing when err is NULL or errlen 0). */
void sinks__seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill the common head of a sink. */
void sinks__init(struct sink *s, const struct sink_ops *ops, const char *name,
		 sink_outcome_fn on_outcome, sink_state_fn on_state, void *ctx);

/*
 * How es.c reads a 200 `_bulk` response (exposed for tests/fuzz): body[0..len),
 * NUL-terminated at len, answers the n events ev[0..n) in order. Every event
 * gets exactly one outcome through on_outcome(ctx, ...): items with status
 * 2xx or 409 are delivered; 429, 5xx and items without a status (or with a
 * number outside 100..999, which is none) are retried after retry_after_ms;
 * any other item is rejected with ES's "status type: reason". A response
 * without one item per event retries them all.
 */
void es__bulk_outcomes(const char *body, size_t len, const struct sink_event *ev, size_t n,
		       int64_t retry_after_ms, sink_outcome_fn on_outcome, void *ctx);

#endif
