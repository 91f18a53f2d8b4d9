/*
 * metrics.c - evaluation arithmetic for `fieldgate eval`: a confusion
 * matrix with accuracy, and a running root mean squared error.
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
