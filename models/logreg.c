/*
 * logreg.c - binary logistic regression training with L2 regularisation as
 * Spark MLlib defines it (regParam, elasticNetParam 0, standardization on):
 * minimise mean log-loss + reg_param/2 * ||w||^2 where w are the weights on
 * STANDARDISED features (centred, divided by the sample standard deviation);
 * the intercept is not regularised. Solved by Newton's method with a
 * backtracking line search, which converges in a handful of iterations on
 * this many features and is deterministic. The file stores the weights
 * converted back to the raw feature scale, so inference is one dot product.
 * A feature that is constant in the training data gets weight 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_int.h"

#define P1 (MODEL_MAX_FEATURES + 1) /* unknowns: intercept + weights */

void logreg_params_default(struct logreg_params *p)
{
	memset(p, 0, sizeof *p);
	p->reg_param = 0.1;
	p->max_iter = 100;
	p->tune_threshold = 0;
}

/* Order of (probability, label) pairs: probability descending, then label. */
struct scored { double p; double y; };

static int logreg__scored_desc(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? 1 : -1;
	return (x->y < y->y) - (x->y > y->y);
}

/*
 * The threshold maximising F1 on the training rows: sweep the rows from the
 * most to the least probable, cutting only between distinct probabilities,
 * and put the threshold midway between the last row in and the first out.
 * Returns 0.5 when no cut predicts any positive usefully. -1 when out of memory.
 */
static int logreg__tune_threshold(const struct model *m, const struct model_data *d, double *out)
{
	size_t n = d->n, pos = 0, tp = 0, best_i = 0;
	double best_f1 = 0;
	struct scored *s = malloc(n * sizeof *s);

	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, d->x + i * d->nfeatures, &o);
		s[i].p = o.probability;
		s[i].y = d->y[i];
		pos += d->y[i] == 1;
	}
	qsort(s, n, sizeof *s, logreg__scored_desc);
	for (size_t i = 0; i < n; i++) {
		tp += s[i].y == 1;
		if (i + 1 < n && s[i + 1].p == s[i].p)
			continue;
		double f1 = 2.0 * (double)tp / (double)(i + 1 + pos);
		if (f1 > best_f1) {
			best_f1 = f1;
			best_i = i;
		}
	}
	*out = 0.5;
	if (best_f1 > 0 && best_i + 1 < n)
		*out = (s[best_i].p + s[best_i + 1].p) / 2;
	free(s);
	return 0;
}

/* log(1 + e^z) without overflow. */
static double logreg__log1pexp(double z)
{
	return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double logreg__sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	double e = exp(z);
	return e / (1.0 + e);
}

/* Standardised design: z[i*k + a] for the k active features. */
struct lr {
	const double *y;  /* labels 0/1 */
	double *z;        /* n * k standardised active features */
	size_t n;         /* rows */
	size_t k;         /* active (non-constant) features */
	double lambda;    /* reg_param */
};

/* Objective at theta = (b, w[0..k)). */
static double logreg__objective(const struct lr *s, const double *th)
{
	double loss = 0, reg = 0;
	for (size_t i = 0; i < s->n; i++) {
		const double *zi = s->z + i * s->k;
		double eta = th[0];
		for (size_t a = 0; a < s->k; a++)
			eta += th[a + 1] * zi[a];
		loss += logreg__log1pexp(eta) - s->y[i] * eta;
	}
	for (size_t a = 0; a < s->k; a++)
		reg += th[a + 1] * th[a + 1];
	return loss / (double)s->n + 0.5 * s->lambda * reg;
}

/* Solve H d = g in place by Cholesky (H symmetric positive definite, size m);
 * returns -1 when H is not positive definite. */
