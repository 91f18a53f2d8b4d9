/*
 * test_sensors.c - unit tests of the sensors/ module: the reading decoder
 * against a table of good readings and a fixture table of bad ones
 * (../data/readings/bad.tsv, every rejection code), the reading and event
 * encoders (parsed back with cJSON), the double formatter, the time helpers,
 * the simulator's determinism, validity and documented rates
 * (sensors/SIMULATOR.md), and the MQTT syntax checks the config loader uses.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/event.h"
#include "sensors/mqtt.h"
#include "sensors/reading.h"
#include "sensors/sensors_int.h"
#include "sensors/sim.h"
#include "tests/unit/check.h"

#define NOW_MS 1795298400123LL /* 2026-11-21T22:00:00.123Z, a Saturday */

static int decode_str(const char *json, struct reading *r, char *err, size_t errlen)
{
	return reading_decode(json, strlen(json), NOW_MS, r, err, errlen);
}

/* ---- good readings ---------------------------------------------------- */

struct good_case {
	const char *json;
	const char *sensor_id;
	double temperature, humidity;
	int64_t ts;
	int hour, dow, status, anomaly;
	const char *location; /* NULL: absent */
	int has_geo;
	double lat, lon;
};

static void test_good(void)
{
	static const struct good_case cases[] = {
		/* The SPEC §3 example, every field given. */
		{ "{\"sensor_id\": \"sensor-042\", \"temperature\": 23.4, \"humidity\": 45.1,\n"
		  " \"timestamp\": 1795298400123, \"location\": \"building-a\", \"lat\": 33.64, \"lon\": 72.99,\n"
		  " \"hour_of_day\": 14, \"day_of_week\": 3, \"status_flag\": 0, \"is_anomaly\": 0}",
		  "sensor-042", 23.4, 45.1, 1795298400123LL, 14, 3, 0, 0, "building-a", 1, 33.64, 72.99 },
		/* Minimal: no timestamp -> now; calendar derived (Saturday 22h). */
		{ "{\"sensor_id\":\"s\",\"temperature\":-60,\"humidity\":0}",
		  "s", -60, 0, NOW_MS, 22, 5, -1, -1, NULL, 0, 0, 0 },
		/* RFC 3339 with Z: 2026-11-21 is a Saturday. */
		{ "{\"sensor_id\":\"s\",\"temperature\":150,\"humidity\":100,\"timestamp\":\"2026-11-21T22:00:00Z\"}",
		  "s", 150, 100, 1795298400000LL, 22, 5, -1, -1, NULL, 0, 0, 0 },
		/* Offset +01:00 is the same instant; fraction kept to ms. */
		{ "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2,\"timestamp\":\"2026-11-21T23:00:00.123+01:00\"}",
		  "s", 1, 2, 1795298400123LL, 22, 5, -1, -1, NULL, 0, 0, 0 },
		/* Negative offset crossing midnight into Sunday. */
		{ "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2,\"timestamp\":\"2026-11-21T22:30:00-05:00\"}",
		  "s", 1, 2, 1795318200000LL, 3, 6, -1, -1, NULL, 0, 0, 0 },
		/* 2026-01-05 is a Monday, midnight. */
		{ "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2,\"timestamp\":1767571200000}",
		  "s", 1, 2, 1767571200000LL, 0, 0, -1, -1, NULL, 0, 0, 0 },
		/* Epoch ms as a digit string; is_anomaly as JSON true; extras ignored. */
		{ "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2,\"timestamp\":\"1767571200000\","
		  "\"is_anomaly\":true,\"status_flag\":2,\"firmware\":\"1.2\",\"extra\":{\"a\":[1,2]}}",
		  "s", 1, 2, 1767571200000LL, 0, 0, 2, 1, NULL, 0, 0, 0 },
		/* is_anomaly false, status 1, integral floats, nulls count as absent. */
		{ "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2,\"is_anomaly\":false,\"status_flag\":1.0,"
		  "\"location\":null,\"lat\":null,\"lon\":null,\"timestamp\":null,\"hour_of_day\":23.0}",
		  "s", 1, 2, NOW_MS, 23, 5, 1, 0, NULL, 0, 0, 0 },
		/* Geo at its limits. (Duplicate keys are a rejection, duplicate_key.) */
		{ "{\"sensor_id\":\"first\",\"temperature\":5,\"humidity\":6,"
		  "\"lat\":-90,\"lon\":180,\"location\":\"\"}",
		  "first", 5, 6, NOW_MS, 22, 5, -1, -1, "", 1, -90, 180 },
		/* Lowercase t and z, a sensor id with UTF-8 and escapes. */
		{ "{\"sensor_id\":\"k\\u00fchl \\\"1\\\"\",\"temperature\":1,\"humidity\":2,\"timestamp\":\"2000-01-01t00:00:00z\"}",
		  "k\xc3\xbchl \"1\"", 1, 2, 946684800000LL, 0, 5, -1, -1, NULL, 0, 0, 0 },
		/* Trailing whitespace and newline (a JSON line). */
		{ "  {\"sensor_id\":\"s\",\"temperature\":1e1,\"humidity\":2.5E1}  \r\n",
		  "s", 10, 25, NOW_MS, 22, 5, -1, -1, NULL, 0, 0, 0 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct good_case *c = &cases[i];
		struct reading r;
		memset(&r, 0x5a, sizeof r); /* decode must set every field */
		int rc = decode_str(c->json, &r, err, sizeof err);
		if (rc != READING_OK)
			fprintf(stderr, "good case %zu rejected: %s\n", i, err);
		CHECK_INT(rc, READING_OK);
		CHECK_STR(r.sensor_id, c->sensor_id);
		CHECK(r.temperature == c->temperature);
		CHECK(r.humidity == c->humidity);
		CHECK_INT(r.timestamp_ms, c->ts);
		CHECK_INT(r.hour_of_day, c->hour);
		CHECK_INT(r.day_of_week, c->dow);
		CHECK_INT(r.status_flag, c->status);
		CHECK_INT(r.is_anomaly, c->anomaly);
		CHECK_INT(r.has_location, c->location != NULL);
		CHECK_STR(r.location, c->location ? c->location : "");
		CHECK_INT(r.has_geo, c->has_geo);
		if (c->has_geo) {
			CHECK(r.lat == c->lat);
			CHECK(r.lon == c->lon);
		}
	}

	/* Lengths exactly at the limits are fine. */
	char big[600];
	char id[READING_ID_MAX + 1], loc[READING_LOCATION_MAX + 1];
	memset(id, 'i', READING_ID_MAX);
	id[READING_ID_MAX] = '\0';
	memset(loc, 'l', READING_LOCATION_MAX);
	loc[READING_LOCATION_MAX] = '\0';
	snprintf(big, sizeof big,
		 "{\"sensor_id\":\"%s\",\"temperature\":1,\"humidity\":2,\"location\":\"%s\"}", id, loc);
	struct reading r;
	CHECK_INT(decode_str(big, &r, err, sizeof err), READING_OK);
	CHECK_INT(strlen(r.sensor_id), READING_ID_MAX);
	CHECK_INT(strlen(r.location), READING_LOCATION_MAX);

	/* A message of exactly READING_MAX_BYTES (padded with spaces) is decoded. */
	char *msg = malloc(READING_MAX_BYTES + 1);
	CHECK(msg != NULL);
	if (msg) {
		const char *j = "{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":2}";
		memset(msg, ' ', READING_MAX_BYTES);
		memcpy(msg, j, strlen(j));
		CHECK_INT(reading_decode(msg, READING_MAX_BYTES, NOW_MS, &r, err, sizeof err), READING_OK);
		/* One more byte is too large, whatever it holds. */
		msg[READING_MAX_BYTES] = ' ';
		CHECK_INT(reading_decode(msg, READING_MAX_BYTES + 1, NOW_MS, &r, err, sizeof err),
			  READING_ETOOBIG);
		CHECK(strstr(err, "16385") != NULL);
		free(msg);
	}

	/* len bounds the input: the rest of the buffer is never looked at. */
	const char *two = "{\"sensor_id\":\"a\",\"temperature\":1,\"humidity\":2}garbage";
	CHECK_INT(reading_decode(two, strlen(two) - 7, NOW_MS, &r, err, sizeof err), READING_OK);
	CHECK_INT(reading_decode(two, strlen(two), NOW_MS, &r, err, sizeof err), READING_EJSON);
}

