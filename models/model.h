/*
 * model.h - the three model kinds fieldgate scores with: inference, training,
 * and the JSON model file (models/FORMAT.md).
 *
 *   random forest classifier     (status_predictor: status 0/1/2)
 *   L2 logistic regression       (anomaly_detector: P(anomaly))
 *   gradient-boosted regression  (humidity_regressor: humidity, % RH)
 *
 * This module is pure computation: it takes features as `const double *x`,
 * in the order the model file declares them by name, and never sees a
 * reading. It never logs or exits; failures return a negative status with a
 * reason in the caller's buffer. Inference never fails and never allocates.
 * Training is deterministic: same data, same parameters, same seed give the
 * same model file byte for byte.
 */
#ifndef FIELDGATE_MODELS_MODEL_H
#define FIELDGATE_MODELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_MAX_FEATURES 32  /* features one model may declare */
#define MODEL_MAX_CLASSES 8    /* classes of a classifier */
#define MODEL_NAME_MAX 64      /* bytes in a model or feature name */
#define MODEL_HISTOGRAM_MAX_BINS 64 /* bins of one feature's training histogram */

/*
 * What model_load() accepts at most (models/FORMAT.md, "Limits"). They keep
 * a hostile or broken file from taking unbounded memory or time: the size
 * is checked before reading, the JSON values are counted before parsing
 * (the parser needs about 100 bytes per value), and the node arrays are
 * sized from the counts. Chosen from real models: the largest we ship or
 * import (tests/peers/compare/prep.sh's 100-tree depth-10 forest fitted by
 * scikit-learn) is 43,452 nodes in 2.6 MB; a fully grown 100-tree depth-10
 * forest, 204,700 nodes in about 14 MB, still fits. At the caps a file
 * loads in about 0.7 s and 180 MB of transient memory (256 Ki nodes); the
 * 1 Mi nodes and 64 MiB allowed before let a 42 MB file of 1 M nodes take
 * 2.3 s and 550 MB.
 */
#define MODEL_MAX_FILE_BYTES (32L * 1024 * 1024) /* bytes in a model file */
#define MODEL_MAX_JSON_VALUES (2L * 1024 * 1024) /* JSON values (numbers, strings, arrays, objects) in it */
#define MODEL_MAX_TREES 10000                    /* trees in one model */
#define MODEL_MAX_NODES (1L << 18)               /* nodes in all the trees of one model */

enum model_kind {
	MODEL_RANDOM_FOREST = 1,        /* "random_forest_classifier" */
	MODEL_LOGISTIC_REGRESSION = 2,  /* "logistic_regression" */
	MODEL_GBT_REGRESSOR = 3,        /* "gbt_regressor" */
};

struct model; /* opaque; immutable once loaded, so threads may share it */

/* What one prediction gives. */
struct model_output {
	int label;           /* classifiers: predicted class (argmax); regressor: 0 */
	double probability;  /* forest: probability of label; logreg: P(class 1) */
	double value;        /* regressor: predicted value; classifiers: label */
	double proba[MODEL_MAX_CLASSES]; /* classifiers: per-class probabilities */
};

/*
 * Load a model file. Returns 0 and a new model in *out, or a negative status
 * with a one-line reason naming the file and the JSON path of the problem
 * ("status_predictor.json: $.trees[3].nodes[7].left: index 99 out of range").
 */
int model_load(struct model **out, const char *path, char *err, size_t errlen);

/* Same, from a JSON text in memory; `origin` names it in messages. */
int model_parse(struct model **out, const char *json, size_t len,
		const char *origin, char *err, size_t errlen);

/* Write a model file atomically (temp file + rename), deterministic bytes.
 * Returns 0, or a negative status with a reason. */
int model_save(const struct model *m, const char *path, char *err, size_t errlen);

/* Free a model and clear the pointer; accepts NULL. */
void model_free(struct model **m);

enum model_kind model_kind(const struct model *m);
/* A kind's name as in model files ("gbt_regressor"); "?" for a bad value. */
const char *model_kind_name(enum model_kind kind);
const char *model_name(const struct model *m);     /* "status_predictor" */
int model_version(const struct model *m);          /* >= 1 */
/* A number from the file's "training" object ("training_accuracy",
 * "training_rmse"), or NAN when it has none. */
double model_training_stat(const struct model *m, const char *name);
size_t model_nfeatures(const struct model *m);
const char *model_feature_name(const struct model *m, size_t i);
size_t model_nclasses(const struct model *m);       /* 0 for the regressor */
size_t model_ntrees(const struct model *m);         /* 0 for logistic regression */
size_t model_nnodes(const struct model *m);         /* nodes in all trees */
/* 1 when the trees compare the feature rounded to float32 with the threshold
 * ("split_input": "float32", as scikit-learn does), 0 for plain doubles. */
int model_split_float32(const struct model *m);

