/*
 * json_out.c - the small JSON writer shared by the sensors/ module's encoders
 * (sensors_int.h): the reading encoder in reading.c and the event encoder in
 * event.c both append to a struct sensors__out, so neither depends on the
 * other.
 *
 * The encoders run once per accepted reading on the scoring thread, so the
 * writer does no allocation and writes in one pass over a caller's buffer.
 * The costly part of JSON output is usually doubles: sensors__format_double()
 * has a fast exact path for the values sensors actually produce (a few
 * decimals) and falls back to printf with a read-back check for the rest.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/sensors_int.h"

/* Exactly representable powers of ten (10^22 is the last exact one). */
static const double json_out__pow10[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* 2^50: below it a scaled value's rounding error is far under 0.5, so the
 * nearest integer is the only candidate for an exact short decimal. */
#define JSON_OUT__FAST_LIMIT 1125899906842624.0

void sensors__out_init(struct sensors__out *o, char *buf, size_t cap)
{
	assert(buf && cap >= 1);
	o->p = buf;
	o->end = buf + cap - 1;
	o->overflow = 0;
}

void sensors__out_raw(struct sensors__out *o, const char *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n) {
		o->overflow = 1;
		o->p = o->end;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

void sensors__out_escaped(struct sensors__out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *run = (const unsigned char *)s;
	const unsigned char *c = run;

	for (;; c++) {
		unsigned char ch = *c;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		sensors__out_raw(o, (const char *)run, (size_t)(c - run));
		if (ch == '\0')
			return;
		char esc[6] = { '\\', 0, 0, 0, 0, 0 };
		size_t n = 2;
		switch (ch) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			n = 6;
			break;
		}
		sensors__out_raw(o, esc, n);
		run = c + 1;
	}
}

void sensors__out_string(struct sensors__out *o, const char *s)
{
	sensors__out_raw(o, "\"", 1);
	sensors__out_escaped(o, s);
	sensors__out_raw(o, "\"", 1);
}

void sensors__out_int(struct sensors__out *o, int64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	sensors__out_raw(o, p, (size_t)(tmp + sizeof tmp - p));
}

void sensors__out_double(struct sensors__out *o, double v)
{
	char tmp[SENSORS__DOUBLE_MAX];
	int n;

	if (!isfinite(v))
		v = 0; /* see event.h: never NaN/Inf in an event */
	n = sensors__format_double(v, tmp);
	sensors__out_raw(o, tmp, (size_t)n);
}

int sensors__out_finish(struct sensors__out *o, char *buf)
{
	*o->p = '\0';
	if (o->overflow)
		return -1;
	return (int)(o->p - buf);
}

/* printf with increasing precision until the text reads back as v. */
static int json_out__format_slow(double v, char *out)
{
	int n = 0;

	/* Subnormals carry fewer digits than 15: search from 1 for them. */
	for (int prec = fabs(v) < 2.2250738585072014e-308 ? 1 : 15; prec <= 17; prec++) {
		n = snprintf(out, SENSORS__DOUBLE_MAX, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			break;
	}
	return n;
}

int sensors__format_double(double v, char *out)
{
	double a = fabs(v);

	assert(isfinite(v));
	if (a >= 1e-4 && a < 1e15) {
		/*
		 * Find the fewest decimals k such that n / 10^k == a for the
		 * integer n nearest a * 10^k. n and 10^k are exact doubles and
		 * IEEE division rounds correctly, so n / 10^k is exactly what
		 * strtod makes of the decimal "n * 10^-k": the check proves
		 * the round trip, and the first k that passes is the shortest.
		 */
		for (int k = 0; k <= 22; k++) {
			double scaled = a * json_out__pow10[k];
			if (scaled >= JSON_OUT__FAST_LIMIT)
				break;
			double n = floor(scaled + 0.5);
			if (n / json_out__pow10[k] != a)
				continue;
			char digits[24];
			char *d = digits + sizeof digits;
			uint64_t u = (uint64_t)n;
			do {
				*--d = (char)('0' + u % 10);
				u /= 10;
			} while (u);
			int nd = (int)(digits + sizeof digits - d);
			char *p = out;
			if (v < 0)
				*p++ = '-';
			if (k == 0) {
				memcpy(p, d, (size_t)nd);
				p += nd;
			} else if (nd > k) {
				memcpy(p, d, (size_t)(nd - k));
				p += nd - k;
				*p++ = '.';
				memcpy(p, d + nd - k, (size_t)k);
				p += k;
			} else {
				*p++ = '0';
				*p++ = '.';
				for (int z = 0; z < k - nd; z++)
					*p++ = '0';
				memcpy(p, d, (size_t)nd);
				p += nd;
			}
			*p = '\0';
			return (int)(p - out);
		}
	}
	return json_out__format_slow(v, out);
}

double sensors__round6(double v)
{
	double a = fabs(v);

	if (!isfinite(v) || a < 1e-4 || a >= 1e15)
		return v;
	int e = 0; /* 10^e <= a < 10^(e+1), e in -4..14 */
	if (a >= 1) {
		while (e < 14 && a >= json_out__pow10[e + 1])
			e++;
	} else {
		e = -1;
		while (a < 1.0 / json_out__pow10[-e] && e > -4)
			e--;
	}
	int k = 5 - e; /* decimals that keep 6 significant digits */
	double r;
	if (k >= 0)
		r = floor(a * json_out__pow10[k] + 0.5) / json_out__pow10[k];
	else
		r = floor(a / json_out__pow10[-k] + 0.5) * json_out__pow10[-k];
	return v < 0 ? -r : r;
}