/* ---- bad readings ---------------------------------------------------- */

static int code_of(const char *name)
{
	for (int c = 0; c > -READING_NREASONS; c--)
		if (strcmp(reading_reason_name(c), name) == 0)
			return c;
	return 1;
}

static void test_bad_table(void)
{
	FILE *f = fopen("../data/readings/bad.tsv", "r");
	char line[2048], err[256];
	int seen[READING_NREASONS] = { 0 };
	int rows = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		CHECK(t1 && t2);
		if (!t1 || !t2)
			continue;
		*t1 = *t2 = '\0';
		int want = code_of(line);
		CHECK(want <= 0);
		struct reading r;
		int rc = decode_str(t2 + 1, &r, err, sizeof err);
		if (rc != want || !strstr(err, t1 + 1))
			fprintf(stderr, "bad.tsv: %s: got %s \"%s\"\n", t2 + 1,
				reading_reason_name(rc), err);
		CHECK_INT(rc, want);
		CHECK(strstr(err, t1 + 1) != NULL);
		if (want <= 0 && want > -READING_NREASONS)
			seen[-want]++;
		rows++;
	}
	fclose(f);
	CHECK(rows >= 50);
	/* The table covers every code from not_json on; the others below. */
	for (int c = -READING_EJSON; c < READING_NREASONS; c++)
		CHECK(seen[c] > 0);
}

