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

#endif
