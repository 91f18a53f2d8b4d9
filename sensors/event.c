/*
 * event.c - the scored event's JSON encoder (SPEC §4), built on the small
 * JSON writer it shares with the reading encoder (json_out.c, sensors_int.h).
 *
 * This runs once per accepted reading on the scoring thread, so it is written
 * by hand rather than with cJSON: no allocation, one pass over a caller's
 * buffer, fields in SPEC order.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sensors/event.h"
#include "sensors/reading.h"
#include "sensors/sensors_int.h"

int event_json_string(const char *s, char *buf, size_t cap)
{
	struct sensors__out o;

	assert(s);
	if (cap == 0)
		return -1;
	sensors__out_init(&o, buf, cap);
	sensors__out_string(&o, s);
	return sensors__out_finish(&o, buf);
}

/* Append ,"key": where key is a literal (no escaping needed). */
#define EVENT__KEY(o, lit) sensors__out_raw((o), lit, sizeof(lit) - 1)

/* {"status":...,"humidity_residual":...},"models":{...} of one set. */
static void event__out_set(struct sensors__out *o, const struct event_prediction *p,
			   const struct event_models *m)
{
	EVENT__KEY(o, "{\"status\":");
	sensors__out_int(o, p->status);
	EVENT__KEY(o, ",\"status_probability\":");
	sensors__out_double(o, sensors__round6(p->status_probability));
	if (p->anomaly)
		EVENT__KEY(o, ",\"anomaly\":true,\"anomaly_probability\":");
	else
		EVENT__KEY(o, ",\"anomaly\":false,\"anomaly_probability\":");
	sensors__out_double(o, sensors__round6(p->anomaly_probability));
	EVENT__KEY(o, ",\"humidity\":");
	sensors__out_double(o, sensors__round6(p->humidity));
	EVENT__KEY(o, ",\"humidity_residual\":");
	sensors__out_double(o, sensors__round6(p->humidity_residual));
	EVENT__KEY(o, "},\"models\":{\"status\":");
	sensors__out_string(o, m->status);
	EVENT__KEY(o, ",\"anomaly\":");
	sensors__out_string(o, m->anomaly);
	EVENT__KEY(o, ",\"humidity\":");
	sensors__out_string(o, m->humidity);
	EVENT__KEY(o, "}");
}

int event_encode_body_shadow(const struct reading *r, int64_t received_ms,
			     const struct event_prediction *p, const struct event_models *m,
			     const struct event_shadow *shadow, char *buf, size_t cap)
{
	struct sensors__out o;
	char t[READING_TIME_LEN];
	int tn;

	assert(r && p && m && m->status && m->anomaly && m->humidity);
	if (cap == 0)
		return -1;
	sensors__out_init(&o, buf, cap);

	EVENT__KEY(&o, "\"sensor_id\":");
	sensors__out_string(&o, r->sensor_id);
	if (r->has_location) {
		EVENT__KEY(&o, ",\"location\":");
		sensors__out_string(&o, r->location);
	}
	if (r->has_geo) {
		EVENT__KEY(&o, ",\"geo\":{\"lat\":");
		sensors__out_double(&o, r->lat);
		EVENT__KEY(&o, ",\"lon\":");
		sensors__out_double(&o, r->lon);
		EVENT__KEY(&o, "}");
	}
	EVENT__KEY(&o, ",\"@timestamp\":\"");
	tn = reading_format_time(r->timestamp_ms, t);
	sensors__out_raw(&o, t, (size_t)tn);
	EVENT__KEY(&o, "\",\"received_at\":\"");
	tn = reading_format_time(received_ms, t);
	sensors__out_raw(&o, t, (size_t)tn);
	EVENT__KEY(&o, "\",\"temperature\":");
	sensors__out_double(&o, r->temperature);
	EVENT__KEY(&o, ",\"humidity\":");
	sensors__out_double(&o, r->humidity);
	EVENT__KEY(&o, ",\"hour_of_day\":");
	sensors__out_int(&o, r->hour_of_day);
	EVENT__KEY(&o, ",\"day_of_week\":");
	sensors__out_int(&o, r->day_of_week);
	if (r->status_flag >= 0) {
		EVENT__KEY(&o, ",\"status_flag\":");
		sensors__out_int(&o, r->status_flag);
	}
	if (r->is_anomaly >= 0) {
		EVENT__KEY(&o, ",\"is_anomaly\":");
		sensors__out_int(&o, r->is_anomaly);
	}
	EVENT__KEY(&o, ",\"prediction\":");
	event__out_set(&o, p, m);
	if (shadow) {
		assert(shadow->p && shadow->m);
		EVENT__KEY(&o, ",\"shadow\":{\"prediction\":");
		event__out_set(&o, shadow->p, shadow->m);
		EVENT__KEY(&o, "}");
	}
	EVENT__KEY(&o, "}");
	return sensors__out_finish(&o, buf);
}

