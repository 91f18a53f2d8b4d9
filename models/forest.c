/*
 * forest.c - random forest classifier training, after Spark MLlib's
 * RandomForestClassifier: each tree sees a Poisson(1) bootstrap of the rows
 * (sampling with replacement), considers ceil(sqrt(nfeatures)) random
 * features at each node ("auto" for classification; all features when there
 * is one tree), splits by gini impurity among at most max_bins quantile bins
 * per feature, and stores the normalised class distribution in its leaves.
 * Tree t draws from its own PRNG seeded with splitmix64(seed, t), so the
 * result depends only on the data, the parameters and the seed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_int.h"

void forest_params_default(struct forest_params *p)
{
	memset(p, 0, sizeof *p);
	p->trees = 20;
	p->max_depth = 5;
	p->max_bins = 32;
	p->nclasses = 3;
	p->seed = 42;
}

int forest_train(struct model **out, const struct model_info *info,
		 const struct model_data *d, const struct forest_params *p,
		 char *err, size_t errlen)
{
	struct model__binned bd = {0};
	struct model__builder b = {0};
	struct model *m = NULL;
	double *w = NULL;
	size_t nf = d ? d->nfeatures : 0;

	*out = NULL;
	if (p->trees < 1 || p->trees > MODEL_MAX_TREES) {
		snprintf(err, errlen, "trees %d (expected 1..%d)", p->trees, MODEL_MAX_TREES);
		return -1;
	}
	if (p->max_depth < 0 || p->max_depth > MODEL__MAX_DEPTH) {
		snprintf(err, errlen, "max_depth %d (expected 0..%d)", p->max_depth, MODEL__MAX_DEPTH);
		return -1;
	}
	if (p->nclasses < 2 || p->nclasses > MODEL_MAX_CLASSES) {
		snprintf(err, errlen, "nclasses %d (expected 2..%d)", p->nclasses, MODEL_MAX_CLASSES);
		return -1;
	}
	if (model__check_info(info, err, errlen) < 0)
		return -1;
	if (p->progress)
		p->progress(p->progress_ctx, 0, (size_t)p->trees);
	if (model__bin(&bd, d, p->max_bins, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < d->n; i++) {
		double y = d->y[i];
		if (!(y >= 0 && y < p->nclasses && y == floor(y))) {
			snprintf(err, errlen, "row %zu: label %g is not a class 0..%d", i, y, p->nclasses - 1);
			goto fail;
		}
	}
	m = model__new(MODEL_RANDOM_FOREST, info, d, err, errlen);
	w = malloc(d->n * sizeof(*w));
	if (!m || !w)
		goto nomem_or_fail;
	m->nclasses = (size_t)p->nclasses;
	if (model__input_histograms(m, d) < 0)
		goto nomem_or_fail;

	size_t mtry = nf;
	if (p->trees > 1) {
		mtry = (size_t)ceil(sqrt((double)nf));
		if (mtry < 1)
			mtry = 1;
		if (mtry > nf)
			mtry = nf;
	}
	for (int t = 0; t < p->trees; t++) {
		struct model__rng rng;
		model__rng_seed(&rng, p->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(t + 1)));
		for (size_t i = 0; i < d->n; i++)
			w[i] = model__rng_poisson1(&rng);
		struct model__tree_params tp = {
			.max_depth = p->max_depth, .nclasses = (size_t)p->nclasses,
			.mtry = mtry, .rng = &rng,
		};
		if (model__grow(&b, &bd, d->y, w, &tp, err, errlen) < 0)
			goto fail;
		if (p->progress)
			p->progress(p->progress_ctx, (size_t)t + 1, (size_t)p->trees);
	}
	if (model__take_trees(m, &b) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	/* Training accuracy, for the file's provenance. */
	size_t right = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct model_output o;
		model_predict(m, d->x + i * nf, &o);
		right += o.label == (int)d->y[i];
	}
	if (model__meta_number(m, 'h', "trees", p->trees) < 0 ||
	    model__meta_number(m, 'h', "max_depth", p->max_depth) < 0 ||
	    model__meta_number(m, 'h', "max_bins", p->max_bins) < 0 ||
	    model__meta_string(m, 'h', "impurity", "gini") < 0 ||
	    model__meta_string(m, 'h', "feature_subset", p->trees > 1 ? "sqrt" : "all") < 0 ||
	    model__meta_number(m, 'h', "features_per_node", (double)mtry) < 0 ||
	    model__meta_string(m, 'h', "bootstrap", "poisson(1)") < 0 ||
	    model__meta_seed(m, 'h', "seed", p->seed) < 0 ||
	    model__meta_number(m, 't', "training_accuracy", (double)right / (double)d->n) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	free(w);
	model__binned_free(&bd);
	*out = m;
	return 0;
nomem_or_fail:
	if (m)
		snprintf(err, errlen, "out of memory");
fail:
	free(w);
	model__binned_free(&bd);
	model__builder_free(&b);
	model_free(&m);
	return -1;
}
