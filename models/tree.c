/*
 * tree.c - the decision-tree grower shared by the random forest and the GBT,
 * in the manner of Spark MLlib: features are first quantised to at most
 * max_bins bins with thresholds at quantiles (model__bin, one radix sort per
 * feature, histogram.c), then each node builds per-bin histograms of its
 * rows (class counts for gini, weight/sum for variance) and takes the best
 * threshold between bins. The cost per tree level is one pass over the
 * rows, not a sort. Also the PRNG (xoshiro256** seeded by splitmix64) that
 * keeps training deterministic.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models_int.h"

/* ---- PRNG ---- */

static uint64_t model__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void model__rng_seed(struct model__rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = model__splitmix64(&x);
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

static uint64_t model__rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t model__rng_next(struct model__rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = model__rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = model__rotl(s[3], 45);
	return result;
}

double model__rng_unit(struct model__rng *r)
{
	return (double)(model__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t model__rng_below(struct model__rng *r, uint64_t k)
{
	assert(k >= 1);
	/* Reject the top partial block so every residue is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % k;
	uint64_t v;
	do
		v = model__rng_next(r);
	while (v >= limit);
	return v % k;
}

unsigned model__rng_poisson1(struct model__rng *r)
{
	/* Knuth's product method; lambda = 1 keeps it a handful of draws. */
	const double l = 0.36787944117144233; /* exp(-1) */
	unsigned k = 0;
	double p = model__rng_unit(r);
	while (p > l && k < 64) {
		k++;
		p *= model__rng_unit(r);
	}
	return k;
}

/* ---- binning ---- */

size_t model__upper_bound(const double *v, size_t n, double key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A threshold strictly between a and b (a < b) that sends a left, b right. */
static double model__between(double a, double b)
{
	double t = a / 2 + b / 2;
	if (!(t >= a && t < b))
		t = a;
	return t;
}

int model__bin(struct model__binned *b, const struct model_data *d, int max_bins,
	       char *err, size_t errlen)
{
	double *col = NULL, *tmp = NULL;

	memset(b, 0, sizeof(*b));
	if (model__check_data(d, err, errlen) < 0)
		return -1;
	if (d->n > UINT32_MAX) {
		snprintf(err, errlen, "%zu rows (at most %u)", d->n, (unsigned)UINT32_MAX);
		return -1;
	}
	if (max_bins < 2 || max_bins > MODEL__MAX_BINS) {
		snprintf(err, errlen, "max_bins %d (expected 2..%d)", max_bins, MODEL__MAX_BINS);
		return -1;
	}
	size_t n = d->n, nf = d->nfeatures;
	for (size_t i = 0; i < n * nf; i++) {
		if (!isfinite(d->x[i])) {
			snprintf(err, errlen, "row %zu: feature %zu is not a finite number", i / nf, i % nf);
			return -1;
		}
	}
	b->n = n;
	b->nf = nf;
	b->bins = malloc(n * nf);
	col = malloc(n * sizeof(*col));
	tmp = malloc(n * sizeof(*tmp));
	if (!b->bins || !col || !tmp)
		goto nomem;
	for (size_t f = 0; f < nf; f++) {
		for (size_t i = 0; i < n; i++)
			col[i] = d->x[i * nf + f];
		model__sort_doubles(col, n, tmp);
		b->thr[f] = malloc((size_t)max_bins * sizeof(double));
		if (!b->thr[f])
			goto nomem;
		size_t distinct = 1;
		for (size_t i = 1; i < n && distinct <= (size_t)max_bins; i++)
			distinct += col[i] != col[i - 1];
		int k = 0;
		if (distinct <= (size_t)max_bins) {
			/* Few values: one threshold between each adjacent pair. */
			for (size_t i = 1; i < n; i++)
				if (col[i] != col[i - 1])
					b->thr[f][k++] = model__between(col[i - 1], col[i]);
		} else {
			/* Quantiles: the value at rank q/max_bins, then the gap above it. */
			for (int q = 1; q < max_bins; q++) {
				size_t pos = (size_t)(((double)q * (double)n) / max_bins);
				if (pos >= n)
					pos = n - 1;
				double v = col[pos];
				size_t j = model__upper_bound(col, n, v);
				if (j >= n)
					continue;
				double t = model__between(v, col[j]);
				if (k == 0 || t > b->thr[f][k - 1])
					b->thr[f][k++] = t;
			}
		}
		assert(k < max_bins);
		b->nthr[f] = k;
		for (size_t i = 0; i < n; i++) {
			/* bin = first threshold the value does not exceed */
			double x = d->x[i * nf + f];
			int lo = 0, hi = k;
			while (lo < hi) {
				int mid = (lo + hi) / 2;
				if (x <= b->thr[f][mid])
					hi = mid;
				else
					lo = mid + 1;
			}
			b->bins[i * nf + f] = (uint8_t)lo;
		}
	}
	free(col);
	free(tmp);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory binning %zu rows", n);
	free(col);
	free(tmp);
	model__binned_free(b);
	return -1;
}

void model__binned_free(struct model__binned *b)
{
	if (!b)
		return;
	free(b->bins);
	b->bins = NULL;
	for (size_t f = 0; f < MODEL_MAX_FEATURES; f++) {
		free(b->thr[f]);
		b->thr[f] = NULL;
	}
}

/* ---- growing ---- */

/* State of one tree's growth. */
struct grow {
	struct model__builder *b;            /* output */
	const struct model__binned *bd;      /* binned features */
	const double *y;                     /* labels or targets */
	const double *w;                     /* row weights or NULL */
	const struct model__tree_params *p;  /* depth, classes, mtry */
	uint32_t *rows;                      /* rows with positive weight, partitioned per node */
	double *hist;                        /* mtry * MODEL__MAX_BINS * stat doubles */
	size_t stat;                         /* doubles per bin: nclasses, or 2 (w, w*y) */
};

static int model__builder_node(struct model__builder *b, uint32_t *idx)
{
	if (b->nnodes == b->capnodes) {
		size_t cap = b->capnodes ? 2 * b->capnodes : 256;
		struct model__node *nn = realloc(b->nodes, cap * sizeof(*nn));
		if (!nn)
			return -1;
		b->nodes = nn;
		b->capnodes = cap;
	}
	if (b->nnodes >= UINT32_MAX)
		return -1;
	memset(&b->nodes[b->nnodes], 0, sizeof(b->nodes[0]));
	*idx = (uint32_t)b->nnodes++;
	return 0;
}

static double model__weight_of(const struct grow *g, uint32_t r)
{
	return g->w ? g->w[r] : 1.0;
}

static double model__gini(const double *c, size_t k, double w)
{
	double s = 0;
	for (size_t i = 0; i < k; i++)
		s += (c[i] / w) * (c[i] / w);
	return 1.0 - s;
}

static int model__make_leaf(struct grow *g, uint32_t node, const double *tot, double wsum)
{
	struct model__builder *b = g->b;
	struct model__node *nd = &b->nodes[node];
	nd->feature = 0;
	nd->left = nd->right = node;
	nd->leaf = 0;
	if (g->p->nclasses == 0) {
		nd->value = tot[1] / wsum;
		return 0;
	}
	size_t k = g->p->nclasses;
	if (b->ndist + k > b->capdist) {
		size_t cap = b->capdist ? 2 * b->capdist : 1024;
		while (cap < b->ndist + k)
			cap *= 2;
		double *nd2 = realloc(b->dist, cap * sizeof(*nd2));
		if (!nd2)
			return -1;
		b->dist = nd2;
		b->capdist = cap;
		nd = &b->nodes[node];
	}
	if (b->ndist > UINT32_MAX - k)
		return -1;
	nd->value = 0;
	nd->leaf = (uint32_t)b->ndist;
	for (size_t c = 0; c < k; c++)
		b->dist[b->ndist++] = tot[c] / wsum;
	return 0;
}

static int model__grow_node(struct grow *g, uint32_t node, size_t lo, size_t hi, int depth)
{
	const struct model__binned *bd = g->bd;
	const struct model__tree_params *p = g->p;
	size_t k = p->nclasses, S = g->stat, nf = bd->nf;
	double tot[MODEL_MAX_CLASSES] = {0};
	double wsum = 0, ymin = INFINITY, ymax = -INFINITY;

	for (size_t i = lo; i < hi; i++) {
		uint32_t r = g->rows[i];
		double w = model__weight_of(g, r), y = g->y[r];
		wsum += w;
		if (k) {
			tot[(size_t)y] += w;
		} else {
			tot[0] += w;
			tot[1] += w * y;
		}
		if (y < ymin)
			ymin = y;
		if (y > ymax)
			ymax = y;
	}
	assert(wsum > 0);
	if (depth >= p->max_depth || ymin == ymax)
		return model__make_leaf(g, node, tot, wsum);

	/* The features this node may split on: all, or a sorted random subset. */
	size_t feats[MODEL_MAX_FEATURES], nsel = nf;
	for (size_t f = 0; f < nf; f++)
		feats[f] = f;
	if (p->mtry < nf) {
		for (size_t i = 0; i < p->mtry; i++) {
			size_t j = i + (size_t)model__rng_below(p->rng, nf - i);
			size_t t = feats[i];
			feats[i] = feats[j];
			feats[j] = t;
		}
		nsel = p->mtry;
		for (size_t i = 1; i < nsel; i++)
			for (size_t j = i; j > 0 && feats[j - 1] > feats[j]; j--) {
				size_t t = feats[j];
				feats[j] = feats[j - 1];
				feats[j - 1] = t;
			}
	}

	size_t fstride = (size_t)MODEL__MAX_BINS * S;
	for (size_t s = 0; s < nsel; s++)
		memset(g->hist + s * fstride, 0, (size_t)(bd->nthr[feats[s]] + 1) * S * sizeof(double));
	for (size_t i = lo; i < hi; i++) {
		uint32_t r = g->rows[i];
		double w = model__weight_of(g, r), y = g->y[r];
		const uint8_t *rb = bd->bins + (size_t)r * nf;
		if (k) {
			size_t c = (size_t)y;
			for (size_t s = 0; s < nsel; s++)
				g->hist[s * fstride + rb[feats[s]] * S + c] += w;
		} else {
			for (size_t s = 0; s < nsel; s++) {
				double *h = g->hist + s * fstride + rb[feats[s]] * S;
				h[0] += w;
				h[1] += w * y;
			}
		}
	}

	double parent = k ? model__gini(tot, k, wsum) : 0;
	double best = 0;
	size_t best_f = 0;
	int best_bin = -1;
	for (size_t s = 0; s < nsel; s++) {
		int nb = bd->nthr[feats[s]];
		const double *h = g->hist + s * fstride;
		double left[MODEL_MAX_CLASSES] = {0}, right[MODEL_MAX_CLASSES];
		for (int bin = 0; bin < nb; bin++) {
			for (size_t c = 0; c < S; c++)
				left[c] += h[(size_t)bin * S + c];
			double wl, wr;
			double gain;
			if (k) {
				wl = 0;
				for (size_t c = 0; c < k; c++) {
					wl += left[c];
					right[c] = tot[c] - left[c];
				}
				wr = wsum - wl;
				if (wl <= 0 || wr <= 0)
					continue;
				gain = parent - wl / wsum * model__gini(left, k, wl) - wr / wsum * model__gini(right, k, wr);
			} else {
				wl = left[0];
				wr = wsum - wl;
				if (wl <= 0 || wr <= 0)
					continue;
				double sl = left[1], sr = tot[1] - sl;
				gain = (sl * sl / wl + sr * sr / wr - tot[1] * tot[1] / wsum) / wsum;
			}
			if (gain > best) {
				best = gain;
				best_f = feats[s];
				best_bin = bin;
			}
		}
	}
	/* Rounding can make a useless split look a hair better than none. */
	double floor_gain = k ? 1e-12 * parent : 1e-12 * fmax(fabs(ymax), fabs(ymin)) * fmax(fabs(ymax), fabs(ymin));
	if (best_bin < 0 || best <= floor_gain)
		return model__make_leaf(g, node, tot, wsum);

	uint32_t l, r;
	if (model__builder_node(g->b, &l) < 0 || model__builder_node(g->b, &r) < 0)
		return -1;
	struct model__node *nd = &g->b->nodes[node];
	nd->feature = (uint32_t)best_f;
	nd->value = bd->thr[best_f][best_bin];
	nd->left = l;
	nd->right = r;

	size_t i = lo, j = hi;
	while (i < j) {
		if (bd->bins[(size_t)g->rows[i] * nf + best_f] <= best_bin) {
			i++;
		} else {
			uint32_t t = g->rows[i];
			g->rows[i] = g->rows[--j];
			g->rows[j] = t;
		}
	}
	assert(i > lo && i < hi);
	if (model__grow_node(g, l, lo, i, depth + 1) < 0)
		return -1;
	return model__grow_node(g, r, i, hi, depth + 1);
}

int model__grow(struct model__builder *b, const struct model__binned *bd,
		const double *y, const double *w, const struct model__tree_params *p,
		char *err, size_t errlen)
{
	struct grow g = {.b = b, .bd = bd, .y = y, .w = w, .p = p};
	size_t m = 0, first = b->nnodes;
	uint32_t root;
	int rc = -1;

	assert(p->nclasses <= MODEL_MAX_CLASSES);
	assert(p->mtry >= 1 && p->mtry <= bd->nf);
	assert(p->mtry == bd->nf || p->rng);
	g.stat = p->nclasses ? p->nclasses : 2;
	g.rows = malloc(bd->n * sizeof(*g.rows));
	g.hist = malloc(p->mtry * (size_t)MODEL__MAX_BINS * g.stat * sizeof(double));
	if (!g.rows || !g.hist)
		goto nomem;
	for (size_t i = 0; i < bd->n; i++)
		if (!w || w[i] > 0)
			g.rows[m++] = (uint32_t)i;
	if (m == 0) {
		snprintf(err, errlen, "no rows with positive weight");
		goto out;
	}
	if (b->ntrees == b->captrees) {
		size_t cap = b->captrees ? 2 * b->captrees : 16;
		uint32_t *nr = realloc(b->roots, cap * sizeof(*nr));
		if (!nr)
			goto nomem;
		b->roots = nr;
		size_t *nt = realloc(b->tree_nodes, cap * sizeof(*nt));
		if (!nt)
			goto nomem;
		b->tree_nodes = nt;
		b->captrees = cap;
	}
	if (model__builder_node(b, &root) < 0 || model__grow_node(&g, root, 0, m, 0) < 0)
		goto nomem;
	if (b->nnodes > (size_t)MODEL_MAX_NODES) {
		/* model_load() would refuse the file */
		snprintf(err, errlen, "the trees have %zu nodes, more than a model holds (%ld): "
			 "fewer trees or less depth", b->nnodes, MODEL_MAX_NODES);
		goto out;
	}
	b->roots[b->ntrees] = root;
	b->tree_nodes[b->ntrees] = b->nnodes - first;
	b->ntrees++;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory growing a tree");
out:
	free(g.rows);
	free(g.hist);
	return rc;
}

void model__builder_free(struct model__builder *b)
{
	if (!b)
		return;
	free(b->nodes);
	free(b->dist);
	free(b->roots);
	free(b->tree_nodes);
	memset(b, 0, sizeof(*b));
}
