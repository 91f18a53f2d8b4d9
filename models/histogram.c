/*
 * histogram.c - what the training data looked like, for input drift: each
 * feature's distribution over at most MODEL__HISTOGRAM_BINS bins, recorded
 * in the model file as "input_histograms" (FORMAT.md) for the agent to
 * compare live readings against. Also the sort of a column of doubles
 * that these histograms and the trees' quantile bins (tree.c) start from:
 * an LSD radix sort on the doubles' bits, several times faster than
 * qsort() on a million values and exact (it orders the same values).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_int.h"

#define HIST__DIGIT 8                   /* bits per radix pass */
#define HIST__RADIX (1u << HIST__DIGIT) /* buckets per pass */
#define HIST__PASSES (64 / HIST__DIGIT) /* passes over the keys */

/* The bits of a double as an unsigned key in the same order (negatives
 * flipped whole, positives with the sign bit set). */
static uint64_t model__key(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

static double model__unkey(uint64_t k)
{
	uint64_t u = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

void model__sort_doubles(double *v, size_t n, double *tmp)
{
	size_t count[HIST__PASSES][HIST__RADIX]; /* 16 kB: reentrant, no allocation */
	uint64_t *a = (uint64_t *)v, *b = (uint64_t *)tmp;

	_Static_assert(sizeof(double) == sizeof(uint64_t), "doubles are 64 bits");
	if (n < 2)
		return;
	memset(count, 0, sizeof count);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = model__key(v[i]);
		memcpy(&a[i], &k, sizeof k);
		for (int p = 0; p < HIST__PASSES; p++)
			count[p][(k >> (p * HIST__DIGIT)) & (HIST__RADIX - 1)]++;
	}
	for (int p = 0; p < HIST__PASSES; p++) {
		unsigned shift = (unsigned)p * HIST__DIGIT;
		size_t *c = count[p];
		/* A digit every key shares orders nothing: skip the pass. */
		if (c[(a[0] >> shift) & (HIST__RADIX - 1)] == n)
			continue;
		size_t sum = 0;
		for (unsigned d = 0; d < HIST__RADIX; d++) {
			size_t t = c[d];
			c[d] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++)
			b[c[(a[i] >> shift) & (HIST__RADIX - 1)]++] = a[i];
		uint64_t *t = a;
		a = b;
		b = t;
	}
	if (a != (uint64_t *)v)
		memcpy(v, a, n * sizeof *a);
	for (size_t i = 0; i < n; i++)
		v[i] = model__unkey(((uint64_t *)v)[i]);
}

void model__histogram_of(struct model__histogram *h, const double *s, size_t n)
{
	size_t distinct = 1, k = 0;
	double max = s[n - 1];

	assert(n >= 1);
	for (size_t i = 1; i < n && distinct <= MODEL__HISTOGRAM_BINS; i++)
		distinct += s[i] != s[i - 1];
	if (distinct <= MODEL__HISTOGRAM_BINS) {
		/* Few values: one bin per value, exactly. */
		for (size_t i = 1; i < n; i++)
			if (s[i] != s[i - 1])
				h->edges[k++] = s[i - 1];
	} else {
		/* The value at rank q/B of the values, q = 1..B-1. An edge at the
		 * maximum would leave the last bin empty: the largest value below
		 * it stands in, so a heap of values at the top keeps a bin of its
		 * own. (With more than B distinct values there is one.) */
		size_t first_max = n;
		while (first_max > 0 && s[first_max - 1] == max)
			first_max--;
		assert(first_max > 0);
		for (size_t q = 1; q < MODEL__HISTOGRAM_BINS; q++) {
			size_t rank = (q * n + MODEL__HISTOGRAM_BINS - 1) / MODEL__HISTOGRAM_BINS;
			double v = s[rank ? rank - 1 : 0];
			if (v == max)
				v = s[first_max - 1];
			if (k == 0 || v > h->edges[k - 1])
				h->edges[k++] = v;
		}
	}
	h->bins = k + 1;
	size_t prev = 0;
	for (size_t i = 0; i < h->bins; i++) {
		size_t upto = i < k ? model__upper_bound(s, n, h->edges[i]) : n;
		h->fractions[i] = (double)(upto - prev) / (double)n;
		prev = upto;
	}
}

int model__input_histograms(struct model *m, const struct model_data *d)
{
	size_t n = d->n, nf = d->nfeatures;
	double *col = malloc(n * sizeof *col), *tmp = malloc(n * sizeof *tmp);
	int rc = -1;

	assert(nf == m->nfeatures && n >= 1);
	free(m->hist);
	m->hist = calloc(nf, sizeof *m->hist);
	if (!col || !tmp || !m->hist)
		goto out;
	for (size_t j = 0; j < nf; j++) {
		for (size_t i = 0; i < n; i++)
			col[i] = d->x[i * nf + j];
		model__sort_doubles(col, n, tmp);
		model__histogram_of(&m->hist[j], col, n);
	}
	rc = 0;
out:
	free(col);
	free(tmp);
	return rc;
}

size_t model_input_histogram(const struct model *m, size_t j, const double **edges,
			     const double **fractions)
{
	if (!m->hist || j >= m->nfeatures)
		return 0;
	*edges = m->hist[j].edges;
	*fractions = m->hist[j].fractions;
	return m->hist[j].bins;
}
