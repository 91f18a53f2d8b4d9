/*
 * progress.c - the progress bar of long commands (see progress.h): the text
 * of a bar, drawing a block of bars in place with carriage returns and
 * cursor-up escapes, and the rate limit that keeps a per-line caller (one
 * update per reading) from redrawing more than 10 times a second.
 */
#include "agent/progress.h"

#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent/clock.h"

#define PROGRESS__BAR_MIN 10 /* characters of the bar itself, at least */
#define PROGRESS__BAR_MAX 30 /* and at most: it takes the room the rest leaves */
#define PROGRESS__LINE 256   /* bytes of one line's text */

int progress_wanted(FILE *f)
{
	return f && isatty(fileno(f));
}

void progress_start(struct progress *p, FILE *out, int on, const char *label,
		    enum progress_unit kind, const char *unit, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->on = on && out;
	snprintf(p->label, sizeof p->label, "%s", label ? label : "");
	p->kind = kind;
	p->unit = unit ? unit : "";
	p->total = total;
	p->drawn_ms = INT64_MIN;
	if (p->on)
		p->start_ms = clock_mono_ms();
}

void progress_update(struct progress *p, uint64_t done)
{
	if (!p->on)
		return;
	p->done = done;
	int64_t now = clock_mono_ms();
	if (p->drawn_ms != INT64_MIN && now - p->drawn_ms < PROGRESS_REDRAW_MS)
		return;
	struct progress *one = p;
	progress_draw(&one, 1, 0);
}

void progress_set_total(struct progress *p, uint64_t total)
{
	p->total = total;
}

void progress_finish(struct progress *p)
{
	if (!p->on)
		return;
	if (p->total)
		p->done = p->total;
	struct progress *one = p;
	progress_draw(&one, 1, 1);
}

void progress_interrupt(struct progress *p)
{
	if (!p->on || !p->visible)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
	p->visible = 0;
}

/* Append to buf at *at, never past len - 1. */
__attribute__((format(printf, 4, 5)))
static void progress__put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	if (*at >= len - 1)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = *at + (size_t)n < len - 1 ? *at + (size_t)n : len - 1;
}

/* Byte scales: the one a value reads best in. */
static const struct { double div; const char *name; } progress__scales[] = {
	{ 1, "B" }, { 1e3, "kB" }, { 1e6, "MB" }, { 1e9, "GB" },
};

static size_t progress__scale(double v)
{
	size_t s = 0;
	while (s + 1 < sizeof progress__scales / sizeof progress__scales[0] &&
	       v >= progress__scales[s + 1].div)
		s++;
	return s;
}

