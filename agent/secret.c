/*
 * secret.c - read a secret file (see secret.h).
 */
#include "agent/secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int secret_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(out, (int)cap, f)) {
		snprintf(err, errlen, "%s: empty", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: empty first line", path);
		return -1;
	}
	return 0;
}
