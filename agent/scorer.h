/*
 * scorer.h - the three models of a site, loaded from one directory, and the
 * mapping from each model's declared feature names to the catalogue
 * (features.h). Turns one feature vector into the predictions of an event.
 *
 * The directory holds status_predictor.json (random forest, 3 classes),
 * anomaly_detector.json (logistic regression) and humidity_regressor.json
 * (GBT regressor): a model set. A set may be sealed by a SHA256SUMS file
 * (sha256sum(1) format; `fieldgate train` writes one): then every model file
 * must match it, so a set caught half-copied is refused rather than loaded
 * as a mix of old and new files. The three files are read through one
 * handle on the directory, so a directory (or symlink) swapped while the
 * set loads cannot mix two sets either.
 *
 * A scorer is immutable once loaded: SIGHUP loads a new one and the source
 * thread swaps it in between two readings.
 */
#ifndef FIELDGATE_AGENT_SCORER_H
#define FIELDGATE_AGENT_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/features.h"
#include "models/model.h"
#include "sensors/event.h"

#define SCORER_STATUS_FILE "status_predictor.json"
#define SCORER_ANOMALY_FILE "anomaly_detector.json"
#define SCORER_HUMIDITY_FILE "humidity_regressor.json"
#define SCORER_MANIFEST "SHA256SUMS"  /* the seal of a set */

/* Which model of the three. */
enum scorer_slot { SCORER_STATUS, SCORER_ANOMALY, SCORER_HUMIDITY, SCORER_NMODELS };

/* A catalogue feature watched for input drift, with its training histogram
 * (from the first model of the set that declares it and records one). */
struct scorer_psi {
	enum feature_id id;      /* the catalogue feature */
	int slot;                /* the model whose histogram it is */
	size_t nbins;            /* 1..MODEL_HISTOGRAM_MAX_BINS */
	const double *edges;     /* nbins - 1 increasing edges (bin i: x <= edges[i]) */
	const double *expected;  /* nbins fractions on the training data */
};

struct scorer {
	struct model *model[SCORER_NMODELS];             /* the loaded models */
	int map[SCORER_NMODELS][MODEL_MAX_FEATURES];     /* model feature i -> catalogue id */
	char label[SCORER_NMODELS][MODEL_NAME_MAX + 16]; /* "status_predictor@1" */
	struct event_models names;                       /* points into label[] */
	double trained[SCORER_NMODELS];                  /* training accuracy (status, anomaly)
							    and RMSE (humidity); NAN if unknown */
	size_t npsi;                                     /* entries in psi */
	struct scorer_psi psi[FEATURE_COUNT];            /* input drift: what to bin, and the
							    training distribution (calendar
							    features left out) */
};

/* The bin of x in p's histogram: the first whose edge is >= x, else the last. */
static inline size_t scorer_psi_bin(const struct scorer_psi *p, double x)
{
	size_t b = 0;

	while (b + 1 < p->nbins && x > p->edges[b])
		b++;
	return b;
}

/*
 * Load the three models from dir, check each with scorer_check_model() and
 * (when dir has SHA256SUMS) against the seal. Returns 0 and a new scorer,
 * or -1 with one line in err naming the file and the problem.
 */
int scorer_load(struct scorer **out, const char *dir, char *err, size_t errlen);

/*
 * Seal the set in dir: write SHA256SUMS (atomically: temp file + rename)
 * with the hashes of its three model files. Returns 0, or -1 with one line
 * in err.
 */
int scorer_seal(const char *dir, char *err, size_t errlen);

/* The file name of a slot's model in a models directory (SCORER_*_FILE). */
const char *scorer_slot_file(enum scorer_slot slot);

/* The kind of model a slot takes (each kind belongs to one slot). */
enum model_kind scorer_slot_kind(enum scorer_slot slot);

/*
 * What the agent requires of a slot's model, beyond a valid file: the
 * slot's kind, 3 classes for the status model (normal, warning, fault),
 * and only features the catalogue computes. When map is not NULL it gets
 * the catalogue id of each of the model's features (model_nfeatures()
 * entries). Returns 0, or -1 with one line in err that names path.
 */
int scorer_check_model(const struct model *m, enum scorer_slot slot, const char *path,
		       int *map, char *err, size_t errlen);

/* Free and clear; accepts NULL. */
void scorer_free(struct scorer **s);

/* Predict from the catalogue vector f[FEATURE_COUNT] (measured humidity is
 * f[FEATURE_HUMIDITY], for the residual). Never fails. */
void scorer_predict(const struct scorer *s, const double *f, struct event_prediction *out);

/* The same, and the time each model took (CLOCK_MONOTONIC, ns) into
 * ns[slot]: the agent samples a few readings for its inference-time metric. */
void scorer_predict_timed(const struct scorer *s, const double *f, struct event_prediction *out,
			  uint64_t ns[SCORER_NMODELS]);

/* The raw model output of one model, for eval. */
void scorer_model_output(const struct scorer *s, enum scorer_slot slot,
			 const double *f, struct model_output *out);

#endif
