/*
 * scorer.c - load the three models and score a feature vector (see scorer.h).
 */
#include "agent/scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const slot_files[SCORER_NMODELS] = {
	SCORER_STATUS_FILE, SCORER_ANOMALY_FILE, SCORER_HUMIDITY_FILE,
};
static const enum model_kind slot_kinds[SCORER_NMODELS] = {
	MODEL_RANDOM_FOREST, MODEL_LOGISTIC_REGRESSION, MODEL_GBT_REGRESSOR,
};
static const char *const kind_names[] = {
	"", "random_forest_classifier", "logistic_regression", "gbt_regressor",
};

void scorer_free(struct scorer **s)
{
	if (!s || !*s)
		return;
	for (int i = 0; i < SCORER_NMODELS; i++)
		model_free(&(*s)->model[i]);
	free(*s);
	*s = NULL;
}

int scorer_load(struct scorer **out, const char *dir, char *err, size_t errlen)
{
	struct scorer *s = calloc(1, sizeof *s);
	char path[4096];

	if (!s) {
		snprintf(err, errlen, "out of memory loading models");
		return -1;
	}
	for (int i = 0; i < SCORER_NMODELS; i++) {
		struct model *m;
		snprintf(path, sizeof path, "%s/%s", dir, slot_files[i]);
		if (model_load(&s->model[i], path, err, errlen) < 0)
			goto fail;
		m = s->model[i];
		if (model_kind(m) != slot_kinds[i]) {
			snprintf(err, errlen, "%s: kind %s, expected %s", path,
				 kind_names[model_kind(m)], kind_names[slot_kinds[i]]);
			goto fail;
		}
		if (i == SCORER_STATUS && model_nclasses(m) != 3) {
			snprintf(err, errlen, "%s: %zu classes, expected 3 (normal, warning, fault)",
				 path, model_nclasses(m));
			goto fail;
		}
		for (size_t j = 0; j < model_nfeatures(m); j++) {
			int id = features_lookup(model_feature_name(m, j));
			if (id < 0) {
				snprintf(err, errlen, "%s: feature \"%s\" is not in the catalogue (known: %s)",
					 path, model_feature_name(m, j), features_names_list());
				goto fail;
			}
			s->map[i][j] = id;
		}
		snprintf(s->label[i], sizeof s->label[i], "%s@%d", model_name(m), model_version(m));
		s->trained[i] = model_training_stat(m, i == SCORER_HUMIDITY ? "training_rmse"
						    : "training_accuracy");
	}
	s->names.status = s->label[SCORER_STATUS];
	s->names.anomaly = s->label[SCORER_ANOMALY];
	s->names.humidity = s->label[SCORER_HUMIDITY];
	*out = s;
	return 0;
fail:
	scorer_free(&s);
	return -1;
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
