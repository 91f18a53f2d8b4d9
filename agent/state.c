/*
 * state.c - the agent.state file (see state.h).
 */
#include "agent/state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

/* The file is padded with newlines (empty lines, skipped by state_read) to
 * a multiple of STATE__BLOCK bytes, so that on a full file system it can
 * still be overwritten in place: its blocks are already allocated. */
#define STATE__BLOCK 4096

/* Format s into buf (padded); returns the length, or -1 when too long. */
static long state__format(const struct state *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		int w = snprintf(buf + n, cap - n, "%s=%s\n", s->kv[i].key, s->kv[i].value);
		if (w < 0 || (size_t)w >= cap - n)
			return -1;
		n += (size_t)w;
	}
	while (n % STATE__BLOCK && n < cap)
		buf[n++] = '\n';
	return (long)n;
}

/*
 * Written in place, under an exclusive flock() that state_read() waits for
 * (shared): a reader never sees half of one version and half of the next.
 * Not temp + rename: that is a new inode, a data block written at once and
 * a file-system journal commit every second, about 14 KiB/s of flash wear
 * on an idle gateway (tests/bench/RESULTS.md, flash wear). In place, the
 * same block is rewritten in the page cache and reaches the device when
 * the kernel writes it back; on a full file system it still fits, since its
 * blocks are allocated (the padding). After a power cut the file may hold
 * a mix of two versions: the agent that starts writes a whole one within
 * a second, and state_is_live() says whether a writer is running at all.
 */
int state_write(const struct state *s, const char *dir)
{
	size_t cap = STATE_MAX_KEYS * (sizeof(struct state_kv) + 2) + STATE__BLOCK;
	char path[4096], *buf = malloc(cap);
	long n = buf ? state__format(s, buf, cap) : -1;
	struct stat sb;
	int fd = -1, rc = -1, e;
	ssize_t w;

	if (n < 0) {
		free(buf);
		errno = buf ? EOVERFLOW : ENOMEM;
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    flock(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0)
		goto done;
	w = pwrite(fd, buf, (size_t)n, 0);
	if (w != (ssize_t)n) {
		if (w >= 0)
			errno = ENOSPC; /* a short write: the disk filled up */
		goto done;
	}
	if (sb.st_size > n && ftruncate(fd, (off_t)n) != 0)
		goto done;
	rc = 0;
done:
	e = errno;
	if (fd >= 0)
		close(fd); /* and the lock with it */
	free(buf);
	errno = e;
	return rc;
}

int state_read(struct state *s, const char *dir)
{
	char path[4096], line[700];
	FILE *f;

	s->n = 0;
	snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
	if (!(f = fopen(path, "r")))
		return -1;
	/* Shared: waits while state_write() is rewriting the file. */
	if (flock(fileno(f), LOCK_SH) != 0) {
		int e = errno;
		fclose(f);
		errno = e;
		return -1;
	}
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
