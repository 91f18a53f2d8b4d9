/*
 * kafka.h - the Kafka forwarder: a librdkafka idempotent producer (acks=all)
 * behind the sink interface (sink.h).
 *
 * Each event is produced to one topic with key = sensor_id (so one sensor's
 * events stay in one partition, in order), value = the event JSON, headers
 * event_id and gateway_id. Outcomes come from librdkafka's delivery reports:
 * success -> SINK_DELIVERED; a content error (message too large, invalid
 * record) -> SINK_REJECTED; anything else, including librdkafka's own
 * message timeout -> SINK_RETRY, so an outage never turns into loss. After
 * a fatal idempotence error the producer is rebuilt and what was in flight
 * is reported SINK_RETRY. This is the only file that includes librdkafka.
 */
#ifndef FIELDGATE_SINKS_KAFKA_H
#define FIELDGATE_SINKS_KAFKA_H

#include <stddef.h>

#include "sinks/sink.h"

struct kafka_sink_options {
	const char *brokers;              /* bootstrap list host:port[,host:port] */
	const char *topic;                /* destination topic */
	const char *client_id;            /* client.id (e.g. fieldgate-GATEWAY) */
	const char *const *prop_names;    /* extra librdkafka properties, applied last */
	const char *const *prop_values;
	size_t nprops;
	size_t max_inflight;              /* events taken but not reported, at most */
	sink_outcome_fn on_outcome;       /* see sink.h */
	sink_state_fn on_state;
	void *ctx;
};

/* Create the producer. Returns 0 and the sink in *out, or -1 with a reason
 * in err (a bad property names itself: "property.linger.ms: ..."). */
int kafka_sink_create(struct sink **out, const struct kafka_sink_options *opt,
		      char *err, size_t errlen);

/* Check one librdkafka producer property (config file: property.NAME)
 * without connecting anywhere. Properties fieldgate sets itself for its
 * guarantees (bootstrap list, idempotence, acks) are refused. Returns 0, or
 * -1 with the reason in err. */
int kafka_check_property(const char *name, const char *value, char *err, size_t errlen);

/* librdkafka's version ("2.0.2"). */
const char *kafka_library_version(void);

/* 1 if name is a topic name Kafka accepts: 1 to 249 characters from
 * A-Z a-z 0-9 . _ -, and neither "." nor ".."; 0 if not. */
int kafka_topic_valid(const char *name);

#endif
