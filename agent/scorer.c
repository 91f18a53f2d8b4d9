/*
 * scorer.c - load the three models and score a feature vector (see scorer.h).
 */
#include "agent/scorer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/digest.h"

static const char *const slot_files[SCORER_NMODELS] = {
	SCORER_STATUS_FILE, SCORER_ANOMALY_FILE, SCORER_HUMIDITY_FILE,
};
static const enum model_kind slot_kinds[SCORER_NMODELS] = {
	MODEL_RANDOM_FOREST, MODEL_LOGISTIC_REGRESSION, MODEL_GBT_REGRESSOR,
};

static int scorer__cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void scorer_free(struct scorer **s)
{
	if (!s || !*s)
		return;
	for (int i = 0; i < SCORER_NMODELS; i++)
		model_free(&(*s)->model[i]);
	free(*s);
	*s = NULL;
}

#define SCORER__MANIFEST_MAX 4096 /* bytes of SHA256SUMS read at most */

/* Read dir/name through dfd into a new buffer (*buf, *len; NUL-terminated).
 * Returns 0, 1 when the file does not exist (only if may_be_absent), or -1
 * with a reason naming path. */
static int scorer__read(int dfd, const char *dir, const char *name, int may_be_absent,
			long max, char **buf, size_t *len, char *err, size_t errlen)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	ssize_t got;
	size_t n = 0;

	*buf = NULL;
	if (fd < 0) {
		if (may_be_absent && errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s/%s: cannot open: %s", dir, name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s/%s: not a regular file", dir, name);
		goto fail;
	}
	if (sb.st_size > max) {
		if (max == MODEL_MAX_FILE_BYTES)
			snprintf(err, errlen, "%s/%s: %lld bytes (a model file has at most %ld, %ld MiB)",
				 dir, name, (long long)sb.st_size, max, max >> 20);
		else
			snprintf(err, errlen, "%s/%s: %lld bytes (at most %ld)", dir, name,
				 (long long)sb.st_size, max);
		goto fail;
	}
	if (!(*buf = malloc((size_t)sb.st_size + 1))) {
		snprintf(err, errlen, "%s/%s: out of memory", dir, name);
		goto fail;
	}
	while (n < (size_t)sb.st_size && (got = read(fd, *buf + n, (size_t)sb.st_size - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s/%s: cannot read: %s", dir, name, strerror(errno));
			goto fail;
		}
		n += (size_t)got;
	}
	close(fd);
	(*buf)[n] = '\0';
	*len = n; /* shorter than st_size: being truncated; the parser will say so */
	return 0;
fail:
	close(fd);
	free(*buf);
	*buf = NULL;
	return -1;
}

/* The hash SHA256SUMS gives for name, into want; -1 when it lists none. */
static int scorer__sealed_hash(const char *manifest, const char *name,
			       char want[DIGEST_SHA256_HEX])
{
	size_t nl = strlen(name);

	for (const char *p = manifest; *p;) {
		const char *e = strchr(p, '\n'), *f;
		size_t n = e ? (size_t)(e - p) : strlen(p);

		/* "HEX  NAME" (text mode) or "HEX *NAME" (binary mode) */
		if (n == 64 + 2 + nl && (p[64] == ' ' && (p[65] == ' ' || p[65] == '*'))) {
			f = p + 66;
			if (memcmp(f, name, nl) == 0) {
				memcpy(want, p, 64);
				want[64] = '\0';
				return 0;
			}
		}
		p += n + (e ? 1 : 0);
	}
	return -1;
}

/* The input-drift plan: every non-calendar catalogue feature one of the
 * models records a training histogram for, once. */
static void scorer__plan_psi(struct scorer *s)
{
	int seen[FEATURE_COUNT] = { 0 };

	s->npsi = 0;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		for (size_t j = 0; j < model_nfeatures(s->model[i]); j++) {
			int id = s->map[i][j];
			struct scorer_psi *p = &s->psi[s->npsi];
			if (seen[id] || features_is_calendar((enum feature_id)id))
				continue;
			p->nbins = model_input_histogram(s->model[i], j, &p->edges, &p->expected);
			if (p->nbins < 2)
				continue; /* none, or one bin: nothing can move */
			p->id = (enum feature_id)id;
			p->slot = i;
			seen[id] = 1;
			s->npsi++;
		}
	}
}

