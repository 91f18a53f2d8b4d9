/*
 * reading.c - decode and validate a sensor reading (SPEC §3), encode one, and
 * the calendar arithmetic both directions need.
 *
 * The decoder checks in the order that costs least for garbage: size, then
 * UTF-8 (a byte loop), then one cJSON parse, then one walk over the object's
 * members comparing keys, then the per-field rules. Every rejection names the
 * field in its reason. Choices SPEC §3 leaves open, made here:
 *   - an optional field whose value is null counts as absent;
 *   - integer fields (hour_of_day, day_of_week, status_flag, is_anomaly, a
 *     numeric timestamp) accept any JSON number with an integral value
 *     ("14" and "14.0"); is_anomaly also accepts true/false;
 *   - a timestamp must lie in 2000-01-01 .. 9999-12-31 (smaller numbers are
 *     almost always epoch seconds sent by mistake);
 *   - unknown members are ignored; a key given twice (at the top level, or
 *     in a stored event's "geo") is a rejection, duplicate_key: which of the
 *     two a consumer would take is not defined, so neither is taken;
 *   - a string or a key holding the escape \u0000 is a rejection,
 *     nul_in_string: cJSON ends its C string there, so "s\u0000x" would
 *     become sensor "s" and merge two sensors into one;
 *   - nesting deeper than cJSON's limit (1000) is not_json, with that said;
 *   - trailing whitespace after the object is fine, anything else is not JSON.
 * Calendar conversion is done with days-from-civil arithmetic, never with
 * timegm()/gmtime(), so it is independent of TZ and of the C library.
 * Threads: the decoder keeps no state of its own; cJSON writes a global
 * error position when a parse fails, which nothing here reads (the position
 * comes from return_parse_end instead).
 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/reading.h"
#include "sensors/sensors_int.h"

_Static_assert(READING_MAX_DEPTH == CJSON_NESTING_LIMIT, "READING_MAX_DEPTH is cJSON's limit");

#define READING__DAY_MS 86400000LL
/* 9999-12-31T23:59:59.999Z */
#define READING__TIME_MAX_MS 253402300799999LL

/* Days since 1970-01-01 of a proleptic Gregorian date (any year >= 0). */
static int64_t reading__days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                   /* 0..399 */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
	return era * 146097 + doe - 719468;
}

/* The inverse: year, month (1..12) and day (1..31) of a day number. */
static void reading__civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int reading__is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int reading__days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && reading__is_leap(y) ? 29 : dim[m - 1];
}

/* Floor division and modulo for negative epoch values. */
static int64_t reading__floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void reading_derive_calendar(int64_t ms, int8_t *hour_of_day, int8_t *day_of_week)
{
	int64_t days = reading__floordiv(ms, READING__DAY_MS);
	int64_t in_day = ms - days * READING__DAY_MS;
	int64_t dow = (days + 3) % 7; /* 1970-01-01 was a Thursday (3) */

	if (dow < 0)
		dow += 7;
	*hour_of_day = (int8_t)(in_day / 3600000);
	*day_of_week = (int8_t)dow;
}

/* Write n digits of v (zero-padded) at p. */
static char *reading__digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

