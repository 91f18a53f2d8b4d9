/*
 * log.c - stderr logging for the agent (see log.h). A line is formatted
 * whole into a buffer and written with one write(2), so lines from several
 * threads never interleave.
 */
#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The agent's one piece of process-wide logging state: set once at start. */
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int journal_priorities[] = { 3, 4, 6, 7 };

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	char line[2048];
	size_t n = 0;
	va_list ap;
	int w;

	if (level > log_threshold)
		return;
	if (getenv("JOURNAL_STREAM")) {
		w = snprintf(line, sizeof line, "<%d>%s: ", journal_priorities[level], component);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		w = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02dZ %s %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			     tm.tm_min, tm.tm_sec, level_names[level], component);
	}
	if (w > 0)
		n = (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (w > 0)
		n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* A failed write to stderr has nowhere else to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

int log_ratelimit(struct log_ratelimit *rl, int64_t now_ms, uint64_t *suppressed)
{
	if (rl->last_ms != 0 && now_ms - rl->last_ms < rl->interval_ms) {
		rl->suppressed++;
		return 0;
	}
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->last_ms = now_ms;
	return 1;
}
