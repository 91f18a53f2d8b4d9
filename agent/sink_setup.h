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

/* What sink_setup_start() returns. */
enum sink_setup_rc {
	SINK_SETUP_OK = 0,          /* the forwarder runs */
	SINK_SETUP_FAILED = -1,     /* a runtime failure (exit status 1) */
	SINK_SETUP_BAD_FILE = -2,   /* a file the config names cannot be used, e.g. an
				       unreadable password_file (exit status 2) */
};

/*
 * Create the forwarder for sink `name` ("kafka" or "elasticsearch") from
 * base (store options, pipeline, replay range; name/describe/window/batch
 * are filled in here), create its sink from cfg, and start the thread.
 * Returns SINK_SETUP_OK with *out set, or another sink_setup_rc with a
 * reason in err and *out NULL.
 */
enum sink_setup_rc sink_setup_start(struct forward **out, const char *name, const struct config *cfg,
				    const struct forward_options *base, char *err, size_t errlen);

#endif