int reading_format_time(int64_t ms, char *out)
{
	int64_t y;
	int mo, d;

	/* Years outside 0000..9999 have no 4-digit form: clamp. */
	if (ms < -62167219200000LL)
		ms = -62167219200000LL;
	if (ms > READING__TIME_MAX_MS)
		ms = READING__TIME_MAX_MS;
	int64_t days = reading__floordiv(ms, READING__DAY_MS);
	int64_t in_day = ms - days * READING__DAY_MS;
	reading__civil_from_days(days, &y, &mo, &d);

	char *p = out;
	p = reading__digits(p, y, 4);
	*p++ = '-';
	p = reading__digits(p, mo, 2);
	*p++ = '-';
	p = reading__digits(p, d, 2);
	*p++ = 'T';
	p = reading__digits(p, in_day / 3600000, 2);
	*p++ = ':';
	p = reading__digits(p, in_day / 60000 % 60, 2);
	*p++ = ':';
	p = reading__digits(p, in_day / 1000 % 60, 2);
	*p++ = '.';
	p = reading__digits(p, in_day % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
	return (int)(p - out);
}

/* Parse exactly n digits at s into *v. */
static int reading__num(const char *s, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

int reading_parse_time(const char *s, int64_t *ms)
{
	int year, mon, day, hh, mi, ss, frac = 0, off = 0;
	const char *p = s;

	assert(s && ms);
	/* Plain digits: epoch milliseconds. */
	if (*s >= '0' && *s <= '9') {
		size_t n = strspn(s, "0123456789");
		if (s[n] == '\0') {
			int64_t v = 0;
			if (n > 18)
				return -1;
			for (size_t i = 0; i < n; i++)
				v = v * 10 + (s[i] - '0');
			*ms = v;
			return 0;
		}
	}
	/* RFC 3339: YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM) */
	if (reading__num(p, 4, &year) || p[4] != '-' ||
	    reading__num(p + 5, 2, &mon) || p[7] != '-' ||
	    reading__num(p + 8, 2, &day) ||
	    (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
	    reading__num(p + 11, 2, &hh) || p[13] != ':' ||
	    reading__num(p + 14, 2, &mi) || p[16] != ':' ||
	    reading__num(p + 17, 2, &ss))
		return -1;
	p += 19;
	if (*p == '.') {
		int nd = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0)
			return -1;
		for (; nd < 3; nd++)
			frac *= 10; /* ".5" is 500 ms; digits past ms are dropped */
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (reading__num(p + 1, 2, &oh) || p[3] != ':' ||
		    reading__num(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (mon < 1 || mon > 12 || day < 1 || day > reading__days_in_month(year, mon) ||
	    hh > 23 || mi > 59 || ss > 59)
		return -1;
	int64_t days = reading__days_from_civil(year, mon, day);
	*ms = ((days * 86400 + hh * 3600 + mi * 60 + ss) - (int64_t)off * 60) * 1000 + frac;
	return 0;
}

const char *reading_reason_name(int code)
{
	switch (code) {
	case READING_OK: return "ok";
	case READING_ETOOBIG: return "too_large";
	case READING_EUTF8: return "not_utf8";
	case READING_EJSON: return "not_json";
	case READING_EOBJECT: return "not_object";
	case READING_EMISSING: return "missing_field";
	case READING_ETYPE: return "wrong_type";
	case READING_ENONFINITE: return "not_finite";
	case READING_ERANGE: return "out_of_range";
	case READING_ENUL: return "nul_in_string";
	case READING_EDUPLICATE: return "duplicate_key";
	default: return "unknown";
	}
}

/*
 * Offset of the first byte of buf[0..len) that is not well-formed UTF-8
 * (overlongs, surrogates and code points above U+10FFFF included), or len.
 * A NUL byte is reported too: JSON never contains a raw NUL.
 */
static size_t reading__utf8_check(const unsigned char *s, size_t len, int *nul)
{
	size_t i = 0;

	*nul = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if (c == 0) {
				*nul = 1;
				return i;
			}
			i++;
			continue;
		}
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return i; /* continuation byte, 0xc0/0xc1, 0xf5.. */
		}
		if (len - i <= need)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += need + 1;
	}
	return len;
}

static const char *reading__type_name(const cJSON *v)
{
	if (cJSON_IsNull(v)) return "null";
	if (cJSON_IsBool(v)) return "boolean";
	if (cJSON_IsNumber(v)) return "number";
	if (cJSON_IsString(v)) return "string";
	if (cJSON_IsArray(v)) return "array";
	if (cJSON_IsObject(v)) return "object";
	return "invalid";
}

/* The first 64 bytes of a string from the reading, for a reason in quotes:
 * control characters (a "\n" in the JSON string) become '?', so that the
 * reason stays one line in the quarantine and the log. out holds 65 bytes. */
#define READING__QUOTE_MAX 64
static const char *reading__quote(const char *s, char *out)
{
	size_t i;

	for (i = 0; i < READING__QUOTE_MAX && s[i]; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	return out;
}

/* Format a double for a reason ("180.5"). */
static const char *reading__num_text(double v, char *buf)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v < 0 ? "-Infinity" : "Infinity";
	sensors__format_double(v, buf);
	return buf;
}

/* A finite number field: ENONFINITE / ETYPE on failure. */
static int reading__number(const cJSON *v, const char *name, double *out,
			   char *err, size_t errlen)
{
	char nb[SENSORS__DOUBLE_MAX];

	if (!cJSON_IsNumber(v)) {
		snprintf(err, errlen, "%s: expected a number, got %s", name,
			 reading__type_name(v));
		return READING_ETYPE;
	}
	if (!isfinite(v->valuedouble)) {
		snprintf(err, errlen, "%s: %s is not a finite number", name,
			 reading__num_text(v->valuedouble, nb));
		return READING_ENONFINITE;
	}
	*out = v->valuedouble;
	return READING_OK;
}

/* A finite number field within lo..hi. */
static int reading__ranged(const cJSON *v, const char *name, double lo, double hi,
			   const char *unit, double *out, char *err, size_t errlen)
{
	char nb[SENSORS__DOUBLE_MAX], lb[SENSORS__DOUBLE_MAX], hb[SENSORS__DOUBLE_MAX];
	int rc = reading__number(v, name, out, err, errlen);

	if (rc != READING_OK)
		return rc;
	if (*out < lo || *out > hi) {
		snprintf(err, errlen, "%s: %s outside %s..%s%s", name,
			 reading__num_text(*out, nb), reading__num_text(lo, lb),
			 reading__num_text(hi, hb), unit);
		return READING_ERANGE;
	}
	return READING_OK;
}

/* An integral number field within lo..hi. */
static int reading__integer(const cJSON *v, const char *name, int lo, int hi,
			    int8_t *out, char *err, size_t errlen)
{
	char nb[SENSORS__DOUBLE_MAX];
	double d;
	int rc = reading__number(v, name, &d, err, errlen);

	if (rc != READING_OK)
		return rc;
	if (d != floor(d)) {
		snprintf(err, errlen, "%s: %s is not an integer", name,
			 reading__num_text(d, nb));
		return READING_ETYPE;
	}
	if (d < lo || d > hi) {
		snprintf(err, errlen, "%s: %s outside %d..%d", name,
			 reading__num_text(d, nb), lo, hi);
		return READING_ERANGE;
	}
	*out = (int8_t)d;
	return READING_OK;
}

/* A string field of at most max bytes, copied to out with its NUL. */
static int reading__string(const cJSON *v, const char *name, size_t max,
			   char *out, char *err, size_t errlen)
{
	if (!cJSON_IsString(v) || !v->valuestring) {
		snprintf(err, errlen, "%s: expected a string, got %s", name,
			 reading__type_name(v));
		return READING_ETYPE;
	}
	size_t n = strlen(v->valuestring);
	if (n > max) {
		snprintf(err, errlen, "%s: %zu bytes, longer than %zu", name, n, max);
		return READING_ERANGE;
	}
	memcpy(out, v->valuestring, n + 1);
	return READING_OK;
}

/* The timestamp field: integral epoch ms or an RFC 3339 string. */
static int reading__timestamp(const cJSON *v, int64_t *out, char *err, size_t errlen)
{
	char nb[SENSORS__DOUBLE_MAX], q[READING__QUOTE_MAX + 1];
	int64_t ms;
	int numeric = 1; /* epoch ms as a number or as plain digits */

	if (cJSON_IsString(v) && v->valuestring) {
		numeric = v->valuestring[0] >= '0' && v->valuestring[0] <= '9' &&
			  v->valuestring[strspn(v->valuestring, "0123456789")] == '\0';
		if (reading_parse_time(v->valuestring, &ms) != 0) {
			snprintf(err, errlen,
				 "timestamp: \"%s\" is not an RFC 3339 time or epoch milliseconds",
				 reading__quote(v->valuestring, q));
			return READING_ETYPE;
		}
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (!isfinite(d)) {
			snprintf(err, errlen, "timestamp: %s is not a finite number",
				 reading__num_text(d, nb));
			return READING_ENONFINITE;
		}
		if (d != floor(d)) {
			snprintf(err, errlen, "timestamp: %s is not an integer (expected epoch milliseconds)",
				 reading__num_text(d, nb));
			return READING_ETYPE;
		}
		if (d < -9.2e18 || d > 9.2e18) {
			snprintf(err, errlen, "timestamp: %s outside 2000-01-01..9999-12-31",
				 reading__num_text(d, nb));
			return READING_ERANGE;
		}
		ms = (int64_t)d;
	} else {
		snprintf(err, errlen, "timestamp: expected a number or a string, got %s",
			 reading__type_name(v));
		return READING_ETYPE;
	}
	if (numeric && ms < READING_TIME_MIN_MS && ms >= READING_TIME_MIN_MS / 1000 &&
	    ms <= READING__TIME_MAX_MS / 1000) {
		snprintf(err, errlen,
			 "timestamp: %" PRId64 " looks like epoch seconds; expected epoch milliseconds",
			 ms);
		return READING_ERANGE;
	}
	if (ms < READING_TIME_MIN_MS || ms > READING__TIME_MAX_MS) {
		if (numeric)
			snprintf(err, errlen,
				 "timestamp: %" PRId64 " outside 2000-01-01..9999-12-31 (epoch milliseconds)",
				 ms);
		else
			snprintf(err, errlen, "timestamp: \"%s\" outside 2000-01-01..9999-12-31",
				 reading__quote(v->valuestring, q));
		return READING_ERANGE;
	}
	*out = ms;
	return READING_OK;
}

/* Whether a text cJSON rejected went deeper than its nesting limit by
 * byte at (where the parse stopped): [ and { outside strings, counted. *where
 * is the bracket one level too deep. */
static int reading__too_deep(const char *buf, size_t len, size_t at, size_t *where)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < len && i <= at; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > READING_MAX_DEPTH) {
				*where = i;
				return 1;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 0;
}

/* The byte of the first escape \u0000 in buf[0..len), valid JSON (every
 * backslash is inside a string), or len. A backslash starts an escape when
 * an even number of backslashes come right before it: "\\u0000" is an
 * escaped backslash followed by the letters u0000, not a NUL. */
static size_t reading__find_nul_escape(const char *buf, size_t len)
{
	const char *end = buf + len;

	for (const char *p = buf; p < end; p++) {
		p = memmem(p, (size_t)(end - p), "\\u0000", 6);
		if (!p)
			break;
		size_t n = 0;
		while (p - n > buf && p[-1 - (ptrdiff_t)n] == '\\')
			n++;
		if (n % 2 == 0)
			return (size_t)(p - buf);
	}
	return len;
}

/* Up to READING__QUOTE_MAX bytes of raw JSON text, as reading__quote. */
static const char *reading__quote_raw(const char *s, size_t n, char *out)
{
	char tmp[READING__QUOTE_MAX + 1];

	if (n > READING__QUOTE_MAX)
		n = READING__QUOTE_MAX;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return reading__quote(tmp, out);
}

/* The reason for the \u0000 at byte at of buf (valid JSON): which member
 * holds it, found by walking the text (only a rejected reading pays). */
static void reading__nul_reason(const char *buf, size_t len, size_t at, char *err, size_t errlen)
{
	char q[READING__QUOTE_MAX + 1];
	int depth = 0, in_str = 0, have_key = 0;
	size_t s0 = 0, k0 = 0, kn = 0; /* the string being read; the last top-level key */

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (!in_str) {
			if (c == '"') {
				in_str = 1;
				s0 = i;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				depth--;
			}
			continue;
		}
		if (c == '\\') {
			i++;
			continue;
		}
		if (c != '"')
			continue;
		in_str = 0;
		size_t j = i + 1;
		while (j < len && (buf[j] == ' ' || buf[j] == '\t' || buf[j] == '\r' || buf[j] == '\n'))
			j++;
		int is_key = j < len && buf[j] == ':';
		if (s0 < at && at < i) {
			if (is_key)
				snprintf(err, errlen,
					 "key \"%s\": contains \\u0000 (a NUL character) at byte %zu",
					 reading__quote_raw(buf + s0 + 1, i - s0 - 1, q), at);
			else if (have_key)
				snprintf(err, errlen, "%s: %s contains \\u0000 (a NUL character) at byte %zu",
					 reading__quote_raw(buf + k0, kn, q),
					 depth == 1 ? "string" : "a string nested in it", at);
			else
				snprintf(err, errlen,
					 "message: a string contains \\u0000 (a NUL character) at byte %zu", at);
			return;
		}
		if (is_key && depth == 1) {
			k0 = s0 + 1;
			kn = i - s0 - 1;
			have_key = 1;
		}
	}
	snprintf(err, errlen, "message: a string contains \\u0000 (a NUL character) at byte %zu", at);
}