static void test_bad_bytes(void)
{
	static const struct {
		const char *bytes;
		int want;
	} cases[] = {
		{ "{\"sensor_id\":\"\xc0\xaf\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },      /* overlong '/' */
		{ "{\"sensor_id\":\"\xe0\x80\xaf\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },  /* overlong 3-byte */
		{ "{\"sensor_id\":\"\xf0\x80\x80\xaf\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 }, /* overlong 4-byte */
		{ "{\"sensor_id\":\"\xed\xa0\x80\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },  /* surrogate D800 */
		{ "{\"sensor_id\":\"\xf4\x90\x80\x80\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 }, /* > U+10FFFF */
		{ "{\"sensor_id\":\"\xf5\x80\x80\x80\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },
		{ "{\"sensor_id\":\"\x80\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },          /* lone continuation */
		{ "{\"sensor_id\":\"\xc3\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },          /* truncated */
		{ "{\"sensor_id\":\"\xe2\x82\",\"temperature\":1,\"humidity\":2}", READING_EUTF8 },
		{ "{\"sensor_id\":\"\xe2\x82\xac \xf0\x9f\x8c\xa1\",\"temperature\":1,\"humidity\":2}", READING_OK }, /* € and U+1F321 */
		{ "{\"sensor_id\":\"\xed\x9f\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\",\"temperature\":1,\"humidity\":2}", READING_OK }, /* edges */
	};
	char err[256];
	struct reading r;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = decode_str(cases[i].bytes, &r, err, sizeof err);
		CHECK_INT(rc, cases[i].want);
		if (cases[i].want == READING_EUTF8)
			CHECK(strstr(err, "UTF-8") != NULL);
	}
	/* A UTF-8 sequence cut by len is invalid even if the buffer goes on. */
	const char *cut = "{\"sensor_id\":\"\xc3\xbc";
	CHECK_INT(reading_decode(cut, strlen(cut) - 1, NOW_MS, &r, err, sizeof err), READING_EUTF8);

	/* A raw NUL byte is never JSON. */
	const char nul[] = "{\"sensor_id\":\"a\0b\",\"temperature\":1,\"humidity\":2}";
	CHECK_INT(reading_decode(nul, sizeof nul - 1, NOW_MS, &r, err, sizeof err), READING_EJSON);
	CHECK(strstr(err, "not JSON") != NULL);
	/* Empty message. */
	CHECK_INT(reading_decode("", 0, NOW_MS, &r, err, sizeof err), READING_EJSON);
	CHECK(strstr(err, "not JSON") != NULL);

	/* Too big is decided before anything else, even for garbage. */
	size_t n = READING_MAX_BYTES + 100;
	char *junk = malloc(n);
	CHECK(junk != NULL);
	if (junk) {
		memset(junk, 0xff, n);
		CHECK_INT(reading_decode(junk, n, NOW_MS, &r, err, sizeof err), READING_ETOOBIG);
		CHECK(strstr(err, "larger than 16384") != NULL);
		free(junk);
	}

	/* A reason for a value names it. */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":180.5,\"humidity\":1}", &r, err, sizeof err),
		  READING_ERANGE);
	CHECK_STR(err, "temperature: 180.5 outside -60..150 °C");
	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":1,\"timestamp\":1763762400}",
			     &r, err, sizeof err), READING_ERANGE);
	CHECK_STR(err, "timestamp: 1763762400 looks like epoch seconds; expected epoch milliseconds");
	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":1,\"humidity\":1,\"lat\":1}", &r, err, sizeof err),
		  READING_EMISSING);
	CHECK(strstr(err, "lat without lon") != NULL);

	/* A tiny or absent error buffer is fine. */
	char small[8];
	CHECK_INT(decode_str("[1]", &r, small, sizeof small), READING_EOBJECT);
	CHECK_INT(strlen(small), 7);
	CHECK_INT(decode_str("[1]", &r, NULL, 0), READING_EOBJECT);
}

/* Issue 17: "s\u0000x" was stored as sensor "s" (cJSON ends its C string at
 * the NUL), and of a key given twice the first silently won. */
static void test_nul_and_duplicates(void)
{
	char err[256];
	struct reading r;

	CHECK_INT(decode_str("{\"sensor_id\":\"s\\u0000x\",\"temperature\":20,\"humidity\":50}",
			     &r, err, sizeof err), READING_ENUL);
	CHECK_STR(err, "sensor_id: string contains \\u0000 (a NUL character) at byte 15");
	/* An escaped backslash then "u0000" is six characters, not a NUL... */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\\\\u0000x\",\"temperature\":20,\"humidity\":50}",
			     &r, err, sizeof err), READING_OK);
	CHECK_STR(r.sensor_id, "s\\u0000x");
	/* ...and two of them before a real one leave it a NUL. */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\\\\\\\\\\u0000\",\"temperature\":20,\"humidity\":50}",
			     &r, err, sizeof err), READING_ENUL);
	/* Other escapes of a small code point are fine. */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\\u0001\\u00e9\",\"temperature\":20,\"humidity\":50}",
			     &r, err, sizeof err), READING_OK);
	CHECK_STR(r.sensor_id, "s\x01\xc3\xa9");
	/* A NUL in an unknown member, at any depth, or in a key, is rejected too. */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":20,\"humidity\":50,\"x\":[{\"y\":\"\\u0000\"}]}",
			     &r, err, sizeof err), READING_ENUL);
	CHECK(strstr(err, "x: a string nested in it contains") == err);
	CHECK_INT(decode_str("{\"a\\u0000b\":1,\"sensor_id\":\"s\",\"temperature\":20,\"humidity\":50}",
			     &r, err, sizeof err), READING_ENUL);
	CHECK(strstr(err, "key \"a\\u0000b\": contains") == err);
	/* MQTT's decoder, with the sensor id from the topic, is the same one. */
	const char *mq = "{\"temperature\":20,\"humidity\":50,\"location\":\"a\\u0000b\"}";
	CHECK_INT(reading_decode_with_id(mq, strlen(mq), NOW_MS, "s-1", &r, err, sizeof err),
		  READING_ENUL);
	CHECK(strstr(err, "location: ") == err);

	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":20,\"humidity\":50,\"temperature\":\"x\"}",
			     &r, err, sizeof err), READING_EDUPLICATE);
	CHECK(strstr(err, "temperature: duplicate key") == err);
	/* Many members (sorted, not compared pairwise): the first repeated key
	 * in document order is named, whatever sorts first. */
	{
		char big[8192];
		int n = snprintf(big, sizeof big, "{\"sensor_id\":\"s\",\"temperature\":20,\"humidity\":50");
		for (int i = 0; i < 500; i++)
			n += snprintf(big + n, sizeof big - (size_t)n, ",\"k%03d\":%d", i, i);
		snprintf(big + n, sizeof big - (size_t)n, "}");
		CHECK_INT(decode_str(big, &r, err, sizeof err), READING_OK);
		snprintf(big + n, sizeof big - (size_t)n, ",\"k400\":0,\"k007\":0,\"k400\":1}");
		CHECK_INT(decode_str(big, &r, err, sizeof err), READING_EDUPLICATE);
		CHECK(strstr(err, "k400: duplicate key") == err);
	}
	/* Members of a nested object the decoder does not read may repeat. */
	CHECK_INT(decode_str("{\"sensor_id\":\"s\",\"temperature\":20,\"humidity\":50,\"x\":{\"a\":1,\"a\":2}}",
			     &r, err, sizeof err), READING_OK);
	/* A stored event: its top level and "geo", which the decoder reads. */
	const char *ev = "{\"sensor_id\":\"s\",\"@timestamp\":\"2026-01-01T00:00:00Z\",\"temperature\":20,"
			 "\"humidity\":50,\"geo\":{\"lat\":1,\"lon\":2,\"lat\":3}}";
	CHECK_INT(reading_decode_event(ev, strlen(ev), &r, err, sizeof err), READING_EDUPLICATE);
	CHECK(strstr(err, "geo.lat: duplicate key") == err);

	/* Deeper than cJSON parses is said so, not "syntax error". */
	{
		char deep[READING_MAX_DEPTH + 2];
		memset(deep, '[', sizeof deep - 1);
		deep[sizeof deep - 1] = '\0';
		CHECK_INT(decode_str(deep, &r, err, sizeof err), READING_EJSON);
		CHECK(strstr(err, "nested deeper than 1000 levels at byte 1000") != NULL);
		/* One level less is a plain syntax error (unclosed). */
		deep[READING_MAX_DEPTH] = '\0';
		CHECK_INT(decode_str(deep, &r, err, sizeof err), READING_EJSON);
		CHECK(strstr(err, "syntax error") != NULL);
	}
}

static void test_reason_names(void)
{
	CHECK_STR(reading_reason_name(READING_OK), "ok");
	CHECK_STR(reading_reason_name(READING_ETOOBIG), "too_large");
	CHECK_STR(reading_reason_name(READING_EUTF8), "not_utf8");
	CHECK_STR(reading_reason_name(READING_EJSON), "not_json");
	CHECK_STR(reading_reason_name(READING_EOBJECT), "not_object");
	CHECK_STR(reading_reason_name(READING_EMISSING), "missing_field");
	CHECK_STR(reading_reason_name(READING_ETYPE), "wrong_type");
	CHECK_STR(reading_reason_name(READING_ENONFINITE), "not_finite");
	CHECK_STR(reading_reason_name(READING_ERANGE), "out_of_range");
	CHECK_STR(reading_reason_name(READING_ENUL), "nul_in_string");
	CHECK_STR(reading_reason_name(READING_EDUPLICATE), "duplicate_key");
	CHECK_STR(reading_reason_name(-READING_NREASONS), "unknown");
	CHECK_STR(reading_reason_name(5), "unknown");
}

/* ---- time ------------------------------------------------------------ */