const char *scorer_slot_file(enum scorer_slot slot)
{
	return slot < SCORER_NMODELS ? slot_files[slot] : NULL;
}

enum model_kind scorer_slot_kind(enum scorer_slot slot)
{
	return slot_kinds[slot < SCORER_NMODELS ? slot : 0];
}

int scorer_check_model(const struct model *m, enum scorer_slot slot, const char *path,
		       int *map, char *err, size_t errlen)
{
	if (model_kind(m) != slot_kinds[slot]) {
		snprintf(err, errlen, "%s: kind %s, expected %s", path,
			 model_kind_name(model_kind(m)), model_kind_name(slot_kinds[slot]));
		return -1;
	}
	if (slot == SCORER_STATUS && model_nclasses(m) != 3) {
		snprintf(err, errlen, "%s: %zu classes, expected 3 (normal, warning, fault)",
			 path, model_nclasses(m));
		return -1;
	}
	for (size_t j = 0; j < model_nfeatures(m); j++) {
		int id = features_lookup(model_feature_name(m, j));
		if (id < 0) {
			snprintf(err, errlen, "%s: feature \"%s\" is not in the catalogue (known: %s)",
				 path, model_feature_name(m, j), features_names_list());
			return -1;
		}
		if (map)
			map[j] = id;
	}
	return 0;
}

int scorer_load(struct scorer **out, const char *dir, char *err, size_t errlen)
{
	struct scorer *s = calloc(1, sizeof *s);
	char path[4096], *manifest = NULL, *buf = NULL;
	size_t len;
	int dfd = -1, rc;

	if (!s) {
		snprintf(err, errlen, "out of memory loading models");
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open the model directory: %s", dir, strerror(errno));
		goto fail;
	}
	rc = scorer__read(dfd, dir, SCORER_MANIFEST, 1, SCORER__MANIFEST_MAX, &manifest, &len,
			  err, errlen);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		struct model *m;
		char want[DIGEST_SHA256_HEX], got[DIGEST_SHA256_HEX];

		snprintf(path, sizeof path, "%s/%s", dir, slot_files[i]);
		if (scorer__read(dfd, dir, slot_files[i], 0, MODEL_MAX_FILE_BYTES, &buf, &len,
				 err, errlen) < 0)
			goto fail;
		if (manifest) {
			if (scorer__sealed_hash(manifest, slot_files[i], want) < 0) {
				snprintf(err, errlen, "%s: not listed in %s/%s (the set is sealed: "
					 "reseal it with fieldgate models seal)", path, dir,
					 SCORER_MANIFEST);
				goto fail;
			}
			if (digest_sha256_hex(buf, len, got) < 0) {
				snprintf(err, errlen, "%s: cannot compute its SHA-256", path);
				goto fail;
			}
			if (strcmp(want, got) != 0) {
				snprintf(err, errlen, "%s: does not match %s (a set half-copied, or a "
					 "file changed after the set was sealed)", path,
					 SCORER_MANIFEST);
				goto fail;
			}
		}
		rc = model_parse(&s->model[i], buf, len, path, err, errlen);
		free(buf);
		buf = NULL;
		if (rc < 0)
			goto fail;
		m = s->model[i];
		if (scorer_check_model(m, (enum scorer_slot)i, path, s->map[i], err, errlen) < 0)
			goto fail;
		snprintf(s->label[i], sizeof s->label[i], "%s@%d", model_name(m), model_version(m));
		s->trained[i] = model_training_stat(m, i == SCORER_HUMIDITY ? "training_rmse"
						    : "training_accuracy");
	}
	s->names.status = s->label[SCORER_STATUS];
	s->names.anomaly = s->label[SCORER_ANOMALY];
	s->names.humidity = s->label[SCORER_HUMIDITY];
	scorer__plan_psi(s);
	close(dfd);
	free(manifest);
	*out = s;
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	free(manifest);
	free(buf);
	scorer_free(&s);
	return -1;
}