struct reading__key {
	const cJSON *v;
	size_t at; /* position among the members */
};

static int reading__key_cmp(const void *a, const void *b)
{
	const struct reading__key *x = a, *y = b;
	int c = strcmp(x->v->string, y->v->string);

	return c ? c : x->at < y->at ? -1 : x->at > y->at;
}

/* The first member of obj, in document order, whose key an earlier member
 * already has, or NULL. A 16 KiB reading holds a few thousand members at
 * most: sorted, so that a hostile one costs n log n, not n^2. */
static const cJSON *reading__duplicate(const cJSON *obj)
{
	const cJSON *first = NULL;
	size_t n = 0, best = 0;
	struct reading__key *keys;

	for (const cJSON *c = obj->child; c; c = c->next)
		n++;
	keys = n > 16 ? malloc(n * sizeof *keys) : NULL;
	if (!keys) {
		/* Few members (or no memory): compare each with those before it. */
		for (const cJSON *c = obj->child; c; c = c->next)
			for (const cJSON *p = obj->child; p != c; p = p->next)
				if (c->string && p->string && strcmp(p->string, c->string) == 0)
					return c;
		return NULL;
	}
	n = 0;
	for (const cJSON *c = obj->child; c; c = c->next) {
		if (!c->string)
			continue;
		keys[n].v = c;
		keys[n].at = n;
		n++;
	}
	qsort(keys, n, sizeof *keys, reading__key_cmp);
	/* In a run of equal keys, the second is the first duplicate. */
	for (size_t i = 1; i < n; i++)
		if (strcmp(keys[i - 1].v->string, keys[i].v->string) == 0 &&
		    (i < 2 || strcmp(keys[i - 2].v->string, keys[i].v->string) != 0) &&
		    (!first || keys[i].at < best)) {
			first = keys[i].v;
			best = keys[i].at;
		}
	free(keys);
	return first;
}