static void test_time(void)
{
	static const struct {
		const char *s;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "2026-11-21T22:00:00Z", 1, 1795298400000LL },
		{ "2026-11-21T22:00:00.123Z", 1, 1795298400123LL },
		{ "2026-11-21T23:00:00+01:00", 1, 1795298400000LL },
		{ "2026-11-21T17:30:00-04:30", 1, 1795298400000LL },
		{ "2026-11-21t22:00:00z", 1, 1795298400000LL },
		{ "2026-11-21 22:00:00Z", 1, 1795298400000LL },
		{ "2026-11-21T22:00:00.5Z", 1, 1795298400500LL },
		{ "2026-11-21T22:00:00.123999Z", 1, 1795298400123LL },
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2000-02-29T00:00:00Z", 1, 951782400000LL },
		{ "2024-02-29T12:00:00Z", 1, 1709208000000LL },
		{ "9999-12-31T23:59:59.999Z", 1, 253402300799999LL },
		{ "1763762400123", 1, 1763762400123LL }, /* 2025-11-21, a Friday */
		{ "0", 1, 0 },
		{ "2026-13-01T00:00:00Z", 0, 0 },
		{ "2026-00-01T00:00:00Z", 0, 0 },
		{ "2026-02-30T00:00:00Z", 0, 0 },
		{ "2025-02-29T00:00:00Z", 0, 0 },
		{ "1900-02-29T00:00:00Z", 0, 0 },
		{ "2026-04-31T00:00:00Z", 0, 0 },
		{ "2026-11-00T00:00:00Z", 0, 0 },
		{ "2026-11-21T24:00:00Z", 0, 0 },
		{ "2026-11-21T22:60:00Z", 0, 0 },
		{ "2026-11-21T22:00:60Z", 0, 0 },
		{ "2026-11-21T22:00:00", 0, 0 },
		{ "2026-11-21T22:00:00.Z", 0, 0 },
		{ "2026-11-21T22:00:00+0100", 0, 0 },
		{ "2026-11-21T22:00:00+24:00", 0, 0 },
		{ "2026-11-21T22:00:00Zjunk", 0, 0 },
		{ "2026-11-21", 0, 0 },
		{ "26-11-21T22:00:00Z", 0, 0 },
		{ "", 0, 0 },
		{ "-5", 0, 0 },
		{ "12x", 0, 0 },
		{ "1234567890123456789", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -42;
		int rc = reading_parse_time(cases[i].s, &ms);
		if ((rc == 0) != cases[i].ok)
			fprintf(stderr, "parse_time(\"%s\") = %d\n", cases[i].s, rc);
		CHECK_INT(rc == 0, cases[i].ok);
		if (cases[i].ok)
			CHECK_INT(ms, cases[i].ms);
	}

	static const struct {
		int64_t ms;
		const char *s;
		int hour, dow;
	} fmt[] = {
		{ 0, "1970-01-01T00:00:00.000Z", 0, 3 },
		{ 1795298400123LL, "2026-11-21T22:00:00.123Z", 22, 5 },
		{ 1763762400123LL, "2025-11-21T22:00:00.123Z", 22, 4 },
		{ 951782400000LL, "2000-02-29T00:00:00.000Z", 0, 1 },
		{ 1767571199999LL, "2026-01-04T23:59:59.999Z", 23, 6 },
		{ 1767571200000LL, "2026-01-05T00:00:00.000Z", 0, 0 },
		{ 4102444800000LL, "2100-01-01T00:00:00.000Z", 0, 4 },
		{ 253402300799999LL, "9999-12-31T23:59:59.999Z", 23, 4 },
		{ -1, "1969-12-31T23:59:59.999Z", 23, 2 },
	};
	for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
		char buf[READING_TIME_LEN];
		int8_t h, d;
		CHECK_INT(reading_format_time(fmt[i].ms, buf), 24);
		CHECK_STR(buf, fmt[i].s);
		reading_derive_calendar(fmt[i].ms, &h, &d);
		CHECK_INT(h, fmt[i].hour);
		CHECK_INT(d, fmt[i].dow);
		int64_t back;
		CHECK_INT(reading_parse_time(buf, &back), 0);
		CHECK_INT(back, fmt[i].ms);
	}

	/* Format -> parse round trip over the whole 1970..9999 range. */
	uint64_t x = 12345;
	int bad = 0;
	for (int i = 0; i < 200000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t ms = (int64_t)((x >> 11) % 253402300800000ULL);
		char buf[READING_TIME_LEN];
		int64_t back = -1;
		reading_format_time(ms, buf);
		if (reading_parse_time(buf, &back) != 0 || back != ms)
			bad++;
		int8_t h, d;
		reading_derive_calendar(ms, &h, &d);
		if (h != (ms / 3600000) % 24 || d != ((ms / 86400000) + 3) % 7)
			bad++;
	}
	CHECK_INT(bad, 0);
}

/* ---- doubles --------------------------------------------------------- */

/* Significant digits of a number's text ("100" -> 1, "0.0250" -> 3). */
static int sig_digits(const char *s)
{
	char d[64];
	int n = 0;
	for (; *s && *s != 'e' && *s != 'E'; s++)
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	int a = 0;
	while (a < n && d[a] == '0')
		a++;
	while (n > a && d[n - 1] == '0')
		n--;
	return n - a;
}

/* Fewest %g digits that read back as v. */
static int shortest_g(double v)
{
	char b[64];
	for (int p = 1; p <= 17; p++) {
		snprintf(b, sizeof b, "%.*g", p, v);
		if (strtod(b, NULL) == v)
			return sig_digits(b);
	}
	return 17;
}

static void test_doubles(void)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{ 23.4, "23.4" }, { 45.1, "45.1" }, { 33.64, "33.64" }, { 72.99, "72.99" },
		{ 0, "0" }, { -0.0, "-0" }, { 100, "100" }, { -60, "-60" }, { 150, "150" },
		{ 0.1, "0.1" }, { 0.3, "0.3" }, { 0.30000000000000004, "0.30000000000000004" },
		{ 0.000123, "0.000123" }, { 1e-7, "1e-07" }, { -23.45, "-23.45" },
		{ 123456789.125, "123456789.125" }, { 1e21, "1e+21" },
		{ 5e-324, "5e-324" }, { 2.2250738585072014e-308, "2.2250738585072014e-308" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" },
	};
	char buf[SENSORS__DOUBLE_MAX];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = sensors__format_double(cases[i].v, buf);
		CHECK_STR(buf, cases[i].s);
		CHECK_INT(n, strlen(cases[i].s));
	}

	/* Random doubles of every kind read back exactly, in the fewest digits. */
	uint64_t x = 99;
	int bad_trip = 0, bad_short = 0;
	for (int i = 0; i < 300000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		double v;
		switch (i % 4) {
		case 0: /* any bit pattern */
			memcpy(&v, &x, sizeof v);
			if (!isfinite(v))
				continue;
			break;
		case 1: /* sensor-like: two decimals */
			v = (double)((int64_t)(x >> 40) - 8000000) / 100;
			break;
		case 2: /* probabilities */
			v = (double)(x >> 11) * 0x1.0p-53;
			break;
		default: /* rounded to 6 significant digits */
			v = sensors__round6((double)(x >> 11) * 0x1.0p-53 * 200 - 100);
			break;
		}
		sensors__format_double(v, buf);
		if (strtod(buf, NULL) != v || signbit(strtod(buf, NULL)) != signbit(v))
			bad_trip++;
		if (v != 0 && sig_digits(buf) > shortest_g(v))
			bad_short++;
	}
	CHECK_INT(bad_trip, 0);
	CHECK_INT(bad_short, 0);

	/* round6 */
	CHECK(sensors__round6(0.123456789) == 0.123457);
	CHECK(sensors__round6(0.97) == 0.97);
	CHECK(sensors__round6(44.812345678) == 44.8123);
	CHECK(sensors__round6(-0.30000012) == -0.3);
	CHECK(sensors__round6(1234567.8) == 1234570);
	CHECK(sensors__round6(0.000123456789) == 0.000123457);
	CHECK(sensors__round6(0) == 0);
}

/* ---- encoders -------------------------------------------------------- */

static int readings_equal(const struct reading *a, const struct reading *b)
{
	return strcmp(a->sensor_id, b->sensor_id) == 0 &&
	       strcmp(a->location, b->location) == 0 &&
	       a->temperature == b->temperature && a->humidity == b->humidity &&
	       a->timestamp_ms == b->timestamp_ms && a->has_location == b->has_location &&
	       a->has_geo == b->has_geo && (!a->has_geo || (a->lat == b->lat && a->lon == b->lon)) &&
	       a->hour_of_day == b->hour_of_day && a->day_of_week == b->day_of_week &&
	       a->status_flag == b->status_flag && a->is_anomaly == b->is_anomaly;
}

