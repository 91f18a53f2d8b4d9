/*
 * sensors_int.h - internals shared by the sensors/ module's own files: the
 * small JSON writer (json_out.c) used by both the reading encoder (reading.c)
 * and the event encoder (event.c), and the shortest round-trip double
 * formatter.
 * Nothing outside sensors/ includes this file (tests may).
 */
#ifndef FIELDGATE_SENSORS_INT_H
#define FIELDGATE_SENSORS_INT_H

#include <stddef.h>
#include <stdint.h>

/* Longest text sensors__format_double() writes, plus the NUL. */
#define SENSORS__DOUBLE_MAX 32

/* An append-only cursor over a caller's buffer. Writes past the end are not
 * made; they set overflow instead, so callers check once at the end. */
struct sensors__out {
	char *p;       /* next byte to write */
	char *end;     /* one past the last usable byte (a NUL still fits at end) */
	int overflow;  /* 1 once anything did not fit */
};

/* Start a cursor over buf[0..cap); one byte is kept for the final NUL.
 * cap must be >= 1. */
void sensors__out_init(struct sensors__out *o, char *buf, size_t cap);

/* Append n raw bytes. */
void sensors__out_raw(struct sensors__out *o, const char *s, size_t n);

/* Append s escaped for the inside of a JSON string (no quotes). Bytes >= 0x80
 * pass through: readings were validated as UTF-8 on the way in. */
void sensors__out_escaped(struct sensors__out *o, const char *s);

/* Append s as a JSON string literal, quotes included, escaped. */
void sensors__out_string(struct sensors__out *o, const char *s);

/* Append a double in shortest round-trip form; non-finite values are written
 * as 0 (they cannot occur for valid readings; see event.h). */
void sensors__out_double(struct sensors__out *o, double v);

/* Append a signed decimal integer. */
void sensors__out_int(struct sensors__out *o, int64_t v);

/* NUL-terminate and return the length written, or -1 on overflow. */
int sensors__out_finish(struct sensors__out *o, char *buf);

/*
 * Write v into out (SENSORS__DOUBLE_MAX bytes) as the shortest decimal that
 * strtod() reads back as exactly v ("23.4", "1e-07", "-0"). v must be finite.
 * Returns the length.
 */
int sensors__format_double(double v, char *out);

/* v rounded to 6 significant digits (finite v; others returned unchanged). */
double sensors__round6(double v);

#endif
