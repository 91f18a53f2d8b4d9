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
 *
 * Rows may be weighted by class ("balanced", as scikit-learn's class_weight)
 * and the decision threshold is either fixed or chosen automatically: the
 * model is first fitted on all but the last LOGREG_HOLDOUT_PCT % of the
 * rows, the threshold with the fewest errors on those held-out rows is
 * taken (logreg_choose_threshold), and the model is then fitted again on
 * every row and keeps that threshold.
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
	p->class_weight = LOGREG_WEIGHT_NONE;
	p->auto_threshold = 0;
	p->threshold = 0.5;
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

int logreg_choose_threshold(const double *p, const double *y, size_t n, double *t)
{
	size_t pos = 0, tp = 0, best_i = 0, best_err;
	int found = 0;
	struct scored *s;

	*t = 0.5;
	if (n == 0)
		return 0;
	if (!(s = malloc(n * sizeof *s)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		s[i].p = p[i];
		s[i].y = y[i];
		pos += y[i] == 1;
	}
	qsort(s, n, sizeof *s, logreg__scored_desc);
	best_err = pos; /* never alarming misses every anomaly */
	for (size_t i = 0; i < n; i++) {
		tp += s[i].y == 1;
		if (i + 1 < n && s[i + 1].p == s[i].p)
			continue;
		size_t errors = (i + 1 - tp) + (pos - tp); /* false alarms + misses */
		if (errors < best_err) {
			best_err = errors;
			best_i = i;
			found = 1;
		}
	}
	if (found) {
		double c = best_i + 1 < n ? (s[best_i].p + s[best_i + 1].p) / 2 : s[best_i].p / 2;
		if (c > 0 && c < 1)
			*t = c;
		else
			found = 0;
	}
	free(s);
	return found;
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
	double cw[2];     /* the weight of a row of class 0, of class 1 */
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
		loss += s->cw[s->y[i] == 1] * (logreg__log1pexp(eta) - s->y[i] * eta);
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

/* A fit: the raw-scale model and how the solver got there. */
struct logreg__fit {
	double intercept;                   /* raw scale */
	double weights[MODEL_MAX_FEATURES]; /* raw scale */
	int iterations;                     /* Newton steps taken */
	double objective;                   /* at the solution */
};

/*
 * Fit on the first n rows of d (checked by the caller) with p's
 * regularisation and class weights; progress reported when report is set.
 * Returns 0, or -1 with a reason.
 */
static int logreg__fit(const struct model_data *d, size_t n, const struct logreg_params *p,
		       int report, struct logreg__fit *out, char *err, size_t errlen)
{
	struct lr s = {0};
	double mean[MODEL_MAX_FEATURES] = {0}, sd[MODEL_MAX_FEATURES] = {0};
	size_t active[MODEL_MAX_FEATURES], nf = d->nfeatures, npos = 0;
	double th[P1] = {0}, trial[P1], g[P1], h[P1][P1];
	int iter = 0;

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++)
		npos += d->y[i] == 1;
	s.cw[0] = s.cw[1] = 1;
	if (p->class_weight == LOGREG_WEIGHT_BALANCED) {
		/* scikit-learn's n / (2 n_c); a class with no rows weighs nothing anyway */
		if (npos < n)
			s.cw[0] = (double)n / (2.0 * (double)(n - npos));
		if (npos > 0)
			s.cw[1] = (double)n / (2.0 * (double)npos);
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
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < s.k; a++) {
			size_t j = active[a];
			s.z[i * s.k + a] = (d->x[i * nf + j] - mean[j]) / sd[j];
		}

	size_t dim = s.k + 1;
	double f = logreg__objective(&s, th);
	if (report && p->progress)
		p->progress(p->progress_ctx, 0, (size_t)p->max_iter);
	for (iter = 0; iter < p->max_iter; iter++) {
		if (iter > 0 && report && p->progress)
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
			double c = s.cw[d->y[i] == 1];
			double pr = logreg__sigmoid(eta), r = c * (pr - d->y[i]), wgt = c * pr * (1 - pr);
			for (size_t a = 0; a < dim; a++) {
				g[a] += r * v[a];
				for (size_t q = 0; q <= a; q++)
					h[a][q] += wgt * v[a] * v[q];
			}
		}
		for (size_t a = 0; a < dim; a++) {
			g[a] /= (double)n;
			for (size_t q = 0; q <= a; q++)
				h[a][q] /= (double)n;
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
			free(s.z);
			return -1;
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
	free(s.z);
	if (report && p->progress)
		p->progress(p->progress_ctx, (size_t)iter, (size_t)iter);

	/* Back to the raw scale: w_raw = w / sd, intercept absorbs the means. */
	out->intercept = th[0];
	for (size_t a = 0; a < s.k; a++) {
		size_t j = active[a];
		out->weights[j] = th[a + 1] / sd[j];
		out->intercept -= th[a + 1] * mean[j] / sd[j];
	}
	if (!isfinite(out->intercept)) {
		snprintf(err, errlen, "logistic regression diverged");
		return -1;
	}
	out->iterations = iter;
	out->objective = f;
	return 0;
}

/* P(class 1) of row x under a fit. */
static double logreg__prob(const struct logreg__fit *fit, const double *x, size_t nf)
{
	double z = fit->intercept;
	for (size_t j = 0; j < nf; j++)
		z += fit->weights[j] * x[j];
	return logreg__sigmoid(z);
}

/* What choosing the threshold on the held-out slice found. */
struct logreg__holdout {
	size_t rows;        /* held-out rows (0: no slice, see note) */
	double accuracy;    /* of the first fit at the chosen threshold, on them */
	double all_normal;  /* of answering 0 every time, on them */
	double precision;   /* of its alarms there, the share that were class 1 */
	double recall;      /* of the class-1 rows there, the share alarmed */
	const char *note;   /* why the threshold is 0.5 after all, or NULL */
};

/*
 * The automatic threshold: fit on the first rows, choose on the last
 * LOGREG_HOLDOUT_PCT %. *thr gets it (0.5 and h->note when the slice is
 * too small or one-sided, or no cut beats never alarming). 0, or -1 with
 * a reason.
 */
static int logreg__auto_threshold(const struct model_data *d, const struct logreg_params *p,
				  double *thr, struct logreg__holdout *h, char *err, size_t errlen)
{
	size_t n = d->n, nf = d->nfeatures, hold = n * LOGREG_HOLDOUT_PCT / 100, k = n - hold;
	size_t fitpos = 0, pos = 0, tp = 0, fp = 0, right = 0;
	struct logreg__fit *fit = NULL;
	double *prob = NULL;
	int rc = -1, found;

	*thr = 0.5;
	memset(h, 0, sizeof *h);
	for (size_t i = 0; i < n; i++) {
		fitpos += i < k && d->y[i] == 1;
		pos += i >= k && d->y[i] == 1;
	}
	if (hold < 10) {
		h->note = "0.5: too few rows to hold out 20 % (at least 50 needed)";
		return 0;
	}
	if (pos == 0 || pos == hold || fitpos == 0 || fitpos == k) {
		h->note = "0.5: the held-out or the fitting rows have only one class";
		return 0;
	}
	if (!(fit = malloc(sizeof *fit)) || !(prob = malloc(hold * sizeof *prob))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (logreg__fit(d, k, p, 0, fit, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < hold; i++)
		prob[i] = logreg__prob(fit, d->x + (k + i) * nf, nf);
	if ((found = logreg_choose_threshold(prob, d->y + k, hold, thr)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!found)
		h->note = "0.5: no threshold beat never alarming on the held-out rows";
	for (size_t i = 0; i < hold; i++) {
		int alarm = prob[i] >= *thr, yes = d->y[k + i] == 1;
		tp += alarm && yes;
		fp += alarm && !yes;
		right += alarm == yes;
	}
	h->rows = hold;
	h->accuracy = (double)right / (double)hold;
	h->all_normal = (double)(hold - pos) / (double)hold;
	h->precision = tp + fp ? (double)tp / (double)(tp + fp) : 0;
	h->recall = (double)tp / (double)pos;
	rc = 0;
out:
	free(fit);
	free(prob);
	return rc;
}

int logreg_train(struct model **out, const struct model_info *info,
		 const struct model_data *d, const struct logreg_params *p,
		 char *err, size_t errlen)
{
	struct model *m = NULL;
	struct logreg__fit *fit = NULL;
	struct logreg__holdout hold = {0};
	double thr = p->threshold;

	*out = NULL;
	if (!(p->reg_param >= 0) || !isfinite(p->reg_param)) {
		snprintf(err, errlen, "reg_param %g (expected a finite number >= 0)", p->reg_param);
		return -1;
	}
	if (p->max_iter < 1) {
		snprintf(err, errlen, "max_iter %d (expected >= 1)", p->max_iter);
		return -1;
	}
	if (p->class_weight != LOGREG_WEIGHT_NONE && p->class_weight != LOGREG_WEIGHT_BALANCED) {
		snprintf(err, errlen, "class_weight %d (expected none or balanced)", (int)p->class_weight);
		return -1;
	}
	if (!p->auto_threshold && !(p->threshold > 0 && p->threshold < 1)) {
		snprintf(err, errlen, "threshold %g (expected a probability between 0 and 1, "
			 "both excluded)", p->threshold);
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
	if (model__input_histograms(m, d) < 0 || !(fit = malloc(sizeof *fit))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (p->auto_threshold && logreg__auto_threshold(d, p, &thr, &hold, err, errlen) < 0)
		goto fail;
	if (logreg__fit(d, n, p, 1, fit, err, errlen) < 0)
		goto fail;
	m->intercept = fit->intercept;
	memcpy(m->weights, fit->weights, sizeof fit->weights);
	m->threshold = thr;

	size_t right = 0;
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, d->x + i * nf, &o);
		right += o.label == (int)d->y[i];
	}
	int bad = model__meta_number(m, 'h', "reg_param", p->reg_param) < 0 ||
		  model__meta_number(m, 'h', "elastic_net_param", 0) < 0 ||
		  model__meta_number(m, 'h', "max_iter", p->max_iter) < 0 ||
		  model__meta_string(m, 'h', "standardization", "centred, sample standard deviation") < 0 ||
		  model__meta_string(m, 'h', "solver", "newton") < 0 ||
		  model__meta_string(m, 'h', "class_weight", p->class_weight == LOGREG_WEIGHT_BALANCED
				     ? "balanced" : "none") < 0;
	if (!bad && p->auto_threshold)
		bad = model__meta_string(m, 'h', "threshold", "auto") < 0 ||
		      model__meta_string(m, 'h', "threshold_rule",
					 "fewest false alarms plus misses on the last 20 % of the "
					 "training rows, fitted on the rest; midway between two "
					 "probabilities; the highest of equal ones; 0.5 when none "
					 "beats never alarming") < 0;
	else if (!bad)
		bad = model__meta_number(m, 'h', "threshold", p->threshold) < 0;
	bad = bad || model__meta_number(m, 't', "iterations", fit->iterations) < 0 ||
	      model__meta_number(m, 't', "objective", fit->objective) < 0 ||
	      model__meta_number(m, 't', "training_accuracy", (double)right / (double)n) < 0;
	if (!bad && p->auto_threshold && hold.rows)
		bad = model__meta_number(m, 't', "threshold_holdout_rows", (double)hold.rows) < 0 ||
		      model__meta_number(m, 't', "threshold_holdout_accuracy", hold.accuracy) < 0 ||
		      model__meta_number(m, 't', "threshold_holdout_all_normal_accuracy",
					 hold.all_normal) < 0 ||
		      model__meta_number(m, 't', "threshold_holdout_precision", hold.precision) < 0 ||
		      model__meta_number(m, 't', "threshold_holdout_recall", hold.recall) < 0;
	if (!bad && p->auto_threshold && hold.note)
		bad = model__meta_string(m, 't', "threshold_note", hold.note) < 0;
	if (bad) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	free(fit);
	*out = m;
	return 0;
fail:
	free(fit);
	model_free(&m);
	return -1;
}