static void test_reading_encode(void)
{
	struct reading r, back;
	char buf[1024], err[256];

	memset(&r, 0, sizeof r);
	strcpy(r.sensor_id, "sensor-042");
	r.temperature = 23.4;
	r.humidity = 45.1;
	r.timestamp_ms = 1795298400123LL; /* 2026-11-21T22:00:00.123Z */
	r.hour_of_day = 14;
	r.day_of_week = 3;
	r.status_flag = -1;
	r.is_anomaly = -1;
	int n = reading_encode(&r, buf, sizeof buf);
	CHECK_STR(buf, "{\"sensor_id\":\"sensor-042\",\"temperature\":23.4,\"humidity\":45.1,"
		  "\"timestamp\":1795298400123,\"hour_of_day\":14,\"day_of_week\":3}");
	CHECK_INT(n, strlen(buf));
	CHECK_INT(reading_decode(buf, (size_t)n, 0, &back, err, sizeof err), READING_OK);
	CHECK(readings_equal(&r, &back));

	/* Every optional field, and a sensor id that needs escaping. */
	strcpy(r.sensor_id, "a\"b\\c\nd\x01");
	strcpy(r.location, "boiler-room");
	r.has_location = 1;
	r.has_geo = 1;
	r.lat = 33.640123;
	r.lon = -72.99;
	r.status_flag = 2;
	r.is_anomaly = 1;
	r.temperature = -0.1;
	r.humidity = 0.30000000000000004;
	n = reading_encode(&r, buf, sizeof buf);
	CHECK(n > 0);
	CHECK(strstr(buf, "\"sensor_id\":\"a\\\"b\\\\c\\nd\\u0001\"") != NULL);
	CHECK_INT(reading_decode(buf, (size_t)n, 0, &back, err, sizeof err), READING_OK);
	CHECK(readings_equal(&r, &back));

	/* Too small a buffer: -1 for every size short of the full length. */
	int full = n, fails = 0;
	for (int cap = 1; cap <= full; cap++)
		if (reading_encode(&r, buf, (size_t)cap) != -1)
			fails++;
	CHECK_INT(fails, 0);
	CHECK_INT(reading_encode(&r, buf, (size_t)full + 1), full);
	CHECK_INT(reading_encode(&r, buf, 0), -1);
}

static const struct event_models MODELS = {
	"status_predictor@1", "anomaly_detector@1", "humidity_regressor@1"
};

/* Check a parsed number member. */
static void check_num(const cJSON *o, const char *key, double want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(cJSON_IsNumber(v));
	if (cJSON_IsNumber(v))
		CHECK(v->valuedouble == want);
	else
		fprintf(stderr, "  (member %s)\n", key);
}

static void check_str(const cJSON *o, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(cJSON_IsString(v));
	CHECK_STR(cJSON_IsString(v) ? v->valuestring : NULL, want);
}

