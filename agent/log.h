/*
 * log.h - the agent's logger: one line per event worth an operator's
 * attention, on stderr ("component: sentence"). Under systemd (JOURNAL_STREAM
 * set) lines carry a <N> priority prefix and no timestamp, since journald
 * adds its own; elsewhere they start with an ISO 8601 UTC time.
 *
 * Only the agent logs; leaf modules return reasons and the agent decides
 * what to say. Repeats of the same message key are rate-limited with
 * log_ratelimit() so a flapping link cannot fill the disk.
 */
#ifndef FIELDGATE_AGENT_LOG_H
#define FIELDGATE_AGENT_LOG_H

#include <stdint.h>

/* How much to log; [agent] log_level names them in this order. */
enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Set the threshold (messages above it are dropped). Call before threads start. */
void log_set_level(enum log_level level);

/* Log at a level; component is a short lower-case word ("store", "mqtt"). */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)
#define log_warn(c, ...) log_msg(LOG_WARN, c, __VA_ARGS__)
#define log_info(c, ...) log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_debug(c, ...) log_msg(LOG_DEBUG, c, __VA_ARGS__)

/* A rate limiter for one repeated message: at most one line per interval. */
struct log_ratelimit {
	int64_t interval_ms;   /* minimum time between two lines */
	int64_t last_ms;       /* when the last line was let through */
	uint64_t suppressed;   /* lines held back since then */
};

/* Returns 1 if a line may be logged now (and how many were suppressed since
 * the last one in *suppressed), 0 if it should be held back. Not thread-safe:
 * one limiter per thread. */
int log_ratelimit(struct log_ratelimit *rl, int64_t now_ms, uint64_t *suppressed);

#endif
