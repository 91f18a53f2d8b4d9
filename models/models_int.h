/*
 * models_int.h - internals shared by the files of models/: the in-memory
 * model (flat node arrays, see model.c), the shared tree grower (tree.c)
 * used by the forest and the GBT, the binned training matrix, and the
 * deterministic PRNG. Nothing outside models/ includes this (tests may).
 */
#ifndef FIELDGATE_MODELS_MODELS_INT_H
#define FIELDGATE_MODELS_MODELS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

struct cJSON; /* cJSON's struct tag; only model.c looks inside */

#define MODEL__MAX_DEPTH 30         /* max_depth accepted by training */
#define MODEL__MAX_BINS 256         /* max_bins accepted by training (bins fit a byte) */
#define MODEL__HISTOGRAM_BINS 10    /* bins training gives a feature's input histogram */

/*
 * One tree node, 24 bytes. All trees of a model live in one array and the
 * child indices are absolute, so inference is a loop over one array. Every
 * child index is greater than its parent's (checked on load), so a walk
 * always ends. A leaf links to itself (left == right == its own index, which
 * a split never has), so stepping a leaf is harmless: inference walks a
 * block of trees in lockstep for a fixed number of steps, without branches.
 */
struct model__node {
	double value;     /* split: threshold (go left when x <= value); GBT leaf: leaf value */
	uint32_t feature; /* split: feature index; leaf: 0 (a valid index to read) */
	uint32_t left;    /* split: left child; leaf: its own index */
	uint32_t right;   /* split: right child; leaf: its own index */
	uint32_t leaf;    /* forest leaf: offset of its class distribution in dist; else 0 */
};

/* Is this node a leaf? */
static inline int model__is_leaf(const struct model__node *n)
{
	return n->left == n->right;
}

/* One feature's training distribution (the file's input_histograms[j]). */
struct model__histogram {
	size_t bins;                                   /* 1..MODEL_HISTOGRAM_MAX_BINS */
	double edges[MODEL_HISTOGRAM_MAX_BINS - 1];    /* bins - 1 increasing edges: bin i holds x <= edges[i] */
	double fractions[MODEL_HISTOGRAM_MAX_BINS];    /* share of the training rows per bin, summing to 1 */
};

/* A loaded or trained model. Immutable once built. */
struct model {
	enum model_kind kind;                     /* which of the three kinds */
	char name[MODEL_NAME_MAX + 1];            /* model name, non-empty */
	int version;                              /* model version, >= 1 */
	size_t nfeatures;                         /* 1..MODEL_MAX_FEATURES */
	char features[MODEL_MAX_FEATURES][MODEL_NAME_MAX + 1]; /* feature names in x order */
	size_t nclasses;                          /* forest: 2..8; logreg: 2; gbt: 0 */
	size_t ntrees;                            /* forest, gbt: trees; logreg: 0 */
	uint32_t *roots;                          /* ntrees absolute root indices into nodes */
	size_t *tree_nodes;                       /* ntrees node counts (for saving) */
	uint32_t *tree_depth;                     /* ntrees depths: steps from root to deepest leaf */
	double *tree_weights;                     /* gbt: ntrees weights; else NULL */
	int split_f32;                            /* trees: compare (float)x[f] <= threshold
						     (scikit-learn's float32 inputs); 0: x[f] <= threshold */
	struct model__node *nodes;                /* all trees' nodes, tree after tree */
	size_t nnodes;                            /* entries in nodes */
	double *dist;                             /* forest: leaf class distributions, nclasses each */
	size_t ndist;                             /* doubles in dist */
	double init;                              /* gbt: prediction before any tree */
	double intercept;                         /* logreg: intercept on the raw feature scale */
	double weights[MODEL_MAX_FEATURES];       /* logreg: weights on the raw feature scale */
	double threshold;                         /* logreg: label = P >= threshold, in (0, 1) */
	struct cJSON *hyperparameters;            /* the file's "hyperparameters" object, kept verbatim */
	struct cJSON *training;                   /* the file's "training" object, kept verbatim */
	struct model__histogram *hist;            /* nfeatures input histograms, or NULL: none recorded */
};

/* ---- PRNG: splitmix64-seeded xoshiro256** (never rand()) ---- */

struct model__rng { uint64_t s[4]; /* xoshiro256** state, never all zero */ };

