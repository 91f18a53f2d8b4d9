/*
 * state.c - the agent.state file (see state.h).
 */
#include "agent/state.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void state_set(struct state *s, const char *key, const char *fmt, ...)
{
	struct state_kv *kv;
	va_list ap;

	if (s->n >= STATE_MAX_KEYS)
		return;
	kv = &s->kv[s->n++];
	snprintf(kv->key, sizeof kv->key, "%s", key);
	va_start(ap, fmt);
	vsnprintf(kv->value, sizeof kv->value, fmt, ap);
	va_end(ap);
	for (char *p = kv->value; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int state_write(const struct state *s, const char *dir)
{
	char tmp[4096], path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, STATE_FILE);
	if (!(f = fopen(tmp, "w")))
		return -1;
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%s=%s\n", s->kv[i].key, s->kv[i].value);
	ok = fflush(f) == 0 && !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int state_read(struct state *s, const char *dir)
{
	char path[4096], line[700];
	FILE *f;

	s->n = 0;
	snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f) && s->n < STATE_MAX_KEYS) {
		char *eq = strchr(line, '=');
		size_t n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		snprintf(s->kv[s->n].key, sizeof s->kv[s->n].key, "%.*s", (int)sizeof s->kv[0].key - 1, line);
		snprintf(s->kv[s->n].value, sizeof s->kv[s->n].value, "%.*s", (int)sizeof s->kv[0].value - 1, eq + 1);
		s->n++;
	}
	fclose(f);
	return 0;
}

const char *state_get(const struct state *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

const char *state_value(const struct state *s, const char *key, const char *dflt)
{
	const char *v = state_get(s, key);
	return v ? v : dflt;
}

int state_is_live(const struct state *s, int64_t now_ms, int64_t max_age_ms)
{
	const char *pid = state_get(s, "pid"), *upd = state_get(s, "updated_ms");
	long p;

	if (!pid || !upd || now_ms - strtoll(upd, NULL, 10) > max_age_ms)
		return 0;
	p = strtol(pid, NULL, 10);
	return p > 0 && (kill((pid_t)p, 0) == 0 || errno == EPERM);
}
