/*
 * state.h - the running agent's live state, for `fieldgate status` in
 * another process: a small text file, DATA_DIR/agent.state, rewritten
 * in place under flock() every second (state.c says why), one `key=value` per line
 * (values never contain a newline). The buffer holds what is durable; this
 * file holds what is only true while the agent runs (pid, source
 * connection, counters since start).
 */
#ifndef FIELDGATE_AGENT_STATE_H
#define FIELDGATE_AGENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_FILE "agent.state"
#define STATE_MAX_KEYS 160

struct state_kv {
	char key[48];     /* e.g. "source_state" */
	char value[512];  /* newline-free */
};

struct state {
	size_t n;                          /* entries */
	struct state_kv kv[STATE_MAX_KEYS];/* in file order */
};

/* Add key=value (printf-style value; newlines become spaces). Silently
 * ignores entries beyond STATE_MAX_KEYS. */
void state_set(struct state *s, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write the file into dir (readers see all of it or none of it). Returns
 * 0, or -1 with errno. */
int state_write(const struct state *s, const char *dir);

/* Read dir's file. Returns 0, or -1 when absent or unreadable. */
int state_read(struct state *s, const char *dir);

/* The value of key, or NULL. */
const char *state_get(const struct state *s, const char *key);

/* The value of key, or dflt when absent. */
const char *state_value(const struct state *s, const char *key, const char *dflt);

/* 1 if the file was written by a live process within the last max_age_ms. */
int state_is_live(const struct state *s, int64_t now_ms, int64_t max_age_ms);

#endif
