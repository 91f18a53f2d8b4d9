/*
 * fuzz_model.c - the model loader (models/model.h, models/FORMAT.md) on any
 * bytes: model_parse() of the input, then, when it is accepted, what the
 * agent does with a loaded model: its accessors, its training histograms
 * and model_predict() on a few feature vectors (zeros, large values, NaN
 * for the trees, and values from the input). What is checked: a refusal is a negative status with a
 * one-line reason naming the origin; an accepted model is consistent (a
 * kind, a version >= 1, 1..MODEL_MAX_FEATURES named features, classifiers
 * with 2..MODEL_MAX_CLASSES classes, histograms with increasing edges) and
 * predicts a label among its classes and finite probabilities in [0, 1].
 */
#include <math.h>
#include <string.h>

#include "models/model.h"
#include "tests/fuzz/fuzz.h"

static void fuzz__check_model(const struct model *m)
{
	size_t nf = model_nfeatures(m), nc = model_nclasses(m);
	enum model_kind kind = model_kind(m);

	FUZZ_ASSERT(kind == MODEL_RANDOM_FOREST || kind == MODEL_LOGISTIC_REGRESSION ||
		    kind == MODEL_GBT_REGRESSOR, "kind %d accepted", (int)kind);
	FUZZ_ASSERT(strcmp(model_kind_name(kind), "?") != 0, "kind %d has no name", (int)kind);
	FUZZ_ASSERT(model_name(m) && model_name(m)[0], "a model without a name accepted");
	FUZZ_ASSERT(model_version(m) >= 1, "version %d accepted", model_version(m));
	FUZZ_ASSERT(nf >= 1 && nf <= MODEL_MAX_FEATURES, "%zu features accepted", nf);
	FUZZ_ASSERT(kind == MODEL_GBT_REGRESSOR ? nc == 0 : nc >= 2 && nc <= MODEL_MAX_CLASSES,
		    "a %s with %zu classes accepted", model_kind_name(kind), nc);
	(void)model_training_stat(m, "training_accuracy");
	(void)model_ntrees(m);
	(void)model_nnodes(m);
	(void)model_split_float32(m);
	for (size_t j = 0; j < nf; j++) {
		const double *edges, *fractions;
		size_t k = model_input_histogram(m, j, &edges, &fractions);

		FUZZ_ASSERT(model_feature_name(m, j) && model_feature_name(m, j)[0],
			    "feature %zu has no name", j);
		FUZZ_ASSERT(k <= MODEL_HISTOGRAM_MAX_BINS, "feature %zu: %zu bins accepted", j, k);
		for (size_t i = 1; i + 1 < k; i++)
			FUZZ_ASSERT(edges[i - 1] < edges[i], "feature %zu: edges out of order", j);
		for (size_t i = 0; i < k; i++)
			FUZZ_ASSERT(fractions[i] >= 0 && fractions[i] <= 1, "feature %zu: fraction %g",
				    j, fractions[i]);
	}
}

static void fuzz__predict(const struct model *m, const double *x)
{
	struct model_output o;
	size_t nc = model_nclasses(m);

	model_predict(m, x, &o);
	if (model_kind(m) == MODEL_GBT_REGRESSOR)
		return; /* any double: the regressor's value is not bounded by the format */
	FUZZ_ASSERT(o.label >= 0 && (size_t)o.label < nc, "label %d of %zu classes", o.label, nc);
	FUZZ_ASSERT(o.probability >= 0 && o.probability <= 1, "probability %.17g", o.probability);
	for (size_t i = 0; i < nc; i++)
		FUZZ_ASSERT(o.proba[i] >= 0 && o.proba[i] <= 1, "proba[%zu] %.17g", i, o.proba[i]);
}

int fuzz_model(const uint8_t *data, size_t size)
{
	struct model *m = NULL;
	char err[512];
	double x[MODEL_MAX_FEATURES];
	int rc = model_parse(&m, (const char *)data, size, "fuzz.json", err, sizeof err);

	if (rc != 0) {
		FUZZ_ASSERT(rc < 0, "model_parse returned %d", rc);
		FUZZ_ASSERT(!m, "a refused model is returned");
		FUZZ_ASSERT(fuzz_one_line(err, sizeof err), "a refusal without a one-line reason: \"%.*s\"",
			    (int)sizeof err, err);
		FUZZ_ASSERT(strstr(err, "fuzz.json"), "the reason does not name the origin: %s", err);
		return 0;
	}
	FUZZ_ASSERT(m, "model_parse returned 0 and no model");
	fuzz__check_model(m);
	for (size_t j = 0; j < MODEL_MAX_FEATURES; j++)
		x[j] = 0;
	fuzz__predict(m, x);
	for (size_t j = 0; j < MODEL_MAX_FEATURES; j++)
		x[j] = j % 2 ? -1e6 : 1e6; /* beyond any reading's features */
	fuzz__predict(m, x);
	for (size_t j = 0; j < MODEL_MAX_FEATURES; j++)
		x[j] = NAN;
	if (model_kind(m) != MODEL_LOGISTIC_REGRESSION)
		fuzz__predict(m, x); /* FORMAT.md: in a tree, a NaN goes right */
	for (size_t j = 0; j < MODEL_MAX_FEATURES; j++)
		x[j] = j < size ? (double)data[j] - 128 : 0.5;
	fuzz__predict(m, x);
	model_free(&m);
	FUZZ_ASSERT(!m, "model_free does not clear the pointer");
	return 0;
}

FUZZ_TARGET(fuzz_model)
