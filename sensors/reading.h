/*
 * reading.h - the sensor reading: its in-memory form, the JSON decoder that
 * validates it exactly as SPEC §3 says, an encoder (for the simulator's JSON
 * lines), and the time helpers both directions need.
 *
 * The decoder is pure and allocation-light: it runs on the thread that
 * received the reading, for every MQTT message, so it must never log, exit or
 * keep state. A rejected reading gets a negative READING_E* code and a
 * one-line reason in the caller's buffer ("temperature: 180.5 outside
 * -60..150 °C"), which the agent stores in quarantine next to the raw bytes.
 */
#ifndef FIELDGATE_SENSORS_READING_H
#define FIELDGATE_SENSORS_READING_H

#include <stddef.h>
#include <stdint.h>

#define READING_ID_MAX 128         /* bytes in sensor_id, SPEC §3 */
#define READING_LOCATION_MAX 128   /* bytes in location */
#define READING_MAX_BYTES 16384    /* larger messages are rejected unparsed */
#define READING_TIME_MIN_MS 946684800000LL /* 2000-01-01: smaller is "seconds, not ms" */

/* Why a reading was rejected. The names (reading_reason_name) are stable:
 * they label the rejected-readings metric. */
enum reading_error {
	READING_OK = 0,
	READING_ETOOBIG = -1,    /* larger than READING_MAX_BYTES */
	READING_EUTF8 = -2,      /* not valid UTF-8 */
	READING_EJSON = -3,      /* not JSON */
	READING_EOBJECT = -4,    /* JSON, but not an object */
	READING_EMISSING = -5,   /* a required field is absent */
	READING_ETYPE = -6,      /* a field has the wrong JSON type */
	READING_ENONFINITE = -7, /* NaN or infinity */
	READING_ERANGE = -8,     /* a value outside its allowed range or length */
	READING_ENUL = -9,       /* a string or key holds \u0000, which would cut it short */
	READING_EDUPLICATE = -10, /* the same key twice in the object */
};
#define READING_NREASONS 11 /* number of enum values, for counter arrays */
#define READING_MAX_DEPTH 1000 /* nesting the parser takes (cJSON's CJSON_NESTING_LIMIT) */

struct reading {
	char sensor_id[READING_ID_MAX + 1];       /* non-empty, NUL-terminated */
	char location[READING_LOCATION_MAX + 1];  /* "" unless has_location */
	double temperature;    /* °C, -60..150 */
	double humidity;       /* % RH, 0..100 */
	double lat, lon;       /* degrees; meaningful only if has_geo */
	int64_t timestamp_ms;  /* epoch ms; time of arrival when the reading had none */
	int8_t has_location;   /* 1 if the reading carried "location" */
	int8_t has_geo;        /* 1 if it carried both "lat" and "lon" */
	int8_t hour_of_day;    /* 0..23, given or derived from timestamp (UTC) */
	int8_t day_of_week;    /* 0..6, Monday = 0, given or derived */
	int8_t status_flag;    /* ground truth 0..2, or -1 when absent */
	int8_t is_anomaly;     /* ground truth 0/1, or -1 when absent */
};

/*
 * Decode and validate one reading from buf[0..len) (need not be
 * NUL-terminated). now_ms is used when the reading has no timestamp.
 * Returns READING_OK and fills *out, or a negative READING_E* code with a
 * one-line reason in err (naming the field). Never allocates more than the
 * JSON parse needs; never reads past len.
 */
int reading_decode(const char *buf, size_t len, int64_t now_ms,
		   struct reading *out, char *err, size_t errlen);

/* The same, where default_id (may be NULL) supplies sensor_id when the
 * payload has none: the MQTT input takes it from a topic level. */
int reading_decode_with_id(const char *buf, size_t len, int64_t now_ms,
			   const char *default_id, struct reading *out,
			   char *err, size_t errlen);

/* Stable short name of a rejection code ("too_large", "not_utf8",
 * "not_json", "not_object", "missing_field", "wrong_type", "not_finite",
 * "out_of_range", "nul_in_string", "duplicate_key"); "ok" for READING_OK,
 * "unknown" otherwise. */
const char *reading_reason_name(int code);

/*
 * Encode a reading as one JSON object (no newline) in the SPEC §3 form,
 * with an epoch-ms timestamp and only the optional fields it has.
 * Returns the length written (excluding the NUL), or -1 if cap is too small.
 */
int reading_encode(const struct reading *r, char *buf, size_t cap);

/*
 * The reading a stored event (SPEC §4, as event_encode_body writes it) was
 * made from: its sensor_id, measured values, "@timestamp", location, "geo"
 * and ground truth, validated by the reading decoder's rules (retraining
 * from the buffer learns from exactly what was scored); "@timestamp" is
 * required (READING_EMISSING without it). Returns READING_OK or a negative
 * READING_E* code with a reason, as reading_decode().
 */
int reading_decode_event(const char *buf, size_t len, struct reading *out, char *err,
			 size_t errlen);

/*
 * Parse a time: an RFC 3339 string ("2026-11-21T22:00:00.123Z",
 * "...+02:00") or decimal epoch milliseconds. Returns 0 and sets *ms, or -1.
 */
int reading_parse_time(const char *s, int64_t *ms);

/* Format epoch ms as RFC 3339 UTC with milliseconds, "2026-11-21T22:00:00.123Z"
 * (24 chars + NUL). out must hold READING_TIME_LEN bytes. Returns the length. */
#define READING_TIME_LEN 32
int reading_format_time(int64_t ms, char *out);

/* hour_of_day (0..23) and day_of_week (0..6, Monday = 0) of epoch ms in UTC. */
void reading_derive_calendar(int64_t ms, int8_t *hour_of_day, int8_t *day_of_week);

/* Version of the JSON parser library in use (cJSON's "1.7.15"). */
const char *reading_library_version(void);

#endif
