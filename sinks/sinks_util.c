/*
 * sinks_util.c - small helpers shared by the sinks (sinks_int.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "sinks/sinks_int.h"

void sinks__seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void sinks__init(struct sink *s, const struct sink_ops *ops, const char *name,
		 sink_outcome_fn on_outcome, sink_state_fn on_state, void *ctx)
{
	s->ops = ops;
	s->name = name;
	s->on_outcome = on_outcome;
	s->on_state = on_state;
	s->ctx = ctx;
}
