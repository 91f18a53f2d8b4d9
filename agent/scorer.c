/*
 * scorer.c - load the three models and score a feature vector (see scorer.h).
 */
#include "agent/scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void scorer_predict(const struct scorer *s, const double *f, struct event_prediction *out)
{
	struct model_output o;

	scorer_model_output(s, SCORER_STATUS, f, &o);
	out->status = o.label;
	out->status_probability = o.probability;
	scorer_model_output(s, SCORER_ANOMALY, f, &o);
	out->anomaly = o.label;
	out->anomaly_probability = o.probability;
	scorer_model_output(s, SCORER_HUMIDITY, f, &o);
	out->humidity = o.value;
	out->humidity_residual = f[FEATURE_HUMIDITY] - o.value;
}