/* The training distribution of feature j when the file records one: returns
 * the number of bins k (1..MODEL_HISTOGRAM_MAX_BINS) and points *edges at k - 1
 * increasing edges and *fractions at k fractions summing to 1 (bin i holds
 * x <= edges[i], the last bin the rest); returns 0 when the file has none. */
size_t model_input_histogram(const struct model *m, size_t j, const double **edges,
			     const double **fractions);

/* Score one feature vector x[0..model_nfeatures). Never fails, never allocates. */
void model_predict(const struct model *m, const double *x, struct model_output *out);

/* ---- training ---- */

/* Labelled data, row-major: x[i * nfeatures + j] is feature j of row i. */
struct model_data {
	const double *x;      /* n * nfeatures values */
	const double *y;      /* n labels (class index as double) or targets */
	size_t n;             /* rows */
	size_t nfeatures;     /* columns, <= MODEL_MAX_FEATURES */
	const char *const *feature_names; /* nfeatures names, recorded in the file */
};

/* Identity and provenance written into the file's "training" object. */
struct model_info {
	const char *name;        /* "status_predictor" */
	int version;             /* >= 1 */
	const char *data_source; /* free text, e.g. "simulate --seed 7 --count 200000" */
};

/*
 * Training progress, for a caller that shows it (models/ never prints):
 * called with done = 0 when the work starts and again as it advances, on
 * the training thread; the last call has done == total. Forest and GBT
 * count trees; logistic regression counts Newton iterations against
 * max_iter, and its last call has total = the iterations it took.
 */
typedef void (*model_progress_fn)(void *ctx, size_t done, size_t total);

struct forest_params {
	int trees;        /* default 20 */
	int max_depth;    /* default 5 */
	int max_bins;     /* candidate thresholds per feature, default 32 */
	int nclasses;     /* classes in y, 2..MODEL_MAX_CLASSES */
	uint64_t seed;    /* bootstrap and feature-subset PRNG seed */
	model_progress_fn progress; /* trees grown, or NULL (default) */
	void *progress_ctx;         /* passed to progress */
};

/* How logistic regression weighs the two classes in its loss. */
enum logreg_class_weight {
	LOGREG_WEIGHT_NONE = 0,   /* every row weighs 1 (default) */
	LOGREG_WEIGHT_BALANCED,   /* a row of class c weighs n / (2 n_c), as scikit-learn's
				     "balanced": both classes weigh the same in all */
};

/* Percentage of the training rows (the last ones, in the order given) that
 * an automatic threshold is chosen on. */
#define LOGREG_HOLDOUT_PCT 20

struct logreg_params {
	double reg_param;   /* L2 strength as in Spark MLlib, default 0.1 */
	int max_iter;       /* default 100 */
	enum logreg_class_weight class_weight; /* default LOGREG_WEIGHT_NONE */
	int auto_threshold; /* 1: choose the decision threshold on a held-out slice
			       (logreg_choose_threshold() on the last LOGREG_HOLDOUT_PCT %
			       of the rows, fitted on the rest); 0: use threshold (default) */
	double threshold;   /* the fixed decision threshold, in (0, 1); default 0.5 */
	model_progress_fn progress; /* Newton iterations done, or NULL (default) */
	void *progress_ctx;         /* passed to progress */
};

/*
 * The automatic threshold rule: given n held-out rows' probabilities p and
 * labels y (0/1), the threshold t for which "alarm when p >= t" makes the
 * fewest errors (false alarms plus misses, i.e. the best accuracy), among
 * the cuts between distinct probabilities, t midway between the two
 * probabilities it falls between; of equally good cuts, the highest (the
 * fewest alarms). Because never alarming is one of the candidates, the
 * chosen cut never raises more false alarms than it catches anomalies on
 * those rows. Returns 1 with *t when a cut beats never alarming, 0 (and
 * *t = 0.5) when none does or n == 0, -1 when out of memory.
 */
int logreg_choose_threshold(const double *p, const double *y, size_t n, double *t);

struct gbt_params {
	int iterations;   /* trees, default 10 */
	int max_depth;    /* default 5 */
	int max_bins;     /* default 32 */
	double step_size; /* learning rate, default 0.1 */
	uint64_t seed;    /* recorded; GBT training draws no random numbers */
	model_progress_fn progress; /* trees grown, or NULL (default) */
	void *progress_ctx;         /* passed to progress */
};

/* Fill the defaults named above. */
void forest_params_default(struct forest_params *p);
void logreg_params_default(struct logreg_params *p);
void gbt_params_default(struct gbt_params *p);

/* Train a model. Each returns 0 and a new model in *out, or a negative
 * status with a reason (empty data, too many features, bad label). */
int forest_train(struct model **out, const struct model_info *info,
		 const struct model_data *d, const struct forest_params *p,
		 char *err, size_t errlen);
int logreg_train(struct model **out, const struct model_info *info,
		 const struct model_data *d, const struct logreg_params *p,
		 char *err, size_t errlen);
int gbt_train(struct model **out, const struct model_info *info,
	      const struct model_data *d, const struct gbt_params *p,
	      char *err, size_t errlen);

#endif
