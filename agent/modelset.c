/*
 * modelset.c - a model set on disk: its signature and its atomic
 * replacement (see modelset.h).
 */
#include "agent/modelset.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/scorer.h"

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
