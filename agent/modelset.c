/*
 * modelset.c - a model set on disk: its signature and its atomic
 * replacement (see modelset.h).
 */
#include "agent/modelset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/scorer.h"
#include "models/model.h"



static const char *const modelset__names[MODELSET_FILES] = {
	SCORER_STATUS_FILE, SCORER_ANOMALY_FILE, SCORER_HUMIDITY_FILE, SCORER_MANIFEST,
};

void modelset_signature(const char *dir, struct modelset_sig *out)
{
	struct stat sb;
	int dfd;

	memset(out, 0, sizeof *out);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (fstat(dfd, &sb) == 0) {
		out->ok = 1;
		out->dir_dev = (uint64_t)sb.st_dev;
		out->dir_ino = (uint64_t)sb.st_ino;
	}
	for (int i = 0; i < MODELSET_FILES; i++) {
		if (fstatat(dfd, modelset__names[i], &sb, 0) != 0)
			continue;
		out->file[i].ino = (uint64_t)sb.st_ino;
		out->file[i].size = (uint64_t)sb.st_size;
		out->file[i].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
		out->file[i].ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000LL + sb.st_ctim.tv_nsec;
	}
	close(dfd);
}

int modelset_sig_equal(const struct modelset_sig *a, const struct modelset_sig *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

/* Copy the file `name` from directory `from` into directory fd `to`, synced. */
static int modelset__copy(const char *from, int to, const char *to_path, const char *name,
			  char *err, size_t errlen)
{
	char path[PATH_MAX + 64], buf[65536];
	int in, out = -1, rc = -1;
	ssize_t n;
	long total = 0;

	snprintf(path, sizeof path, "%s/%s", from, name);
	if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if ((out = openat(to, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		snprintf(err, errlen, "%s/%s: cannot create: %s", to_path, name, strerror(errno));
		goto out;
	}
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (total += n) > MODEL_MAX_FILE_BYTES) {
			if (n < 0)
				snprintf(err, errlen, "%s: %s", path, strerror(errno));
			else
				snprintf(err, errlen, "%s: more than %ld bytes (a model file has at most "
					 "%ld, %ld MiB)", path, MODEL_MAX_FILE_BYTES, MODEL_MAX_FILE_BYTES,
					 MODEL_MAX_FILE_BYTES >> 20);
			goto out;
		}
		for (ssize_t w, done = 0; done < n; done += w) {
			if ((w = write(out, buf + done, (size_t)(n - done))) < 0) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				snprintf(err, errlen, "%s/%s: cannot write: %s", to_path, name,
					 strerror(errno));
				goto out;
			}
		}
	}
	if (fsync(out) != 0) {
		snprintf(err, errlen, "%s/%s: cannot sync: %s", to_path, name, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(in);
	if (out >= 0 && close(out) != 0 && rc == 0) {
		snprintf(err, errlen, "%s/%s: cannot write: %s", to_path, name, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Remove a set directory that holds only set files (never anything else). */
static int modelset__remove(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	for (int i = 0; i < MODELSET_FILES; i++)
		(void)unlinkat(dfd, modelset__names[i], 0);
	close(dfd);
	return rmdir(dir);
}

/* a and b trade places atomically; where the file system cannot, two
 * renames (an agent loading in between finds no set and keeps its own). */
static int modelset__exchange(const char *a, const char *b)
{
	char tmp[PATH_MAX + 32];

	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	snprintf(tmp, sizeof tmp, "%s.swap-%ld", b, (long)getpid());
	if (rename(b, tmp) != 0)
		return -1;
	if (rename(a, b) != 0) {
		int e = errno;
		(void)rename(tmp, b);
		errno = e;
		return -1;
	}
	return rename(tmp, a);
}

int modelset_install(const char *from, const char *live, char *previous, size_t prevlen,
		     char *err, size_t errlen)
{
	char real[PATH_MAX], staging[PATH_MAX + 32], prev[PATH_MAX + 48], dirpart[PATH_MAX];
	struct scorer *check = NULL;
	int dfd = -1;

	if (!realpath(live, real)) {
		snprintf(err, errlen, "%s: %s", live, strerror(errno));
		return -1;
	}
	snprintf(staging, sizeof staging, "%s.promote-%ld", real, (long)getpid());
	snprintf(prev, sizeof prev, "%s.previous", real);
	(void)modelset__remove(staging);
	if (mkdir(staging, 0755) != 0) {
		snprintf(err, errlen, "%s: cannot create: %s", staging, strerror(errno));
		return -1;
	}
	if ((dfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", staging, strerror(errno));
		goto fail;
	}
	for (int i = 0; i < MODELSET_FILES - 1; i++)
		if (modelset__copy(from, dfd, staging, modelset__names[i], err, errlen) < 0)
			goto fail;
	if (scorer_seal(staging, err, errlen) < 0)
		goto fail;
	/* What is about to go live loads, as the agent will load it. */
	if (scorer_load(&check, staging, err, errlen) < 0)
		goto fail;
	scorer_free(&check);
	if (fsync(dfd) != 0) {
		snprintf(err, errlen, "%s: cannot sync: %s", staging, strerror(errno));
		goto fail;
	}
	close(dfd);
	dfd = -1;
	if (modelset__exchange(staging, real) != 0) {
		snprintf(err, errlen, "cannot swap %s into %s: %s", staging, real, strerror(errno));
		goto fail;
	}
	/* staging now holds the set that was live. */
	if (modelset__remove(prev) != 0 && errno != ENOENT)
		snprintf(prev, sizeof prev, "%s.previous-%ld", real, (long)getpid());
	if (rename(staging, prev) != 0)
		snprintf(prev, sizeof prev, "%s", staging);
	snprintf(dirpart, sizeof dirpart, "%s", real);
	{
		/* The renames are durable once the parent directory is synced. */
		char *slash = strrchr(dirpart, '/');
		int pfd;
		if (slash && slash != dirpart)
			*slash = '\0';
		if ((pfd = open(dirpart, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(pfd);
			close(pfd);
		}
	}
	snprintf(previous, prevlen, "%s", prev);
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	(void)modelset__remove(staging);
	return -1;
}

int modelset_rollback(const char *live, char *err, size_t errlen)
{
	char real[PATH_MAX], prev[PATH_MAX + 16];
	struct scorer *check = NULL;

	if (!realpath(live, real)) {
		snprintf(err, errlen, "%s: %s", live, strerror(errno));
		return -1;
	}
	snprintf(prev, sizeof prev, "%s.previous", real);
	if (access(prev, F_OK) != 0) {
		snprintf(err, errlen, "%s: no previous set to go back to (promote keeps one)", prev);
		return -1;
	}
	if (scorer_load(&check, prev, err, errlen) < 0)
		return -1;
	scorer_free(&check);
	if (modelset__exchange(prev, real) != 0) {
		snprintf(err, errlen, "cannot swap %s into %s: %s", prev, real, strerror(errno));
		return -1;
	}
	return 0;
}