static int logreg__cholesky_solve(double h[P1][P1], double *g, size_t m)
{
	for (size_t j = 0; j < m; j++) {
		double s = h[j][j];
		for (size_t q = 0; q < j; q++)
			s -= h[j][q] * h[j][q];
		if (!(s > 0))
			return -1;
		h[j][j] = sqrt(s);
		for (size_t i = j + 1; i < m; i++) {
			double t = h[i][j];
			for (size_t q = 0; q < j; q++)
				t -= h[i][q] * h[j][q];
			h[i][j] = t / h[j][j];
		}
	}
	for (size_t i = 0; i < m; i++) {
		double t = g[i];
		for (size_t q = 0; q < i; q++)
			t -= h[i][q] * g[q];
		g[i] = t / h[i][i];
	}
	for (size_t i = m; i-- > 0;) {
		double t = g[i];
		for (size_t q = i + 1; q < m; q++)
			t -= h[q][i] * g[q];
		g[i] = t / h[i][i];
	}
	return 0;
}

int logreg_train(struct model **out, const struct model_info *info,
		 const struct model_data *d, const struct logreg_params *p,
		 char *err, size_t errlen)
{
	struct lr s = {0};
	struct model *m = NULL;
	double mean[MODEL_MAX_FEATURES] = {0}, sd[MODEL_MAX_FEATURES] = {0};
	size_t active[MODEL_MAX_FEATURES];
	double th[P1] = {0}, trial[P1], g[P1], h[P1][P1];
	int iter = 0;

	*out = NULL;
	if (!(p->reg_param >= 0) || !isfinite(p->reg_param)) {
		snprintf(err, errlen, "reg_param %g (expected a finite number >= 0)", p->reg_param);
		return -1;
	}
	if (p->max_iter < 1) {
		snprintf(err, errlen, "max_iter %d (expected >= 1)", p->max_iter);
		return -1;
	}
	if (model__check_info(info, err, errlen) < 0)
		return -1;
	if (model__check_data(d, err, errlen) < 0)
		return -1;
	size_t n = d->n, nf = d->nfeatures;
	for (size_t i = 0; i < n; i++) {
		if (d->y[i] != 0 && d->y[i] != 1) {
			snprintf(err, errlen, "row %zu: label %g is not 0 or 1", i, d->y[i]);
			return -1;
		}
		for (size_t j = 0; j < nf; j++)
			if (!isfinite(d->x[i * nf + j])) {
				snprintf(err, errlen, "row %zu: feature %zu is not a finite number", i, j);
				return -1;
			}
	}
	m = model__new(MODEL_LOGISTIC_REGRESSION, info, d, err, errlen);
	if (!m)
		return -1;
	m->nclasses = 2;
	if (model__input_histograms(m, d) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	for (size_t j = 0; j < nf; j++) {
		double sum = 0, ss = 0;
		for (size_t i = 0; i < n; i++)
			sum += d->x[i * nf + j];
		mean[j] = sum / (double)n;
		for (size_t i = 0; i < n; i++) {
			double t = d->x[i * nf + j] - mean[j];
			ss += t * t;
		}
		sd[j] = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
	}
	for (size_t j = 0; j < nf; j++)
		if (sd[j] > 0)
			active[s.k++] = j;
	s.y = d->y;
	s.n = n;
	s.lambda = p->reg_param;
	s.z = malloc((s.k ? n * s.k : 1) * sizeof(*s.z));
	if (!s.z) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < s.k; a++) {
			size_t j = active[a];
			s.z[i * s.k + a] = (d->x[i * nf + j] - mean[j]) / sd[j];
		}

	size_t dim = s.k + 1;
	double f = logreg__objective(&s, th);
	if (p->progress)
		p->progress(p->progress_ctx, 0, (size_t)p->max_iter);
	for (iter = 0; iter < p->max_iter; iter++) {
		if (iter > 0 && p->progress)
			p->progress(p->progress_ctx, (size_t)iter, (size_t)p->max_iter);
		memset(g, 0, sizeof(g));
		memset(h, 0, sizeof(h));
		for (size_t i = 0; i < n; i++) {
			const double *zi = s.z + i * s.k;
			double v[P1];
			v[0] = 1;
			double eta = th[0];
			for (size_t a = 0; a < s.k; a++) {
				v[a + 1] = zi[a];
				eta += th[a + 1] * zi[a];
			}
			double pr = logreg__sigmoid(eta), r = pr - d->y[i], wgt = pr * (1 - pr);
			for (size_t a = 0; a < dim; a++) {
				g[a] += r * v[a];
				for (size_t c = 0; c <= a; c++)
					h[a][c] += wgt * v[a] * v[c];
			}
		}
		for (size_t a = 0; a < dim; a++) {
			g[a] /= (double)n;
			for (size_t c = 0; c <= a; c++)
				h[a][c] /= (double)n;
		}
		for (size_t a = 1; a < dim; a++) {
			g[a] += s.lambda * th[a];
			h[a][a] += s.lambda;
		}
		double gmax = 0;
		for (size_t a = 0; a < dim; a++)
			gmax = fmax(gmax, fabs(g[a]));
		if (gmax < 1e-12)
			break;
		/* Tiny ridge keeps separable data without regularisation solvable. */
		for (size_t a = 0; a < dim; a++)
			h[a][a] += 1e-12;
		double step[P1];
		memcpy(step, g, sizeof(step));
		if (logreg__cholesky_solve(h, step, dim) < 0) {
			snprintf(err, errlen, "logistic regression: singular Hessian at iteration %d", iter);
			goto fail;
		}
		double t = 1, slope = 0;
		for (size_t a = 0; a < dim; a++)
			slope += g[a] * step[a];
		double ft = f;
		for (int ls = 0; ls < 50; ls++, t /= 2) {
			for (size_t a = 0; a < dim; a++)
				trial[a] = th[a] - t * step[a];
			ft = logreg__objective(&s, trial);
			if (ft <= f - 1e-4 * t * slope)
				break;
		}
		if (!(ft <= f))
			break; /* no progress possible in floating point */
		double dmax = 0;
		for (size_t a = 0; a < dim; a++)
			dmax = fmax(dmax, fabs(trial[a] - th[a]));
		memcpy(th, trial, sizeof(th));
		f = ft;
		if (dmax < 1e-10)
			break;
	}

	if (p->progress)
		p->progress(p->progress_ctx, (size_t)iter, (size_t)iter);

	/* Back to the raw scale: w_raw = w / sd, intercept absorbs the means. */
	m->intercept = th[0];
	for (size_t a = 0; a < s.k; a++) {
		size_t j = active[a];
		m->weights[j] = th[a + 1] / sd[j];
		m->intercept -= th[a + 1] * mean[j] / sd[j];
	}
	if (!isfinite(m->intercept)) {
		snprintf(err, errlen, "logistic regression diverged");
		goto fail;
	}

	m->threshold = 0.5;
	if (p->tune_threshold && logreg__tune_threshold(m, d, &m->threshold) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	size_t right = 0;
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, d->x + i * nf, &o);
		right += o.label == (int)d->y[i];
	}
	if (model__meta_number(m, 'h', "reg_param", p->reg_param) < 0 ||
	    model__meta_number(m, 'h', "elastic_net_param", 0) < 0 ||
	    model__meta_number(m, 'h', "max_iter", p->max_iter) < 0 ||
	    model__meta_string(m, 'h', "standardization", "centred, sample standard deviation") < 0 ||
	    model__meta_string(m, 'h', "solver", "newton") < 0 ||
	    model__meta_string(m, 'h', "threshold", p->tune_threshold ? "max F1 on training data" : "0.5") < 0 ||
	    model__meta_number(m, 't', "iterations", iter) < 0 ||
	    model__meta_number(m, 't', "objective", f) < 0 ||
	    model__meta_number(m, 't', "training_accuracy", (double)right / (double)n) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	free(s.z);
	*out = m;
	return 0;
fail:
	free(s.z);
	model_free(&m);
	return -1;
}
