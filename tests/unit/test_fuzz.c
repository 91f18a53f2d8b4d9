/*
 * test_fuzz.c - the fuzz targets' inputs as a unit test (tests/fuzz/): every
 * file in tests/data/fuzz/regressions/NAME/ (inputs that once crashed
 * fuzz_NAME, kept when the bug was fixed) and in tests/data/fuzz/NAME/ (the
 * seeds) goes through the target's own entry point, built here by gcc with
 * ASan+UBSan, in a child process each, so that a crash names its file and
 * the others still run. The targets check what the parsers promise
 * (tests/fuzz/fuzz.h), so a regression is a crash here too.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/fuzz/fuzz.h"
#include "tests/unit/check.h"

#define DATA "../data/fuzz"

struct target {
	const char *name;                             /* NAME in tests/data/fuzz/NAME */
	int (*entry)(const uint8_t *data, size_t size);  /* fuzz_NAME() */
};

static const struct target targets[] = {
	{"reading", fuzz_reading},
	{"config", fuzz_config},
	{"model", fuzz_model},
	{"es_bulk", fuzz_es_bulk},
};

/* Read a whole file; returns a malloc'd buffer (size *len) or NULL. */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1)) && fread(p, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* Run one input through the entry point in a child. Returns 1 if it passed. */
static int replay(const struct target *t, const char *path)
{
	size_t len = 0;
	uint8_t *data = read_file(path, &len);
	pid_t pid;
	int status = 0;

	if (!data) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
		return 0;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* Copy to exactly len bytes, as libFuzzer passes it: a read past the
		 * end is an ASan error here too. */
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact)
			_exit(3);
		memcpy(exact, data, len);
		free(data);
		t->entry(exact, len);
		free(exact);
		_exit(0);
	}
	free(data);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		fprintf(stderr, "%s: cannot run the child: %s\n", path, strerror(errno));
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	fprintf(stderr, "tests/%s: fuzz_%s failed on it (%s %d); replay: build/fuzz/fuzz_%s tests/%s\n",
		path + 3, t->name, WIFSIGNALED(status) ? "signal" : "exit status",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), t->name, path + 3);
	return 0;
}

/* Replay every regular file of dir; returns how many there were (-1: no dir). */
static int replay_dir(const struct target *t, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		CHECK(replay(t, path));
		n++;
	}
	closedir(d);
	return n;
}

int main(void)
{
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const struct target *t = &targets[i];
		char dir[256];
		int n;

		/* Every target has seeds: an empty folder would test nothing. */
		snprintf(dir, sizeof dir, "%s/%s", DATA, t->name);
		n = replay_dir(t, dir);
		if (n < 5)
			fprintf(stderr, "%s: %d seeds (expected at least 5)\n", dir, n);
		CHECK(n >= 5);
		/* Regressions: only the targets that ever crashed have a folder. */
		snprintf(dir, sizeof dir, "%s/regressions/%s", DATA, t->name);
		n = replay_dir(t, dir);
		if (n == 0)
			fprintf(stderr, "%s: an empty folder (remove it or add the inputs)\n", dir);
		CHECK(n != 0);
	}
	return check_done("test_fuzz");
}