int scorer_seal(const char *dir, char *err, size_t errlen)
{
	char text[SCORER_NMODELS * (DIGEST_SHA256_HEX + 64)], path[4096], tmp[4096] = "";
	const char *order[SCORER_NMODELS];
	size_t used = 0, len;
	char *buf = NULL;
	int dfd, fd = -1, rc = -1;
	FILE *f = NULL;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
		return -1;
	}
	/* sha256sum's order for `sha256sum *.json`: by name. */
	memcpy(order, slot_files, sizeof order);
	qsort(order, SCORER_NMODELS, sizeof order[0], scorer__cmp_names);
	for (int i = 0; i < SCORER_NMODELS; i++) {
		char hex[DIGEST_SHA256_HEX];

		if (scorer__read(dfd, dir, order[i], 0, MODEL_MAX_FILE_BYTES, &buf, &len, err, errlen) < 0)
			goto out;
		if (digest_sha256_hex(buf, len, hex) < 0) {
			snprintf(err, errlen, "%s/%s: cannot compute its SHA-256", dir, order[i]);
			goto out;
		}
		free(buf);
		buf = NULL;
		used += (size_t)snprintf(text + used, sizeof text - used, "%s  %s\n", hex, order[i]);
	}
	snprintf(path, sizeof path, "%s/%s", dir, SCORER_MANIFEST);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, SCORER_MANIFEST);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (fwrite(text, 1, used, f) != used || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp[0])
		unlink(tmp);
	free(buf);
	close(dfd);
	return rc;
}

void scorer_model_output(const struct scorer *s, enum scorer_slot slot,
			 const double *f, struct model_output *out)
{
	const struct model *m = s->model[slot];
	double x[MODEL_MAX_FEATURES];
	size_t n = model_nfeatures(m);

	for (size_t j = 0; j < n; j++)
		x[j] = f[s->map[slot][j]];
	model_predict(m, x, out);
}

/* The three models in turn; ns (may be NULL) gets each one's time. */
static void scorer__predict(const struct scorer *s, const double *f, struct event_prediction *out,
			    uint64_t *ns)
{
	struct model_output o;
	struct timespec t[SCORER_NMODELS + 1];

	if (ns)
		clock_gettime(CLOCK_MONOTONIC, &t[0]);
	scorer_model_output(s, SCORER_STATUS, f, &o);
	out->status = o.label;
	out->status_probability = o.probability;
	if (ns)
		clock_gettime(CLOCK_MONOTONIC, &t[1]);
	scorer_model_output(s, SCORER_ANOMALY, f, &o);
	out->anomaly = o.label;
	out->anomaly_probability = o.probability;
	if (ns)
		clock_gettime(CLOCK_MONOTONIC, &t[2]);
	scorer_model_output(s, SCORER_HUMIDITY, f, &o);
	out->humidity = o.value;
	out->humidity_residual = f[FEATURE_HUMIDITY] - o.value;
	if (ns) {
		clock_gettime(CLOCK_MONOTONIC, &t[3]);
		for (int i = 0; i < SCORER_NMODELS; i++) {
			int64_t d = (int64_t)(t[i + 1].tv_sec - t[i].tv_sec) * 1000000000LL +
				    (t[i + 1].tv_nsec - t[i].tv_nsec);
			ns[i] = d > 0 ? (uint64_t)d : 0;
		}
	}
}

void scorer_predict(const struct scorer *s, const double *f, struct event_prediction *out)
{
	scorer__predict(s, f, out, NULL);
}

void scorer_predict_timed(const struct scorer *s, const double *f, struct event_prediction *out,
			  uint64_t ns[SCORER_NMODELS])
{
	scorer__predict(s, f, out, ns);
}