/* "1:05" or "2:03:07". */
static void progress__time(char *buf, size_t len, size_t *at, double secs)
{
	long s = secs > 0 ? (long)(secs + 0.5) : 0;
	if (s >= 3600)
		progress__put(buf, len, at, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		progress__put(buf, len, at, "%ld:%02ld", s / 60, s % 60);
}

/* Everything right of the bar: percentage, counts with `done` done, rate,
 * then the time left (eta >= 0), or the elapsed time (final). */
static size_t progress__tail(const struct progress *p, double done, double rate, double eta,
			     double secs, int final, char *buf, size_t len)
{
	double total = (double)p->total;
	size_t at = 0;

	buf[0] = '\0';
	if (p->total)
		progress__put(buf, len, &at, " %3d%%", done < total ? (int)(100 * done / total) : 100);
	if (p->kind == PROGRESS_BYTES) {
		size_t s = progress__scale(p->total ? total : done);
		double div = progress__scales[s].div;
		int prec = s ? 1 : 0;
		/* Fixed widths, so the line keeps its length as the numbers change. */
		if (p->total)
			progress__put(buf, len, &at, " %*.*f/%.*f %s", prec ? 5 : 3, prec, done / div, prec,
				      total / div, progress__scales[s].name);
		else
			progress__put(buf, len, &at, " %.*f %s", prec, done / div, progress__scales[s].name);
		size_t rs = progress__scale(rate);
		progress__put(buf, len, &at, " %5.*f %s/s", rs ? 1 : 0, rate / progress__scales[rs].div,
			      progress__scales[rs].name);
	} else {
		if (p->total) {
			char t[24];
			int tw = snprintf(t, sizeof t, "%llu", (unsigned long long)p->total);
			progress__put(buf, len, &at, " %*.0f/%s %s", tw, done, t, p->unit);
		} else {
			progress__put(buf, len, &at, " %.0f %s", done, p->unit);
		}
		progress__put(buf, len, &at, rate >= 100 ? " %5.0f/s" : " %5.1f/s", rate);
	}
	if (final) {
		progress__put(buf, len, &at, " in ");
		progress__time(buf, len, &at, secs);
	} else if (eta >= 0) {
		progress__put(buf, len, &at, " ETA ");
		progress__time(buf, len, &at, eta);
	}
	return at;
}

size_t progress_format(const struct progress *p, int64_t now_ms, int final, size_t width,
		       char *buf, size_t len)
{
	char tail[PROGRESS__LINE];
	size_t at = 0;
	double secs = (double)(now_ms - p->start_ms) / 1000.0;
	double done = (double)p->done, total = (double)p->total;
	double rate = secs > 0 ? done / secs : 0;
	/* no time left before a second has gone by: the rate means little yet */
	double eta = p->total && p->done > 0 && p->done < p->total && secs >= 1
		     ? secs * (total - done) / done : -1;

	if (len == 0)
		return 0;
	size_t tl = progress__tail(p, done, rate, eta, secs, final, tail, sizeof tail);
	buf[0] = '\0';
	progress__put(buf, len, &at, "%-*s", PROGRESS_LABEL_MAX, p->label);
	if (p->total) {
		/* The bar gets the room left by the widest tail this bar will have
		 * (all done, a time left shown), so it keeps its width as it fills. */
		char widest[PROGRESS__LINE];
		size_t wl = progress__tail(p, total, rate, 0, secs, 0, widest, sizeof widest);
		size_t used = at + 3 + (wl > tl ? wl : tl); /* " [" and "]" */
		size_t w = width > used ? width - used : 0;
		char bar[PROGRESS__BAR_MAX + 1];
		if (w < PROGRESS__BAR_MIN)
			w = PROGRESS__BAR_MIN;
		if (w > PROGRESS__BAR_MAX)
			w = PROGRESS__BAR_MAX;
		double frac = done < total ? done / total : 1.0;
		size_t fill = (size_t)(frac * (double)w);
		memset(bar, '#', fill);
		memset(bar + fill, '.', w - fill);
		bar[w] = '\0';
		progress__put(buf, len, &at, " [%s]", bar);
	}
	progress__put(buf, len, &at, "%s", tail);
	return at;
}

/* Columns of the terminal behind f (80 when it does not say). */
static size_t progress__columns(FILE *f)
{
	struct winsize ws;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void progress_draw(struct progress *const *bars, size_t n, int final)
{
	FILE *out = NULL;
	size_t lines = 0;
	int64_t now = clock_mono_ms();

	for (size_t i = 0; i < n; i++) {
		struct progress *p = bars[i];
		char line[PROGRESS__LINE];
		if (!p->on)
			continue;
		out = p->out;
		/* one column short of the width: a line that wraps cannot be redrawn in place */
		size_t cols = progress__columns(out) - 1;
		if (progress_format(p, now, final, cols, line, sizeof line) > cols)
			line[cols] = '\0';
		fprintf(out, "%s\r%s\033[K", lines ? "\n" : "", line);
		p->drawn_ms = now;
		p->visible = !final;
		lines++;
	}
	if (!out)
		return;
	if (final)
		fputc('\n', out);
	else if (lines > 1)
		fprintf(out, "\033[%zuA", lines - 1); /* back to the first bar for the next draw */
	fflush(out);
}

void progress_callback(void *ctx, size_t done, size_t total)
{
	struct progress *p = ctx;
	p->total = total;
	progress_update(p, done);
}
