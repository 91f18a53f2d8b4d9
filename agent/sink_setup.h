/*
 * sink_setup.h - building a configured sink ([kafka], [elasticsearch]) and
 * the forwarder that drives it, for `fieldgate run` (live, from the
 * position) and `fieldgate replay` (a seq range, no position).
 */
#ifndef FIELDGATE_AGENT_SINK_SETUP_H
#define FIELDGATE_AGENT_SINK_SETUP_H

#include <stddef.h>

#include "agent/config.h"
#include "agent/forward.h"

#define SINK_SETUP_MAX 2 /* kafka, elasticsearch */

/* Names of the sinks enabled in cfg, in a fixed order; returns how many. */
size_t sink_setup_enabled(const struct config *cfg, const char *names[SINK_SETUP_MAX]);

/*
 * Create the forwarder for sink `name` ("kafka" or "elasticsearch") from
 * base (store options, pipeline, replay range; name/describe/window/batch
 * are filled in here), create its sink from cfg, and start the thread.
 * Returns 0; -1 with a reason in err (runtime failure); -2 for a problem
 * with the configuration's files (an unreadable password_file).
 */
int sink_setup_start(struct forward **out, const char *name, const struct config *cfg,
		     const struct forward_options *base, char *err, size_t errlen);

#endif