/* READING_EDUPLICATE with its reason if obj (path "" or "geo.") has a key twice. */
static int reading__no_duplicate(const cJSON *obj, const char *path, char *err, size_t errlen)
{
	char q[READING__QUOTE_MAX + 1];
	const cJSON *d = reading__duplicate(obj);

	if (!d)
		return READING_OK;
	snprintf(err, errlen, "%s%s: duplicate key (given twice; a reading names each field once)",
		 path, reading__quote(d->string, q));
	return READING_EDUPLICATE;
}

/* The members a reading may have, found in one walk over the object. */
struct reading__fields {
	const cJSON *sensor_id, *temperature, *humidity, *timestamp;  /* first of each name */
	const char *default_id;  /* sensor_id when the payload has none (topic level), or NULL */
	const cJSON *hour_of_day, *day_of_week, *status_flag, *is_anomaly;
	const cJSON *location, *lat, *lon;
};

/* Remember member v under its key (duplicates were rejected before; the
 * first would win). Unknown keys are ignored. */
static void reading__collect(struct reading__fields *f, const cJSON *v)
{
	const char *k = v->string;
	const cJSON **slot = NULL;

	if (!k)
		return;
	switch (k[0]) {
	case 's':
		if (strcmp(k, "sensor_id") == 0) slot = &f->sensor_id;
		else if (strcmp(k, "status_flag") == 0) slot = &f->status_flag;
		break;
	case 't':
		if (strcmp(k, "temperature") == 0) slot = &f->temperature;
		else if (strcmp(k, "timestamp") == 0) slot = &f->timestamp;
		break;
	case 'h':
		if (strcmp(k, "humidity") == 0) slot = &f->humidity;
		else if (strcmp(k, "hour_of_day") == 0) slot = &f->hour_of_day;
		break;
	case 'd':
		if (strcmp(k, "day_of_week") == 0) slot = &f->day_of_week;
		break;
	case 'i':
		if (strcmp(k, "is_anomaly") == 0) slot = &f->is_anomaly;
		break;
	case 'l':
		if (strcmp(k, "location") == 0) slot = &f->location;
		else if (strcmp(k, "lat") == 0) slot = &f->lat;
		else if (strcmp(k, "lon") == 0) slot = &f->lon;
		break;
	default:
		break;
	}
	if (slot && !*slot)
		*slot = v;
}