static void test_event(void)
{
	struct reading r;
	struct event_prediction p = { 0, 0.97, 0, 0.03, 44.8, 0.3 };
	char head[EVENT_HEAD_MAX], body[2048], ev[4096];

	memset(&r, 0, sizeof r);
	strcpy(r.sensor_id, "sensor-042");
	strcpy(r.location, "building-a");
	r.has_location = 1;
	r.has_geo = 1;
	r.lat = 33.64;
	r.lon = 72.99;
	r.temperature = 23.4;
	r.humidity = 45.1;
	r.timestamp_ms = 1795298400123LL; /* 2026-11-21T22:00:00.123Z */
	r.hour_of_day = 14;
	r.day_of_week = 3;
	r.status_flag = 0;
	r.is_anomaly = 0;

	int hn = event_encode_head("gw-plant-a-01", "plant-a", 42, head, sizeof head);
	int bn = event_encode_body(&r, 1795298400125LL, &p, &MODELS, body, sizeof body);
	CHECK(hn > 0 && bn > 0);
	CHECK_INT(hn, strlen(head));
	CHECK_INT(bn, strlen(body));
	snprintf(ev, sizeof ev, "%s%s", head, body);
	/* The SPEC §4 example, compact, byte for byte (fields in order). */
	CHECK_STR(ev,
		  "{\"event_id\":\"gw-plant-a-01:42\",\"gateway_id\":\"gw-plant-a-01\",\"site\":\"plant-a\",\"seq\":42,"
		  "\"sensor_id\":\"sensor-042\",\"location\":\"building-a\",\"geo\":{\"lat\":33.64,\"lon\":72.99},"
		  "\"@timestamp\":\"2026-11-21T22:00:00.123Z\",\"received_at\":\"2026-11-21T22:00:00.125Z\","
		  "\"temperature\":23.4,\"humidity\":45.1,\"hour_of_day\":14,\"day_of_week\":3,"
		  "\"status_flag\":0,\"is_anomaly\":0,"
		  "\"prediction\":{\"status\":0,\"status_probability\":0.97,"
		  "\"anomaly\":false,\"anomaly_probability\":0.03,"
		  "\"humidity\":44.8,\"humidity_residual\":0.3},"
		  "\"models\":{\"status\":\"status_predictor@1\",\"anomaly\":\"anomaly_detector@1\","
		  "\"humidity\":\"humidity_regressor@1\"}}");

	/* Back from the event to the reading it was made from (retraining). */
	{
		struct reading back;
		char why[256];
		CHECK_INT(reading_decode_event(ev, strlen(ev), &back, why, sizeof why), READING_OK);
		CHECK_STR(back.sensor_id, r.sensor_id);
		CHECK_STR(back.location, "building-a");
		CHECK(back.has_location && back.has_geo);
		CHECK(back.lat == 33.64 && back.lon == 72.99);
		CHECK(back.temperature == 23.4 && back.humidity == 45.1); /* not the predicted 44.8 */
		CHECK_INT(back.timestamp_ms, r.timestamp_ms);
		CHECK_INT(back.hour_of_day, 14);
		CHECK_INT(back.day_of_week, 3);
		CHECK_INT(back.status_flag, 0);
		CHECK_INT(back.is_anomaly, 0);
		/* Without ground truth, the labels stay absent. */
		struct reading nl = r;
		nl.status_flag = nl.is_anomaly = -1;
		nl.has_geo = 0;
		int n2 = event_encode_body(&nl, 1795298400125LL, &p, &MODELS, body, sizeof body);
		char ev2[2048];
		snprintf(ev2, sizeof ev2, "%s%.*s", head, n2, body);
		CHECK_INT(reading_decode_event(ev2, strlen(ev2), &back, why, sizeof why), READING_OK);
		CHECK_INT(back.status_flag, -1);
		CHECK_INT(back.is_anomaly, -1);
		CHECK(!back.has_geo);
		CHECK_INT(reading_decode_event("{\"seq\":1}", 9, &back, why, sizeof why), READING_EMISSING);
		/* An event without "@timestamp" is not dated 1970 (found by fuzz_reading). */
		const char *nots = "{\"sensor_id\":\"s-1\",\"temperature\":-12.5,\"humidity\":0}";
		CHECK_INT(reading_decode_event(nots, strlen(nots), &back, why, sizeof why),
			  READING_EMISSING);
		CHECK_STR(why, "@timestamp: missing (required in a stored event)");
	}

	cJSON *j = cJSON_Parse(ev);
	CHECK(j != NULL);
	if (j) {
		check_str(j, "event_id", "gw-plant-a-01:42");
		check_str(j, "gateway_id", "gw-plant-a-01");
		check_str(j, "site", "plant-a");
		check_num(j, "seq", 42);
		check_str(j, "sensor_id", "sensor-042");
		check_str(j, "location", "building-a");
		const cJSON *geo = cJSON_GetObjectItemCaseSensitive(j, "geo");
		check_num(geo, "lat", 33.64);
		check_num(geo, "lon", 72.99);
		check_str(j, "@timestamp", "2026-11-21T22:00:00.123Z");
		check_str(j, "received_at", "2026-11-21T22:00:00.125Z");
		check_num(j, "temperature", 23.4);
		check_num(j, "humidity", 45.1);
		check_num(j, "hour_of_day", 14);
		check_num(j, "day_of_week", 3);
		check_num(j, "status_flag", 0);
		check_num(j, "is_anomaly", 0);
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prediction");
		check_num(pr, "status", 0);
		check_num(pr, "status_probability", 0.97);
		CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pr, "anomaly")));
		check_num(pr, "anomaly_probability", 0.03);
		check_num(pr, "humidity", 44.8);
		check_num(pr, "humidity_residual", 0.3);
		const cJSON *mo = cJSON_GetObjectItemCaseSensitive(j, "models");
		check_str(mo, "status", "status_predictor@1");
		check_str(mo, "anomaly", "anomaly_detector@1");
		check_str(mo, "humidity", "humidity_regressor@1");
		CHECK_INT(cJSON_GetArraySize(j), 17);
		cJSON_Delete(j);
	}

	/* No optional fields: they are absent, not null; escaping; rounding. */
	memset(&r, 0, sizeof r);
	strcpy(r.sensor_id, "we\"ird\\id\nx\ty\x1f");
	r.temperature = -12.5;
	r.humidity = 0;
	r.timestamp_ms = 946684800000LL;
	r.hour_of_day = 0;
	r.day_of_week = 5;
	r.status_flag = -1;
	r.is_anomaly = -1;
	p.status = 2;
	p.status_probability = 0.123456789;
	p.anomaly = 1;
	p.anomaly_probability = 0.999999999;
	p.humidity = 44.812345678;
	p.humidity_residual = NAN;
	bn = event_encode_body(&r, 946684800001LL, &p, &MODELS, body, sizeof body);
	CHECK(bn > 0);
	CHECK(strstr(body, "\"sensor_id\":\"we\\\"ird\\\\id\\nx\\ty\\u001f\",\"@timestamp\"") != NULL);
	hn = event_encode_head("gw\"1", "s\\", 18446744073709551615ULL, head, sizeof head);
	CHECK_STR(head, "{\"event_id\":\"gw\\\"1:18446744073709551615\",\"gateway_id\":\"gw\\\"1\","
		  "\"site\":\"s\\\\\",\"seq\":18446744073709551615,");
	snprintf(ev, sizeof ev, "%s%s", head, body);
	j = cJSON_Parse(ev);
	CHECK(j != NULL);
	if (j) {
		check_str(j, "event_id", "gw\"1:18446744073709551615");
		check_str(j, "sensor_id", "we\"ird\\id\nx\ty\x1f");
		CHECK(!cJSON_HasObjectItem(j, "location"));
		CHECK(!cJSON_HasObjectItem(j, "geo"));
		CHECK(!cJSON_HasObjectItem(j, "status_flag"));
		CHECK(!cJSON_HasObjectItem(j, "is_anomaly"));
		check_str(j, "@timestamp", "2000-01-01T00:00:00.000Z");
		check_str(j, "received_at", "2000-01-01T00:00:00.001Z");
		check_num(j, "temperature", -12.5);
		check_num(j, "humidity", 0);
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prediction");
		check_num(pr, "status", 2);
		check_num(pr, "status_probability", 0.123457);
		CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pr, "anomaly")));
		check_num(pr, "anomaly_probability", 1);
		check_num(pr, "humidity", 44.8123);
		check_num(pr, "humidity_residual", 0); /* non-finite is written as 0 */
		CHECK_INT(cJSON_GetArraySize(j), 13);
		cJSON_Delete(j);
	}
	CHECK(strstr(body, "\"humidity_residual\":0}") != NULL);

	/* Overflow: every capacity short of the full length gives -1. */
	int fails = 0;
	for (int cap = 1; cap <= bn; cap++)
		if (event_encode_body(&r, 946684800001LL, &p, &MODELS, body, (size_t)cap) != -1)
			fails++;
	CHECK_INT(fails, 0);
	CHECK_INT(event_encode_body(&r, 946684800001LL, &p, &MODELS, body, (size_t)bn + 1), bn);
	CHECK_INT(event_encode_head("gw", "s", 1, head, 10), -1);
	CHECK_INT(event_encode_head("gw", "s", 1, head, 0), -1);

	/* event_json_string */
	char s[64];
	CHECK_INT(event_json_string("a\"b\\\b\f\r\x7f\xc3\xbc", s, sizeof s), 17);
	CHECK_STR(s, "\"a\\\"b\\\\\\b\\f\\r\x7f\xc3\xbc\"");
	CHECK_INT(event_json_string("", s, sizeof s), 2);
	CHECK_STR(s, "\"\"");
	CHECK_INT(event_json_string("abc", s, 5), -1);
	CHECK_INT(event_json_string("abc", s, 6), 5);
}

/* ---- simulator ------------------------------------------------------- */

static void test_sim_options(void)
{
	struct sim *s = (struct sim *)&s; /* must be cleared on failure */
	char err[256];
	struct sim_options ok = { 10, 1, 42, 1767571200000LL, 0 };
	struct sim_options o;

	o = ok;
	o.sensors = 0;
	CHECK_INT(sim_create(&s, &o, err, sizeof err), -1);
	CHECK(s == NULL);
	CHECK(strstr(err, "sensors") != NULL);
	o = ok;
	o.rate = 0;
	CHECK_INT(sim_create(&s, &o, err, sizeof err), -1);
	CHECK(strstr(err, "rate") != NULL);
	o.rate = NAN;
	CHECK_INT(sim_create(&s, &o, err, sizeof err), -1);
	o.rate = 1001;
	CHECK_INT(sim_create(&s, &o, err, sizeof err), -1);
	o = ok;
	o.start_ms = 1763762400; /* seconds by mistake */
	CHECK_INT(sim_create(&s, &o, err, sizeof err), -1);
	CHECK(strstr(err, "start") != NULL);
	CHECK_INT(sim_create(&s, &ok, err, sizeof err), 0);
	CHECK(s != NULL);
	sim_free(&s);
	CHECK(s == NULL);
	sim_free(&s);
	sim_free(NULL);
}