/* Seed from a 64-bit value through splitmix64. */
void model__rng_seed(struct model__rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t model__rng_next(struct model__rng *r);
/* Uniform double in [0, 1). */
double model__rng_unit(struct model__rng *r);
/* Uniform integer in [0, k), k >= 1 (rejection sampling, unbiased). */
uint64_t model__rng_below(struct model__rng *r, uint64_t k);
/* A Poisson(1) draw: Spark's bootstrap weight for sampling with replacement. */
unsigned model__rng_poisson1(struct model__rng *r);

/* ---- the binned training matrix ---- */

/* Features quantised to bins: bin b of feature f holds the rows with
 * thr[f][b-1] < x <= thr[f][b] (bin nthr[f] is everything above). */
struct model__binned {
	size_t n;                               /* rows */
	size_t nf;                              /* features */
	uint8_t *bins;                          /* n * nf bin indices, row-major: bins[i * nf + f] */
	double *thr[MODEL_MAX_FEATURES];        /* candidate thresholds of feature f, ascending */
	int nthr[MODEL_MAX_FEATURES];           /* count of thr[f], 0..max_bins-1 */
};

/* Check the data (rows, features, finite values, names) and bin it with at
 * most max_bins bins per feature, thresholds at quantiles (midpoints between
 * adjacent distinct values). Returns 0, or -1 with a reason. */
int model__bin(struct model__binned *b, const struct model_data *d, int max_bins,
	       char *err, size_t errlen);
/* Free the arrays of a binned matrix (not the struct); safe twice. */
void model__binned_free(struct model__binned *b);

/* Growable output of the tree grower: nodes, leaf distributions, roots. */
struct model__builder {
	struct model__node *nodes;  /* nodes of all trees grown so far */
	size_t nnodes, capnodes;    /* used and allocated entries of nodes */
	double *dist;               /* classification leaf distributions */
	size_t ndist, capdist;      /* used and allocated doubles of dist */
	uint32_t *roots;            /* root of each tree */
	size_t *tree_nodes;         /* node count of each tree */
	size_t ntrees, captrees;    /* used and allocated entries of roots and tree_nodes */
};

/* How to grow one tree. */
struct model__tree_params {
	int max_depth;        /* 0 = a single leaf */
	size_t nclasses;      /* > 0: classification (gini, leaves hold distributions); 0: regression (variance) */
	size_t mtry;          /* features considered per node, 1..nf; < nf draws a subset with rng */
	struct model__rng *rng; /* feature-subset PRNG (needed when mtry < nf) */
};

/*
 * Grow one tree on the binned rows with weights w (NULL = all 1; rows with
 * weight 0 are left out) and labels/targets y, appending it to b. Leaves of
 * a regression tree hold the weighted mean of y; leaves of a classification
 * tree hold the normalised weighted class counts. Returns 0, or -1 (out of
 * memory, or no row with positive weight) with a reason.
 */
int model__grow(struct model__builder *b, const struct model__binned *bd,
		const double *y, const double *w, const struct model__tree_params *p,
		char *err, size_t errlen);
/* Free a builder's arrays; safe twice. */
void model__builder_free(struct model__builder *b);

/* Walk one tree from absolute root index r; returns the leaf. */
static inline const struct model__node *model__walk(const struct model__node *nodes,
						    uint32_t r, const double *x)
{
	const struct model__node *n = nodes + r;
	while (!model__is_leaf(n))
		n = nodes + (x[n->feature] <= n->value ? n->left : n->right);
	return n;
}

/* ---- sorted columns: input histograms and the sort (histogram.c) ---- */

/* First index in sorted v[0..n) whose value is > key (tree.c). */
size_t model__upper_bound(const double *v, size_t n, double key);

/* Sort v[0..n) ascending, using tmp[0..n) as scratch (an exact radix sort:
 * the order qsort() with < would give; -0 sorts before +0). */
void model__sort_doubles(double *v, size_t n, double *tmp);
/* The histogram of the sorted values s[0..n), n >= 1: one bin per value when
 * there are at most MODEL__HISTOGRAM_BINS distinct ones, else edges at the
 * quantiles q/MODEL__HISTOGRAM_BINS (an edge never at the maximum). */
void model__histogram_of(struct model__histogram *h, const double *s, size_t n);
/* Record each feature's training histogram in m (d: the training data, with
 * m's features). Returns 0 or -1 (out of memory). */
int model__input_histograms(struct model *m, const struct model_data *d);
/* ---- loading (model.c) ---- */

/* The loader's caps; model_parse() and model_load() use model__limits_default
 * (the MODEL_MAX_* constants). A test passes smaller ones to reach each check
 * without building a file of that size. */
struct model__limits {
	size_t bytes;   /* file or text size */
	size_t values;  /* JSON values */
	size_t trees;   /* trees in the model */
	size_t nodes;   /* nodes in all its trees */
};

extern const struct model__limits model__limits_default;

/* model_parse() under the caps in lim. */
int model__parse_limited(struct model **out, const char *json, size_t len, const char *origin,
			 const struct model__limits *lim, char *err, size_t errlen);

/* ---- building a model (model.c) ---- */

/* A new zeroed model of a kind with name, version and the data's feature
 * names and empty hyperparameters/training objects; NULL on bad input or
 * out of memory, with a reason. */
struct model *model__new(enum model_kind kind, const struct model_info *info,
			 const struct model_data *d, char *err, size_t errlen);
/* Move the builder's trees into m (b is left empty) and compute the tree
 * depths. Returns 0 or -1 (out of memory). */
int model__take_trees(struct model *m, struct model__builder *b);
/* Fill m->tree_depth from the nodes; 0 or -1 (out of memory). */
int model__depths(struct model *m);
/* Add a number / string member to m's "hyperparameters" or "training"
 * object (which = 'h' or 't'). Returns 0 or -1 (out of memory). */
int model__meta_number(struct model *m, char which, const char *key, double v);
int model__meta_string(struct model *m, char which, const char *key, const char *v);
/* Record a seed exactly: a number when it fits in 2^53, else a decimal string. */
int model__meta_seed(struct model *m, char which, const char *key, uint64_t seed);
/* Check a model_info; 0 or -1 with a reason. */
int model__check_info(const struct model_info *info, char *err, size_t errlen);
/* Check that training data has rows and 1..MODEL_MAX_FEATURES features;
 * 0 or -1 with a reason. */
int model__check_data(const struct model_data *d, char *err, size_t errlen);

#endif
