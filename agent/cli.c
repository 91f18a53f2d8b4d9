/*
 * cli.c - small helpers the subcommands share: option values, directories,
 * and reading a JSON-lines file of readings (with a progress bar).
 */
#include "agent/cli.h"
#include "agent/cli_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_parse_u64(const char *s, unsigned long long *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

int cli_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return (errno || *end || !isfinite(*out)) ? -1 : 0;
}

int cli_mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int cli_load_config(const char *path, struct config **out)
{
	char err[1024];
	struct config *c = malloc(sizeof *c);

	*out = NULL;
	if (!c) {
		fprintf(stderr, "fieldgate: out of memory\n");
		return EXIT_RUNTIME;
	}
	if (config_load(c, path, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		free(c);
		return EXIT_USAGE;
	}
	*out = c;
	return 0;
}

int cli_foreach_line(FILE *in, const char *name, cli_line_fn fn, void *ctx)
{
	return cli_foreach_line_progress(in, name, fn, ctx, NULL);
}

uint64_t cli_file_size(FILE *in)
{
	struct stat st;
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		return (uint64_t)st.st_size;
	return 0;
}

int cli_foreach_line_progress(FILE *in, const char *name, cli_line_fn fn, void *ctx,
			      struct progress *bar)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	uint64_t bytes = 0;
	int rc = 0;

	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		bytes += (uint64_t)len;
		if (bar && bar->on)
			progress_update(bar, bytes);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if ((rc = fn(ctx, line, (size_t)len, lineno)) != 0)
			break;
	}
	if (rc == 0 && ferror(in)) {
		if (bar)
			progress_interrupt(bar);
		fprintf(stderr, "%s: read error: %s\n", name, strerror(errno));
		rc = -1;
	}
	free(line);
	return rc;
}