/* drift_after: the same readings until then; afterwards every other sensor
 * 10 °C warmer (and drier, through its true temperature), the others as before. */
static void test_sim_drift(void)
{
	struct sim_options o = { 30, 1, 9, 1767571200000LL, 0 }, od = o;
	struct sim *a = NULL, *b = NULL;
	struct reading ra, rb;
	double dt = 0, dh = 0;
	int same_before = 1, same_others = 1, n = 0;
	char err[256];

	od.drift_after = 600;
	CHECK_INT(sim_create(&a, &o, err, sizeof err), 0);
	CHECK_INT(sim_create(&b, &od, err, sizeof err), 0);
	if (!a || !b)
		goto out;
	for (int i = 0; i < 3000; i++) {
		int k = i % 30;
		sim_next(a, &ra);
		sim_next(b, &rb);
		if (i < 600 || k % 2 != 0) {
			if (ra.temperature != rb.temperature || ra.humidity != rb.humidity ||
			    ra.timestamp_ms != rb.timestamp_ms)
				*(i < 600 ? &same_before : &same_others) = 0;
		} else {
			dt += rb.temperature - ra.temperature;
			dh += rb.humidity - ra.humidity;
			n++;
		}
	}
	CHECK(same_before);
	CHECK(same_others);
	CHECK_INT(n, 1200);
	CHECK_NEAR(dt / n, SIM_DRIFT_T, 0.5);
	CHECK_NEAR(dh / n, -1.2 * SIM_DRIFT_T, 1.0);
out:
	sim_free(&a);
	sim_free(&b);
}

static void test_sim(void)
{
	struct sim *a = NULL, *b = NULL, *c = NULL;
	char err[256], buf[1024];
	/* The configuration `make models` trains on: 100 sensors, one reading
	 * each per 100 s, so 100k readings cover 27.8 hours. */
	struct sim_options o = { 100, 0.01, 7, 1767571200000LL, 0 };

	CHECK_INT(sim_create(&a, &o, err, sizeof err), 0);
	CHECK_INT(sim_create(&b, &o, err, sizeof err), 0);
	o.seed = 8;
	CHECK_INT(sim_create(&c, &o, err, sizeof err), 0);
	if (!a || !b || !c)
		goto out;

	long n = 100000, diff_b = 0, diff_c = 0, bad = 0, invalid = 0, bad_time = 0;
	long status[3] = { 0 }, anomalies = 0, loc_status[2][3] = { { 0 } }, repeats = 0;
	double t_min = 1e9, t_max = -1e9;
	struct reading prev[100];
	for (long i = 0; i < n; i++) {
		struct reading ra, rb, rc, back;
		int64_t next = sim_next_time(a);
		sim_next(a, &ra);
		sim_next(b, &rb);
		sim_next(c, &rc);
		if (!readings_equal(&ra, &rb))
			diff_b++;
		if (!readings_equal(&ra, &rc))
			diff_c++;
		/* Round r = i / 100 carries start + r * 100000 ms. */
		if (ra.timestamp_ms != 1767571200000LL + (i / 100) * 100000 || next != ra.timestamp_ms)
			bad_time++;
		char want_id[32];
		snprintf(want_id, sizeof want_id, "sensor-%03ld", i % 100);
		if (strcmp(ra.sensor_id, want_id) != 0 || !ra.has_location || !ra.has_geo)
			bad++;
		int8_t h, d;
		reading_derive_calendar(ra.timestamp_ms, &h, &d);
		if (h != ra.hour_of_day || d != ra.day_of_week)
			bad++;
		if (fabs(ra.lat - 33.64) > 0.01 || fabs(ra.lon - 72.99) > 0.01)
			bad++;
		/* Every reading survives encode -> decode unchanged. */
		int len = reading_encode(&ra, buf, sizeof buf);
		if (len < 0 || reading_decode(buf, (size_t)len, 0, &back, err, sizeof err) != 0 ||
		    !readings_equal(&ra, &back))
			invalid++;
		status[ra.status_flag]++;
		anomalies += ra.is_anomaly;
		int boiler = strcmp(ra.location, "boiler-room") == 0;
		loc_status[boiler][ra.status_flag]++;
		t_min = fmin(t_min, ra.temperature);
		t_max = fmax(t_max, ra.temperature);
		if (i >= 100 && prev[i % 100].temperature == ra.temperature &&
		    prev[i % 100].humidity == ra.humidity)
			repeats++;
		prev[i % 100] = ra;
	}
	CHECK_INT(diff_b, 0);
	CHECK(diff_c > n * 9 / 10);
	CHECK_INT(bad_time, 0);
	CHECK_INT(bad, 0);
	CHECK_INT(invalid, 0);
	/* The bands SIMULATOR.md documents. */
	double warn = (double)status[1] / n, fault = (double)status[2] / n;
	double anom = (double)anomalies / n;
	printf("simulator: warning %.4f fault %.4f anomaly %.4f stuck-repeats %ld temp %.2f..%.2f\n",
	       warn, fault, anom, repeats, t_min, t_max);
	CHECK(warn >= 0.05 && warn <= 0.10);
	CHECK(fault >= 0.008 && fault <= 0.03);
	CHECK(anom >= 0.01 && anom <= 0.03);
	/* The boiler room makes most warnings and faults. */
	CHECK(loc_status[1][1] > loc_status[0][1]);
	CHECK(loc_status[1][2] > loc_status[0][2]);
	/* Stuck episodes repeat values exactly; the normal process never does
	 * for long, so there are some but few. */
	CHECK(repeats > 50 && repeats < 2000);
	CHECK(t_min > -60 && t_max < 150);

	/* A different start time shifts timestamps; rate 3 rounds to ms. */
	sim_free(&a);
	o = (struct sim_options){ 2, 3, 1, 1767571200000LL, 0 };
	CHECK_INT(sim_create(&a, &o, err, sizeof err), 0);
	if (a) {
		static const int64_t want[] = { 0, 0, 333, 333, 667, 667, 1000, 1000 };
		struct reading r;
		for (int i = 0; i < 8; i++) {
			CHECK_INT(sim_next_time(a), 1767571200000LL + want[i]);
			sim_next(a, &r);
			CHECK_INT(r.timestamp_ms, 1767571200000LL + want[i]);
		}
	}
	/* Ids grow past 3 digits. */
	sim_free(&b);
	o = (struct sim_options){ 1001, 1, 1, 1767571200000LL, 0 };
	CHECK_INT(sim_create(&b, &o, err, sizeof err), 0);
	if (b) {
		struct reading r;
		sim_next(b, &r);
		CHECK_STR(r.sensor_id, "sensor-000");
		for (int i = 0; i < 1000; i++)
			sim_next(b, &r);
		CHECK_STR(r.sensor_id, "sensor-1000");
	}
out:
	sim_free(&a);
	sim_free(&b);
	sim_free(&c);
}