/* An optional member given as null is treated as absent. */
static const cJSON *reading__present(const cJSON *v)
{
	return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Validate the collected members into *out. */
static int reading__fill(struct reading__fields *f, int64_t now_ms,
			 struct reading *out, char *err, size_t errlen)
{
	int rc;

	/* Required. */
	if (!f->sensor_id && f->default_id) {
		size_t n = strlen(f->default_id);
		if (n > READING_ID_MAX) {
			snprintf(err, errlen, "sensor_id: %zu bytes from the topic, longer than %d",
				 n, READING_ID_MAX);
			return READING_ERANGE;
		}
		memcpy(out->sensor_id, f->default_id, n + 1);
	} else if (!f->sensor_id) {
		snprintf(err, errlen, "sensor_id: missing (required)");
		return READING_EMISSING;
	} else {
		rc = reading__string(f->sensor_id, "sensor_id", READING_ID_MAX,
				     out->sensor_id, err, errlen);
		if (rc != READING_OK)
			return rc;
	}
	if (out->sensor_id[0] == '\0') {
		snprintf(err, errlen, "sensor_id: empty string");
		return READING_ERANGE;
	}
	if (!f->temperature) {
		snprintf(err, errlen, "temperature: missing (required)");
		return READING_EMISSING;
	}
	rc = reading__ranged(f->temperature, "temperature", -60, 150, " °C",
			     &out->temperature, err, errlen);
	if (rc != READING_OK)
		return rc;
	if (!f->humidity) {
		snprintf(err, errlen, "humidity: missing (required)");
		return READING_EMISSING;
	}
	rc = reading__ranged(f->humidity, "humidity", 0, 100, " %RH",
			     &out->humidity, err, errlen);
	if (rc != READING_OK)
		return rc;

	/* Optional. */
	out->timestamp_ms = now_ms;
	if (reading__present(f->timestamp)) {
		rc = reading__timestamp(f->timestamp, &out->timestamp_ms, err, errlen);
		if (rc != READING_OK)
			return rc;
	}
	reading_derive_calendar(out->timestamp_ms, &out->hour_of_day, &out->day_of_week);
	if (reading__present(f->hour_of_day)) {
		rc = reading__integer(f->hour_of_day, "hour_of_day", 0, 23,
				      &out->hour_of_day, err, errlen);
		if (rc != READING_OK)
			return rc;
	}
	if (reading__present(f->day_of_week)) {
		rc = reading__integer(f->day_of_week, "day_of_week", 0, 6,
				      &out->day_of_week, err, errlen);
		if (rc != READING_OK)
			return rc;
	}
	if (reading__present(f->status_flag)) {
		rc = reading__integer(f->status_flag, "status_flag", 0, 2,
				      &out->status_flag, err, errlen);
		if (rc != READING_OK)
			return rc;
	}
	if (reading__present(f->is_anomaly)) {
		if (cJSON_IsBool(f->is_anomaly)) {
			out->is_anomaly = cJSON_IsTrue(f->is_anomaly) ? 1 : 0;
		} else {
			rc = reading__integer(f->is_anomaly, "is_anomaly", 0, 1,
					      &out->is_anomaly, err, errlen);
			if (rc != READING_OK)
				return rc;
		}
	}
	if (reading__present(f->location)) {
		rc = reading__string(f->location, "location", READING_LOCATION_MAX,
				     out->location, err, errlen);
		if (rc != READING_OK)
			return rc;
		out->has_location = 1;
	}
	const cJSON *lat = reading__present(f->lat), *lon = reading__present(f->lon);
	if (lat && !lon) {
		snprintf(err, errlen, "lon: missing (lat without lon)");
		return READING_EMISSING;
	}
	if (lon && !lat) {
		snprintf(err, errlen, "lat: missing (lon without lat)");
		return READING_EMISSING;
	}
	if (lat) {
		rc = reading__ranged(lat, "lat", -90, 90, "", &out->lat, err, errlen);
		if (rc != READING_OK)
			return rc;
		rc = reading__ranged(lon, "lon", -180, 180, "", &out->lon, err, errlen);
		if (rc != READING_OK)
			return rc;
		out->has_geo = 1;
	}
	return READING_OK;
}

int reading_decode(const char *buf, size_t len, int64_t now_ms,
		   struct reading *out, char *err, size_t errlen)
{
	return reading_decode_with_id(buf, len, now_ms, NULL, out, err, errlen);
}

/* Collect the members of a stored event (SPEC §4) that carry its reading:
 * "@timestamp" is the reading's timestamp, "geo" holds lat and lon; the
 * predictions are nested objects, so their "humidity" is not the reading's. */
static void reading__collect_event(struct reading__fields *f, const cJSON *v)
{
	if (!v->string)
		return;
	if (strcmp(v->string, "@timestamp") == 0) {
		if (!f->timestamp)
			f->timestamp = v;
	} else if (strcmp(v->string, "geo") == 0 && cJSON_IsObject(v)) {
		for (const cJSON *g = v->child; g; g = g->next)
			reading__collect(f, g);
	} else if (strcmp(v->string, "timestamp") != 0 && strcmp(v->string, "lat") != 0 &&
		   strcmp(v->string, "lon") != 0) {
		reading__collect(f, v);
	}
}

/* The decoder of both: a reading (event 0) or a stored event (event 1). */
static int reading__decode(const char *buf, size_t len, int64_t now_ms, const char *default_id,
			   int event, struct reading *out, char *err, size_t errlen)
{
	struct reading__fields f;
	const char *end = NULL;
	cJSON *root = NULL;
	size_t bad;
	int nul, rc;

	assert(out && (buf || len == 0));
	if (errlen)
		err[0] = '\0';
	if (len > READING_MAX_BYTES && !event) {
		snprintf(err, errlen, "message: %zu bytes, larger than %d", len,
			 READING_MAX_BYTES);
		return READING_ETOOBIG;
	}
	bad = reading__utf8_check((const unsigned char *)buf, len, &nul);
	if (nul) {
		snprintf(err, errlen, "not JSON: NUL byte at offset %zu", bad);
		return READING_EJSON;
	}
	if (bad != len) {
		snprintf(err, errlen, "message: invalid UTF-8 at byte %zu", bad);
		return READING_EUTF8;
	}
	if (len == 0) {
		snprintf(err, errlen, "not JSON: empty message");
		return READING_EJSON;
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!root) {
		size_t at = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0, deep;
		if (reading__too_deep(buf, len, at, &deep))
			snprintf(err, errlen, "not JSON: nested deeper than %d levels at byte %zu "
				 "(a reading is a flat object)", READING_MAX_DEPTH, deep);
		else
			snprintf(err, errlen, "not JSON: syntax error near byte %zu", at);
		rc = READING_EJSON;
		goto fail;
	}
	if (end) {
		while (end < buf + len && (*end == ' ' || *end == '\t' ||
					   *end == '\r' || *end == '\n'))
			end++;
		if (end < buf + len) {
			snprintf(err, errlen, "not JSON: trailing data at byte %zu",
				 (size_t)(end - buf));
			rc = READING_EJSON;
			goto fail;
		}
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "message: expected a JSON object, got %s",
			 reading__type_name(root));
		rc = READING_EOBJECT;
		goto fail;
	}
	/* Before any string is used: cJSON cut each at its first \u0000. */
	bad = reading__find_nul_escape(buf, len);
	if (bad != len) {
		reading__nul_reason(buf, len, bad, err, errlen);
		rc = READING_ENUL;
		goto fail;
	}
	rc = reading__no_duplicate(root, "", err, errlen);
	if (rc == READING_OK && event) {
		const cJSON *geo = cJSON_GetObjectItemCaseSensitive(root, "geo");
		if (cJSON_IsObject(geo))
			rc = reading__no_duplicate(geo, "geo.", err, errlen);
	}
	if (rc != READING_OK)
		goto fail;

	memset(&f, 0, sizeof f);
	f.default_id = default_id && *default_id ? default_id : NULL;
	for (const cJSON *v = root->child; v; v = v->next) {
		if (event)
			reading__collect_event(&f, v);
		else
			reading__collect(&f, v);
	}

	/* Only the fields the decoder owns are reset: the id and location
	 * buffers are written by memcpy with their NUL. */
	out->location[0] = '\0';
	out->temperature = out->humidity = out->lat = out->lon = 0;
	out->has_location = out->has_geo = 0;
	out->status_flag = out->is_anomaly = -1;
	rc = reading__fill(&f, now_ms, out, err, errlen);
	/* A stored event always has its reading's time: without one, the
	 * reading would be dated now_ms (0, 1970) and learnt as such. */
	if (rc == READING_OK && event && !reading__present(f.timestamp)) {
		snprintf(err, errlen, "@timestamp: missing (required in a stored event)");
		rc = READING_EMISSING;
	}
fail:
	cJSON_Delete(root);
	return rc;
}

