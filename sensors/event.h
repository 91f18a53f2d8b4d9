/*
 * event.h - the scored event's JSON encoder (SPEC §4).
 *
 * An event is written in two parts so that the store writer can give it its
 * sequence number at commit time without re-encoding anything:
 *
 *   head: {"event_id":"GW:SEQ","gateway_id":"GW","site":"SITE","seq":SEQ,
 *   body: "sensor_id":...,"models":{...}}
 *
 * The body is encoded on the thread that scored the reading (microseconds);
 * the head is a few dozen bytes formatted by the writer once the sequence
 * number is known (a duplicate reading never consumes one). head + body is
 * the event JSON, byte for byte. This module knows nothing of models: the
 * caller passes plain prediction values.
 */
#ifndef FIELDGATE_SENSORS_EVENT_H
#define FIELDGATE_SENSORS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "sensors/reading.h"

struct event_prediction {
	int status;                  /* predicted status_flag 0..2 */
	double status_probability;   /* probability of that class */
	int anomaly;                 /* 1 if predicted anomalous */
	double anomaly_probability;  /* P(anomaly) */
	double humidity;             /* predicted humidity, % RH */
	double humidity_residual;    /* measured minus predicted */
};

struct event_models {
	const char *status;    /* "status_predictor@1" */
	const char *anomaly;   /* "anomaly_detector@1" */
	const char *humidity;  /* "humidity_regressor@1" */
};

/* The predictions of a second, candidate set of models (the shadow set),
 * for events that carry them beside the live set's. */
struct event_shadow {
	const struct event_prediction *p;  /* what the shadow set predicted */
	const struct event_models *m;      /* its model names */
};

/* Upper bound of a head's length for any gateway_id/site of sane length. */
#define EVENT_HEAD_MAX 1024

/*
 * Encode the body: every field of SPEC §4 after "seq", from the reading, its
 * arrival time, the predictions and the model names, ending with "}".
 * Optional fields (location, geo, status_flag, is_anomaly) appear only when
 * the reading had them. Strings are JSON-escaped. Numbers are written so
 * they read back as the same double (shortest round-trip form).
 * The four prediction numbers are first rounded to 6 significant digits
 * (events stay short; no model is that precise), and a non-finite one is
 * written as 0 (JSON has no NaN; valid readings never carry one).
 * Returns the length (excluding the NUL), or -1 if cap is too small.
 */
int event_encode_body(const struct reading *r, int64_t received_ms,
		      const struct event_prediction *p,
		      const struct event_models *m, char *buf, size_t cap);

/*
 * The same, and when shadow is not NULL a last field after "models":
 * "shadow":{"prediction":{...},"models":{...}}, written as the live ones.
 */
int event_encode_body_shadow(const struct reading *r, int64_t received_ms,
			     const struct event_prediction *p, const struct event_models *m,
			     const struct event_shadow *shadow, char *buf, size_t cap);

/*
 * Encode the head for sequence number seq (see above); gateway_id and site
 * are escaped. Returns the length, or -1 if cap is too small.
 */
int event_encode_head(const char *gateway_id, const char *site, uint64_t seq,
		      char *buf, size_t cap);

/*
 * Write s as a JSON string literal (with quotes) into buf. Returns the length,
 * or -1 if cap is too small. Exposed for other encoders in the agent.
 */
int event_json_string(const char *s, char *buf, size_t cap);

/* The identifying fields at the start of a stored event, as spans into the
 * event's bytes, still JSON-escaped (without the quotes). */
struct event_ids {
	const char *event_id;    /* "GW:SEQ" */
	size_t event_id_len;
	const char *gateway_id;
	size_t gateway_id_len;
	const char *sensor_id;
	size_t sensor_id_len;
	uint64_t seq;            /* the "seq" number */
	int escaped;             /* 1 if any span holds a backslash escape */
};

/*
 * Read event_id, gateway_id, seq and sensor_id from the head of an event
 * written by this encoder (head + body), without parsing the rest: a
 * forwarder needs them for every event (Kafka key and headers, the
 * Elasticsearch _id). Returns 0, or -1 if data does not start like an event.
 */
int event_peek(const char *data, size_t len, struct event_ids *out);

/*
 * Decode a JSON-escaped string span (no quotes) into buf as UTF-8 and NUL
 * terminate it. Returns the length, or -1 on a bad escape or if cap is too
 * small.
 */
int event_unescape(const char *s, size_t len, char *buf, size_t cap);

#endif