/* event_peek() reads the ids back from what the encoder wrote, escapes
 * included; event_unescape() decodes them. */
static void test_event_peek(void)
{
	struct event_ids ids;
	char ev[512], buf[64];
	int n;

	n = event_encode_head("gw\"1", "s\\", 42, ev, sizeof ev);
	CHECK(n > 0);
	snprintf(ev + n, sizeof ev - (size_t)n, "\"sensor_id\":\"a\\u00fc\\\"b\",\"x\":1}");
	CHECK_INT(event_peek(ev, strlen(ev), &ids), 0);
	CHECK_INT((int)ids.seq, 42);
	CHECK_INT(ids.escaped, 1);
	CHECK_INT(event_unescape(ids.event_id, ids.event_id_len, buf, sizeof buf), 7);
	CHECK_STR(buf, "gw\"1:42");
	CHECK_INT(event_unescape(ids.gateway_id, ids.gateway_id_len, buf, sizeof buf), 4);
	CHECK_STR(buf, "gw\"1");
	CHECK_INT(event_unescape(ids.sensor_id, ids.sensor_id_len, buf, sizeof buf), 5);
	CHECK_STR(buf, "a\xc3\xbc\"b");

	n = event_encode_head("gw", "site", 7, ev, sizeof ev);
	snprintf(ev + n, sizeof ev - (size_t)n, "\"sensor_id\":\"s-1\",\"x\":1}");
	CHECK_INT(event_peek(ev, strlen(ev), &ids), 0);
	CHECK_INT(ids.escaped, 0);
	CHECK(ids.sensor_id_len == 3 && memcmp(ids.sensor_id, "s-1", 3) == 0);
	CHECK(ids.event_id_len == 4 && memcmp(ids.event_id, "gw:7", 4) == 0);
	/* Every truncation is refused, never over-read (ASan watches). */
	int bad = 0;
	size_t full = (size_t)(strstr(ev, "\",\"x\"") - ev) + 1;
	for (size_t len = 0; len < full; len++) {
		char *copy = malloc(len ? len : 1);
		memcpy(copy, ev, len);
		if (event_peek(copy, len, &ids) != -1)
			bad++;
		free(copy);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(event_peek("{\"sensor_id\":\"x\"}", 17, &ids), -1);
	CHECK_INT(event_peek("{\"event_id\":\"g:1\",\"gateway_id\":\"g\",\"site\":\"s\",\"seq\":x,", 54, &ids), -1);

	/* Surrogate pairs, bad escapes, capacity. */
	CHECK_INT(event_unescape("\\ud83d\\ude00", 12, buf, sizeof buf), 4);
	CHECK_STR(buf, "\xf0\x9f\x98\x80");
	CHECK_INT(event_unescape("\\ud83d", 6, buf, sizeof buf), -1);
	CHECK_INT(event_unescape("\\ude00", 6, buf, sizeof buf), -1);
	CHECK_INT(event_unescape("\\x", 2, buf, sizeof buf), -1);
	CHECK_INT(event_unescape("\\u12g4", 6, buf, sizeof buf), -1);
	CHECK_INT(event_unescape("abc", 3, buf, 3), -1);
	CHECK_INT(event_unescape("abc", 3, buf, 4), 3);
	CHECK_INT(event_unescape("\\n\\t\\/", 6, buf, sizeof buf), 3);
	CHECK_STR(buf, "\n\t/");
}

/* ---- MQTT syntax checks (the config loader's) ------------------------- */

/* One syntax check: got must be want (1 valid, 0 invalid); names the value if not. */
static void check_syntax(const char *value, int got, int want)
{
	if (got != want)
		fprintf(stderr, "'%s' judged %s\n", value, got ? "valid" : "invalid");
	CHECK_INT(got, want);
}

static void test_mqtt_syntax(void)
{
	static const char *const good_uris[] = {
		"tcp://127.0.0.1:1883", "ssl://broker.example.com:8883", "mqtt://h:1",
		"mqtts://h:65535", "ws://h:80/mqtt", "wss://h:443/", "tcp://[::1]:1883",
		"tcp://h_x-y.z:1",
	};
	static const char *const bad_uris[] = {
		"", "h:1883", "http://h:1", "TCP://h:1", "tcp//h:1", "tcp://h", "tcp://h:",
		"tcp://h:0", "tcp://h:65536", "tcp://h:123456", "tcp://:1883", "tcp://[]:1",
		"tcp://[g]:1", "tcp://[::1]", "tcp://h@x:1", "tcp://h:1883/x", "wss://h:443/a b",
		"tcp://h:1x",
	};
	static const char *const good_filters[] = {
		"a", "a/b", "a/+/c", "+", "#", "a/#", "+/+/#", "a//b", "/",
	};
	static const char *const bad_filters[] = {
		"", "a/b#", "a+/b", "a/#/b", "##", "a/++", "#/a",
	};
	size_t i;

	for (i = 0; i < sizeof good_uris / sizeof good_uris[0]; i++)
		check_syntax(good_uris[i], mqtt_uri_valid(good_uris[i]), 1);
	for (i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++)
		check_syntax(bad_uris[i], mqtt_uri_valid(bad_uris[i]), 0);

	CHECK(mqtt_uri_is_tls("ssl://h:1"));
	CHECK(mqtt_uri_is_tls("mqtts://h:1"));
	CHECK(mqtt_uri_is_tls("wss://h:1/mqtt"));
	CHECK(!mqtt_uri_is_tls("tcp://h:1"));
	CHECK(!mqtt_uri_is_tls("mqtt://h:1"));
	CHECK(!mqtt_uri_is_tls("ws://h:1"));
	CHECK(!mqtt_uri_is_tls("SSL://h:1"));

	for (i = 0; i < sizeof good_filters / sizeof good_filters[0]; i++)
		check_syntax(good_filters[i], mqtt_filter_valid(good_filters[i], strlen(good_filters[i])), 1);
	for (i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++)
		check_syntax(bad_filters[i], mqtt_filter_valid(bad_filters[i], strlen(bad_filters[i])), 0);
	/* Only s[0..len) counts: the items of a comma-separated list. */
	CHECK(mqtt_filter_valid("a/+,b#", 3));
	CHECK(!mqtt_filter_valid("a/+,b#", 6));
	CHECK(mqtt_filter_valid("a/#x", 3));

	CHECK(mqtt_pub_topic_valid("alerts/{sensor_id}"));
	CHECK(mqtt_pub_topic_valid("a/b"));
	CHECK(!mqtt_pub_topic_valid(""));
	CHECK(!mqtt_pub_topic_valid("alerts/#"));
	CHECK(!mqtt_pub_topic_valid("alerts/+/x"));
}

int main(void)
{
	test_good();
	test_bad_table();
	test_bad_bytes();
	test_nul_and_duplicates();
	test_reason_names();
	test_time();
	test_doubles();
	test_reading_encode();
	test_event();
	test_event_peek();
	test_sim_options();
	test_sim_drift();
	test_sim();
	test_mqtt_syntax();
	return check_done("test_sensors");
}
