/*
 * gbt.c - gradient-boosted regression trees with squared loss, after Spark
 * MLlib's GBTRegressor: the first tree is fitted to y with weight 1, each
 * later tree to the current residuals with weight step_size. We write the
 * first tree as init = mean(y) plus a tree fitted to y - mean(y), which is
 * the same model (variance splits ignore a constant shift) and keeps the
 * file's arithmetic explicit: prediction = init + sum(tree_weights[t] *
 * leaf_t(x)). No subsampling, all features at every node: deterministic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_int.h"

void gbt_params_default(struct gbt_params *p)
{
	memset(p, 0, sizeof *p);
	p->iterations = 10;
	p->max_depth = 5;
	p->max_bins = 32;
	p->step_size = 0.1;
	p->seed = 42;
}

int gbt_train(struct model **out, const struct model_info *info,
	      const struct model_data *d, const struct gbt_params *p,
	      char *err, size_t errlen)
{
	struct model__binned bd = {0};
	struct model__builder b = {0};
	struct model *m = NULL;
	double *res = NULL, *pred = NULL, *tw = NULL;

	*out = NULL;
	if (p->iterations < 1 || p->iterations > MODEL_MAX_TREES) {
		snprintf(err, errlen, "iterations %d (expected 1..%d)", p->iterations, MODEL_MAX_TREES);
		return -1;
	}
	if (p->max_depth < 0 || p->max_depth > MODEL__MAX_DEPTH) {
		snprintf(err, errlen, "max_depth %d (expected 0..%d)", p->max_depth, MODEL__MAX_DEPTH);
		return -1;
	}
	if (!(p->step_size > 0 && p->step_size <= 1)) {
		snprintf(err, errlen, "step_size %g (expected 0 < step_size <= 1)", p->step_size);
		return -1;
	}
	if (model__check_info(info, err, errlen) < 0)
		return -1;
	if (p->progress)
		p->progress(p->progress_ctx, 0, (size_t)p->iterations);
	if (model__bin(&bd, d, p->max_bins, err, errlen) < 0)
		return -1;
	size_t n = d->n, nf = d->nfeatures;
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(d->y[i])) {
			snprintf(err, errlen, "row %zu: target is not a finite number", i);
			goto fail;
		}
		sum += d->y[i];
	}
	m = model__new(MODEL_GBT_REGRESSOR, info, d, err, errlen);
	if (!m)
		goto fail;
	if (model__input_histograms(m, d) < 0)
		goto nomem;
	res = malloc(n * sizeof(*res));
	pred = malloc(n * sizeof(*pred));
	tw = malloc((size_t)p->iterations * sizeof(*tw));
	if (!res || !pred || !tw)
		goto nomem;
	m->init = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		pred[i] = m->init;

	struct model__tree_params tp = {.max_depth = p->max_depth, .nclasses = 0, .mtry = nf};
	for (int t = 0; t < p->iterations; t++) {
		for (size_t i = 0; i < n; i++)
			res[i] = d->y[i] - pred[i];
		if (model__grow(&b, &bd, res, NULL, &tp, err, errlen) < 0)
			goto fail;
		tw[t] = t == 0 ? 1.0 : p->step_size;
		uint32_t root = b.roots[b.ntrees - 1];
		for (size_t i = 0; i < n; i++)
			pred[i] += tw[t] * model__walk(b.nodes, root, d->x + i * nf)->value;
		if (p->progress)
			p->progress(p->progress_ctx, (size_t)t + 1, (size_t)p->iterations);
	}
	if (model__take_trees(m, &b) < 0)
		goto nomem;
	m->tree_weights = tw;
	tw = NULL;

	double ss = 0;
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, d->x + i * nf, &o);
		ss += (d->y[i] - o.value) * (d->y[i] - o.value);
	}
	if (model__meta_number(m, 'h', "iterations", p->iterations) < 0 ||
	    model__meta_number(m, 'h', "max_depth", p->max_depth) < 0 ||
	    model__meta_number(m, 'h', "max_bins", p->max_bins) < 0 ||
	    model__meta_number(m, 'h', "step_size", p->step_size) < 0 ||
	    model__meta_string(m, 'h', "loss", "squared") < 0 ||
	    model__meta_string(m, 'h', "impurity", "variance") < 0 ||
	    model__meta_number(m, 'h', "subsampling_rate", 1) < 0 ||
	    model__meta_seed(m, 'h', "seed", p->seed) < 0 ||
	    model__meta_number(m, 't', "training_rmse", sqrt(ss / (double)n)) < 0)
		goto nomem;
	free(res);
	free(pred);
	model__binned_free(&bd);
	*out = m;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(res);
	free(pred);
	free(tw);
	model__binned_free(&bd);
	model__builder_free(&b);
	model_free(&m);
	return -1;
}
