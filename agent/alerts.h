/*
 * alerts.h - event-driven alerts at the edge: when a reading is predicted
 * anomalous or its status is warning or fault, publish a compact JSON alert
 * over MQTT (QoS 1) to a per-sensor topic, at most one per sensor per
 * min_interval. Best effort: an alert that cannot be published (broker
 * down, window full) is counted and dropped; the event itself is always
 * buffered and forwarded.
 *
 * Payload: {"alert":"anomaly"|"warning"|"fault","sensor_id":..,"gateway_id":..,
 * "site":..,"@timestamp":..,"temperature":..,"humidity":..,"status":N,
 * "status_probability":P,"anomaly_probability":P}. "fault" wins over
 * "anomaly", which wins over "warning".
 *
 * The rate limit keeps, per sensor, the time of its last alert, for at most
 * max_sensors sensors: a sensor whose last alert is min_interval old or
 * older is forgotten (its next alert would go out anyway), and beyond the
 * cap the sensor looked at least recently is forgotten, which lets its next
 * alert through before min_interval has passed.
 */
#ifndef FIELDGATE_AGENT_ALERTS_H
#define FIELDGATE_AGENT_ALERTS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sensors/event.h"
#include "sensors/mqtt.h"
#include "sensors/reading.h"

struct alerts_options {
	const char *topic;          /* template; "{sensor_id}" is replaced */
	int64_t min_interval_ms;    /* per-sensor rate limit, 0 = none */
	size_t max_sensors;         /* sensors whose last alert is remembered, >= 1 */
	const char *gateway_id;     /* copied into each alert */
	const char *site;           /* copied into each alert */
};

struct alerts;

/* Create. Returns 0, or -1 (out of memory, max_sensors out of range).
 * Alerts go nowhere until a client is set. */
int alerts_create(struct alerts **out, const struct alerts_options *opt);

/* The client to publish with (not owned; NULL stops publishing). */
void alerts_set_client(struct alerts *a, struct mqtt_client *c);

/* Free and clear; accepts NULL. */
void alerts_free(struct alerts **a);

/* Consider one scored reading (source thread). */
void alerts_consider(struct alerts *a, const struct reading *r,
		     const struct event_prediction *p, int64_t now_ms);

/* Counters. */
struct alerts_stats {
	uint64_t sent;        /* alerts handed to the client */
	uint64_t limited;     /* held back by the per-sensor rate limit */
	uint64_t failed;      /* could not be published */
};
void alerts_get_stats(struct alerts *a, struct alerts_stats *out);

#endif
