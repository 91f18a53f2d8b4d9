/*
 * metrics.c - evaluation arithmetic for `fieldgate eval`: a confusion
 * matrix with accuracy, per-class precision, recall, F1 and the
 * always-this-class baseline, and a running root mean squared error.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "models/metrics.h"

void confusion_init(struct confusion *c, size_t k)
{
	assert(k <= MODEL_MAX_CLASSES);
	memset(c, 0, sizeof(*c));
	c->k = k <= MODEL_MAX_CLASSES ? k : MODEL_MAX_CLASSES;
}

int confusion_add(struct confusion *c, int actual, int predicted)
{
	if (actual < 0 || predicted < 0 || (size_t)actual >= c->k || (size_t)predicted >= c->k)
		return -1;
	c->m[actual][predicted]++;
	c->n++;
	return 0;
}

double confusion_accuracy(const struct confusion *c)
{
	size_t diag = 0;
	if (c->n == 0)
		return 0;
	for (size_t i = 0; i < c->k; i++)
		diag += c->m[i][i];
	return (double)diag / (double)c->n;
}

/* Column sum (predicted cls) and row sum (actually cls). */
static size_t confusion__predicted(const struct confusion *c, size_t cls)
{
	size_t s = 0;
	for (size_t i = 0; i < c->k; i++)
		s += c->m[i][cls];
	return s;
}

static size_t confusion__actual(const struct confusion *c, size_t cls)
{
	size_t s = 0;
	for (size_t j = 0; j < c->k; j++)
		s += c->m[cls][j];
	return s;
}

double confusion_precision(const struct confusion *c, size_t cls)
{
	size_t p = cls < c->k ? confusion__predicted(c, cls) : 0;
	return p ? (double)c->m[cls][cls] / (double)p : 0;
}

double confusion_recall(const struct confusion *c, size_t cls)
{
	size_t a = cls < c->k ? confusion__actual(c, cls) : 0;
	return a ? (double)c->m[cls][cls] / (double)a : 0;
}

double confusion_f1(const struct confusion *c, size_t cls)
{
	if (cls >= c->k || c->m[cls][cls] == 0)
		return 0;
	double tp = (double)c->m[cls][cls];
	double fp = (double)confusion__predicted(c, cls) - tp, fn = (double)confusion__actual(c, cls) - tp;
	return 2 * tp / (2 * tp + fp + fn);
}

double confusion_share(const struct confusion *c, size_t cls)
{
	return cls < c->k && c->n ? (double)confusion__actual(c, cls) / (double)c->n : 0;
}

void rmse_init(struct rmse *r)
{
	r->n = 0;
	r->sum_sq = 0;
}

void rmse_add(struct rmse *r, double actual, double predicted)
{
	double e = actual - predicted;
	r->sum_sq += e * e;
	r->n++;
}

double rmse_value(const struct rmse *r)
{
	return r->n ? sqrt(r->sum_sq / (double)r->n) : 0;
}