int event_encode_body(const struct reading *r, int64_t received_ms,
		      const struct event_prediction *p,
		      const struct event_models *m, char *buf, size_t cap)
{
	return event_encode_body_shadow(r, received_ms, p, m, NULL, buf, cap);
}

int event_encode_head(const char *gateway_id, const char *site, uint64_t seq,
		      char *buf, size_t cap)
{
	struct sensors__out o;
	char num[24];
	int nn;

	assert(gateway_id && site);
	if (cap == 0)
		return -1;
	nn = snprintf(num, sizeof num, "%" PRIu64, seq);
	sensors__out_init(&o, buf, cap);
	EVENT__KEY(&o, "{\"event_id\":\"");
	sensors__out_escaped(&o, gateway_id);
	sensors__out_raw(&o, ":", 1);
	sensors__out_raw(&o, num, (size_t)nn);
	EVENT__KEY(&o, "\",\"gateway_id\":");
	sensors__out_string(&o, gateway_id);
	EVENT__KEY(&o, ",\"site\":");
	sensors__out_string(&o, site);
	EVENT__KEY(&o, ",\"seq\":");
	sensors__out_raw(&o, num, (size_t)nn);
	sensors__out_raw(&o, ",", 1);
	return sensors__out_finish(&o, buf);
}

/* Expect the literal lit at *p; advance past it. */
static int event__lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* A string's contents up to the closing quote, which is consumed. */
static int event__span(const char **p, const char *end, const char **s, size_t *n, int *escaped)
{
	const char *q = *p;

	while (q < end && *q != '"') {
		if (*q == '\\') {
			*escaped = 1;
			if (++q == end)
				return -1;
		}
		q++;
	}
	if (q == end)
		return -1;
	*s = *p;
	*n = (size_t)(q - *p);
	*p = q + 1;
	return 0;
}

int event_peek(const char *data, size_t len, struct event_ids *out)
{
	const char *p = data, *end = data + len, *site;
	size_t site_len;
	uint64_t seq = 0;

	memset(out, 0, sizeof *out);
	if (event__lit(&p, end, "{\"event_id\":\"") ||
	    event__span(&p, end, &out->event_id, &out->event_id_len, &out->escaped) ||
	    event__lit(&p, end, ",\"gateway_id\":\"") ||
	    event__span(&p, end, &out->gateway_id, &out->gateway_id_len, &out->escaped) ||
	    event__lit(&p, end, ",\"site\":\"") ||
	    event__span(&p, end, &site, &site_len, &out->escaped) ||
	    event__lit(&p, end, ",\"seq\":"))
		return -1;
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (seq > (UINT64_MAX - 9) / 10)
			return -1;
		seq = seq * 10 + (uint64_t)(*p - '0');
	}
	out->seq = seq;
	if (event__lit(&p, end, ",\"sensor_id\":\"") ||
	    event__span(&p, end, &out->sensor_id, &out->sensor_id_len, &out->escaped))
		return -1;
	return 0;
}

static int event__hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		*v <<= 4;
		if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	return 0;
}

int event_unescape(const char *s, size_t len, char *buf, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned cp;
		char c = s[i++];

		if (c != '\\') {
			if (o + 1 >= cap)
				return -1;
			buf[o++] = c;
			continue;
		}
		if (i == len)
			return -1;
		c = s[i++];
		switch (c) {
		case '"': case '\\': case '/': cp = (unsigned char)c; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (len - i < 4 || event__hex4(s + i, &cp))
				return -1;
			i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
				unsigned lo;
				if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
				    event__hex4(s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return -1;
			}
			break;
		default:
			return -1;
		}
		/* UTF-8 */
		if (o + 5 >= cap)
			return -1;
		if (cp < 0x80) {
			buf[o++] = (char)cp;
		} else if (cp < 0x800) {
			buf[o++] = (char)(0xC0 | (cp >> 6));
			buf[o++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			buf[o++] = (char)(0xE0 | (cp >> 12));
			buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			buf[o++] = (char)(0x80 | (cp & 0x3F));
		} else {
			buf[o++] = (char)(0xF0 | (cp >> 18));
			buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
			buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			buf[o++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	if (o >= cap)
		return -1;
	buf[o] = '\0';
	return (int)o;
}
