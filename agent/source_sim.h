/*
 * source_sim.h - the simulator source ([source] type = simulator): one
 * thread that generates the site's simulated readings on their schedule
 * (sensors/sim.h, paced by the wall clock, or a clock [simulator]
 * time_scale times faster) and feeds each through ingest,
 * as the MQTT source does with messages. Its readings are committed in the
 * writer's group commits (SPEC §5): nothing waits for a commit.
 */
#ifndef FIELDGATE_AGENT_SOURCE_SIM_H
#define FIELDGATE_AGENT_SOURCE_SIM_H

#include <stddef.h>

#include "agent/config.h"
#include "agent/ingest.h"

struct sim_source;

/*
 * Build the generator from cfg's [simulator] settings (first readings now)
 * and start the thread. scorer is the live set, shadow (may be NULL) the
 * shadow set: both score the first reading already. On success the source
 * owns them; on failure they stay the caller's. alerts may be NULL.
 * Returns 0, or -1 with one line in err.
 */
int sim_source_start(struct sim_source **out, const struct config *cfg, struct pipeline *pipe,
		     struct scorer *scorer, struct scorer *shadow, struct ingest_counters *ctr,
		     struct alerts *alerts, char *err, size_t errlen);

/* The source's ingest context, for offering it new models (ingest.h says
 * which of its parts other threads may touch). */
struct ingest *sim_source_ingest(struct sim_source *s);

/*
 * Stop the thread and free the source. A thread blocked on a full queue
 * (the disk refuses commits) is released by draining the pipeline, for at
 * most drain_ms. Clears the pointer; accepts NULL.
 */
void sim_source_stop(struct sim_source **s, int drain_ms);

#endif
