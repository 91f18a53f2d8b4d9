/*
 * source_mqtt.h - the MQTT input: subscribes with the site's [mqtt]
 * settings and feeds every message through ingest on Paho's receive
 * thread. For QoS >= 1 the message callback returns - and so Paho
 * acknowledges the message - only after the reading (or its quarantine
 * record) is committed to the buffer (SPEC §5). A commit that cannot happen
 * (disk full) keeps the acknowledgement back, is logged, and marks the
 * source unhealthy; if the agent must stop while an acknowledgement is held,
 * it exits without sending it, so the broker redelivers the reading.
 */
#ifndef FIELDGATE_AGENT_SOURCE_MQTT_H
#define FIELDGATE_AGENT_SOURCE_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "agent/ingest.h"
#include "agent/state.h"
#include "sensors/mqtt.h"

struct mqtt_source;

/*
 * Start the source: read the password file (if any), connect in the
 * background, subscribe. scorer is the live set, shadow (may be NULL) the
 * shadow set. On success the source owns them; on failure they stay the
 * caller's. alerts (may be NULL) is given the connection to publish on.
 * Returns 0, or -1 with one line in err (unreadable password file, bad URI,
 * unreadable TLS file).
 */
int mqtt_source_start(struct mqtt_source **out, const struct config *cfg,
		      struct pipeline *pipe, struct scorer *scorer, struct scorer *shadow,
		      struct ingest_counters *ctr, struct alerts *alerts,
		      char *err, size_t errlen);

/* The source's ingest context, for offering it new models (ingest.h says
 * which of its parts other threads may touch). */
struct ingest *mqtt_source_ingest(struct mqtt_source *s);

/* Add the connection state to a state snapshot (source_* keys). */
void mqtt_source_state(struct mqtt_source *s, struct state *st);

/* Stop: no new messages, finish the one in progress, disconnect, free.
 * Clears the pointer; accepts NULL. */
void mqtt_source_stop(struct mqtt_source **s);

/*
 * Start an MQTT client with the site's [mqtt] settings, reading
 * password_file (the password is wiped after use). subscribe = 1: the
 * configured topics, QoS and clean_session; 0: a publish-only client with a
 * clean session. Returns 0, or -1 with one line in err.
 */
int mqtt_source_client(struct mqtt_client **out, const struct config *cfg, int subscribe,
		       mqtt_message_fn msg_fn, mqtt_state_fn state_fn, void *ctx,
		       char *err, size_t errlen);

#endif
