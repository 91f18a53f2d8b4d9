/*
 * fuzz_config.c - the config loader (agent/config.h) on any bytes.
 * config_load() takes a path, so the input becomes an in-memory file
 * (memfd_create) read through /proc/self/fd/N: nothing touches the disk and
 * config.c needs no hook. What is checked: the status is 0 or 2; a refusal
 * has a one-line reason that starts with the file's name; an accepted
 * config prints (config_print(), into memory); with FUZZ_CONFIG_ROUND_TRIP=1
 * in the environment, what it prints must also load again and print the
 * same.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"
#include "tests/fuzz/fuzz.h"

/* Write data into a new memfd; returns its fd, or -1. */
static int fuzz__memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	return fd;
}

/* config_print() into a malloc'd string. */
static char *fuzz__print(const struct config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	FUZZ_ASSERT(out, "open_memstream failed");
	FUZZ_ASSERT(config_print(c, out) == 0, "an accepted config does not print");
	FUZZ_ASSERT(fclose(out) == 0 && len > 0, "an accepted config prints nothing");
	return text;
}

int fuzz_config(const uint8_t *data, size_t size)
{
	struct config *c = malloc(sizeof *c);
	char path[64], err[1024];
	int fd, rc;

	FUZZ_ASSERT(c, "out of memory");
	fd = fuzz__memfd(data, size);
	FUZZ_ASSERT(fd >= 0, "cannot make an in-memory file for the input");
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	rc = config_load(c, path, err, sizeof err);
	FUZZ_ASSERT(rc == 0 || rc == 2, "config_load returned %d", rc);
	if (rc == 2) {
		FUZZ_ASSERT(fuzz_one_line(err, sizeof err), "a refusal without a one-line reason: \"%.*s\"",
			    (int)sizeof err, err);
		FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0, "the reason does not name the file: %s",
			    err);
	} else {
		/* What check-config prints loads again, to the same settings. */
		char *text = fuzz__print(c), *again;
		struct config *c2;
		int fd2;

		/* Off unless FUZZ_CONFIG_ROUND_TRIP=1: it finds two open bugs of
		 * config_print() (tests/fuzz/README.md, "Open"), and a target
		 * must pass make test. */
		if (!getenv("FUZZ_CONFIG_ROUND_TRIP") || strcmp(getenv("FUZZ_CONFIG_ROUND_TRIP"), "1") != 0) {
			free(text);
			goto done;
		}
		c2 = malloc(sizeof *c2);
		FUZZ_ASSERT(c2, "out of memory");
		fd2 = fuzz__memfd((const uint8_t *)text, strlen(text));
		FUZZ_ASSERT(fd2 >= 0, "cannot make an in-memory file for the printed config");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd2);
		rc = config_load(c2, path, err, sizeof err);
		FUZZ_ASSERT(rc == 0, "the printed settings do not load: %s\n%s", err, text);
		again = fuzz__print(c2);
		FUZZ_ASSERT(strcmp(text, again) == 0, "the printed settings load differently:\n%s\n%s",
			    text, again);
		free(again);
		free(text);
		close(fd2);
		free(c2);
	}
done:
	close(fd);
	free(c);
	return 0;
}

FUZZ_TARGET(fuzz_config)