int reading_decode_with_id(const char *buf, size_t len, int64_t now_ms,
			   const char *default_id, struct reading *out,
			   char *err, size_t errlen)
{
	return reading__decode(buf, len, now_ms, default_id, 0, out, err, errlen);
}

int reading_decode_event(const char *buf, size_t len, struct reading *out, char *err,
			 size_t errlen)
{
	return reading__decode(buf, len, 0, NULL, 1, out, err, errlen);
}

int reading_encode(const struct reading *r, char *buf, size_t cap)
{
	struct sensors__out o;

	assert(r);
	if (cap == 0)
		return -1;
	sensors__out_init(&o, buf, cap);
	sensors__out_raw(&o, "{\"sensor_id\":", 13);
	sensors__out_string(&o, r->sensor_id);
	sensors__out_raw(&o, ",\"temperature\":", 15);
	sensors__out_double(&o, r->temperature);
	sensors__out_raw(&o, ",\"humidity\":", 12);
	sensors__out_double(&o, r->humidity);
	sensors__out_raw(&o, ",\"timestamp\":", 13);
	sensors__out_int(&o, r->timestamp_ms);
	if (r->has_location) {
		sensors__out_raw(&o, ",\"location\":", 12);
		sensors__out_string(&o, r->location);
	}
	if (r->has_geo) {
		sensors__out_raw(&o, ",\"lat\":", 7);
		sensors__out_double(&o, r->lat);
		sensors__out_raw(&o, ",\"lon\":", 7);
		sensors__out_double(&o, r->lon);
	}
	sensors__out_raw(&o, ",\"hour_of_day\":", 15);
	sensors__out_int(&o, r->hour_of_day);
	sensors__out_raw(&o, ",\"day_of_week\":", 15);
	sensors__out_int(&o, r->day_of_week);
	if (r->status_flag >= 0) {
		sensors__out_raw(&o, ",\"status_flag\":", 15);
		sensors__out_int(&o, r->status_flag);
	}
	if (r->is_anomaly >= 0) {
		sensors__out_raw(&o, ",\"is_anomaly\":", 14);
		sensors__out_int(&o, r->is_anomaly);
	}
	sensors__out_raw(&o, "}", 1);
	return sensors__out_finish(&o, buf);
}
