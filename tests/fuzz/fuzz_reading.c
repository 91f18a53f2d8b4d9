/*
 * fuzz_reading.c - the reading decoder (sensors/reading.h) on any bytes:
 * reading_decode(), reading_decode_with_id() (the MQTT input with a sensor
 * id from the topic), reading_decode_event() (retraining from the buffer)
 * and reading_parse_time(). The input is not NUL-terminated, so a read past
 * len is an ASan error. What is checked: a rejection has a code from the
 * list, a stable reason name and a one-line reason; an accepted reading
 * meets SPEC §3 (ranges, lengths, calendar) and reading_encode() of it
 * decodes to the same reading, field for field.
 */
#include <math.h>
#include <string.h>

#include "sensors/reading.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_NOW_MS 1764547200000LL /* 2025-12-01T00:00:00Z, for readings without a time */

static void fuzz__check_reading(const char *what, int rc, const struct reading *r,
				const char *err, size_t errlen)
{
	if (rc != READING_OK) {
		FUZZ_ASSERT(rc < 0 && rc > -READING_NREASONS, "%s: code %d not in the list", what, rc);
		FUZZ_ASSERT(strcmp(reading_reason_name(rc), "unknown") != 0, "%s: code %d has no name",
			    what, rc);
		FUZZ_ASSERT(fuzz_one_line(err, errlen), "%s: code %d without a one-line reason", what, rc);
		return;
	}
	FUZZ_ASSERT(memchr(r->sensor_id, 0, sizeof r->sensor_id) && r->sensor_id[0],
		    "%s: sensor_id empty or not terminated", what);
	FUZZ_ASSERT(memchr(r->location, 0, sizeof r->location), "%s: location not terminated", what);
	FUZZ_ASSERT(r->has_location || !r->location[0], "%s: a location without has_location", what);
	FUZZ_ASSERT(isfinite(r->temperature) && r->temperature >= -60 && r->temperature <= 150,
		    "%s: temperature %.17g accepted", what, r->temperature);
	FUZZ_ASSERT(isfinite(r->humidity) && r->humidity >= 0 && r->humidity <= 100,
		    "%s: humidity %.17g accepted", what, r->humidity);
	FUZZ_ASSERT(!r->has_geo || (isfinite(r->lat) && isfinite(r->lon)),
		    "%s: geo %.17g,%.17g accepted", what, r->lat, r->lon);
	FUZZ_ASSERT(r->hour_of_day >= 0 && r->hour_of_day <= 23, "%s: hour_of_day %d", what,
		    r->hour_of_day);
	FUZZ_ASSERT(r->day_of_week >= 0 && r->day_of_week <= 6, "%s: day_of_week %d", what,
		    r->day_of_week);
	FUZZ_ASSERT(r->status_flag >= -1 && r->status_flag <= 2, "%s: status_flag %d", what,
		    r->status_flag);
	FUZZ_ASSERT(r->is_anomaly >= -1 && r->is_anomaly <= 1, "%s: is_anomaly %d", what,
		    r->is_anomaly);
}

/* reading_encode() of an accepted reading decodes to the same reading. */
static void fuzz__check_round_trip(const char *what, const struct reading *r)
{
	char buf[READING_MAX_BYTES], err[256];
	struct reading back;
	int n = reading_encode(r, buf, sizeof buf), rc;

	FUZZ_ASSERT(n > 0, "%s: an accepted reading does not encode", what);
	rc = reading_decode(buf, (size_t)n, 0, &back, err, sizeof err);
	FUZZ_ASSERT(rc == READING_OK, "%s: its encoding %s is rejected: %s", what, buf, err);
	FUZZ_ASSERT(strcmp(back.sensor_id, r->sensor_id) == 0 &&
		    strcmp(back.location, r->location) == 0 &&
		    back.temperature == r->temperature && back.humidity == r->humidity &&
		    back.timestamp_ms == r->timestamp_ms && back.has_location == r->has_location &&
		    back.has_geo == r->has_geo &&
		    (!r->has_geo || (back.lat == r->lat && back.lon == r->lon)) &&
		    back.hour_of_day == r->hour_of_day && back.day_of_week == r->day_of_week &&
		    back.status_flag == r->status_flag && back.is_anomaly == r->is_anomaly,
		    "%s: %s decodes to a different reading", what, buf);
}

int fuzz_reading(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct reading r;
	char err[256], s[64];
	int rc;
	int64_t ms;

	rc = reading_decode(p, size, FUZZ_NOW_MS, &r, err, sizeof err);
	fuzz__check_reading("reading_decode", rc, &r, err, sizeof err);
	if (rc == READING_OK)
		fuzz__check_round_trip("reading_decode", &r);

	rc = reading_decode_with_id(p, size, FUZZ_NOW_MS, "topic-id", &r, err, sizeof err);
	fuzz__check_reading("reading_decode_with_id", rc, &r, err, sizeof err);
	if (rc == READING_OK)
		fuzz__check_round_trip("reading_decode_with_id", &r);

	rc = reading_decode_event(p, size, &r, err, sizeof err);
	fuzz__check_reading("reading_decode_event", rc, &r, err, sizeof err);
	if (rc == READING_OK)
		fuzz__check_round_trip("reading_decode_event", &r);

	/* A short input is also a time: RFC 3339 or epoch ms. */
	if (size < sizeof s) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (reading_parse_time(s, &ms) == 0) {
			char out[READING_TIME_LEN];
			int64_t back;
			int n = reading_format_time(ms, out);

			FUZZ_ASSERT(n > 0 && (size_t)n < sizeof out, "time %s formats to %d bytes", s, n);
			/* Years 0000..9999 have an RFC 3339 form that reads back. */
			if (ms >= -62167219200000LL && ms <= 253402300799999LL)
				FUZZ_ASSERT(reading_parse_time(out, &back) == 0 && back == ms,
					    "time %s: %lld formats as %s, which does not read back", s,
					    (long long)ms, out);
		}
	}
	return 0;
}

FUZZ_TARGET(fuzz_reading)
