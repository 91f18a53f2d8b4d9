/*
 * trainer.h - turning readings into a model set, and judging one: what
 * `fieldgate train` and `fieldgate eval` do with readings from a file, and
 * what `train -c` / `eval -c` do with the events already in a site's buffer.
 *
 * Callers compute each reading's catalogue features (features_compute(), in
 * arrival order, as the agent does) and hand over the reading (for its
 * labels and measured humidity) with its feature vector. The trainer keeps,
 * per model, the columns that model learns from (train_specs in trainer.c:
 * the one place that chooses them) and trains the three models into a
 * directory, sealed (SHA256SUMS). An evaluation scores vectors with a set
 * and counts what eval reports.
 */
#ifndef FIELDGATE_AGENT_TRAINER_H
#define FIELDGATE_AGENT_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/features.h"
#include "agent/scorer.h"
#include "models/metrics.h"
#include "models/model.h"
#include "sensors/reading.h"

#define TRAINER_BINS 128 /* split candidates per feature for both tree models */

struct trainer;

/* What to train and where (trainer_options_default() fills the defaults). */
struct trainer_options {
	const char *outdir;         /* the set's directory (created) */
	int version;                /* recorded in every model of the set, >= 1 */
	const char *source;         /* provenance text for the files' "training" */
	struct forest_params forest; /* the status model */
	struct logreg_params logreg; /* the anomaly model */
	struct gbt_params gbt;      /* the humidity model */
	int bars;                   /* 1: progress bars on stderr */
	int quiet;                  /* 1: no "trained on N rows" lines on stdout */
};

/* The shipped models' hyperparameters (20 trees depth 5; regParam 0.001, no
 * class weights and the threshold chosen automatically on held-out rows; 10
 * GBT iterations; TRAINER_BINS bins), seed 42, version 1. */
void trainer_options_default(struct trainer_options *o);

/* A new, empty trainer. Returns 0, or -1 when out of memory. */
int trainer_create(struct trainer **out);

/* Add one reading with its catalogue features f[FEATURE_COUNT]: a row for
 * each model whose label it carries (the humidity model: always). Returns 0,
 * or -1 when out of memory. */
int trainer_add(struct trainer *t, const struct reading *r, const double *f);

/* Rows each model has: status, anomaly, humidity. */
void trainer_rows(const struct trainer *t, size_t rows[SCORER_NMODELS]);

/* Train the three models, write them into o->outdir and seal it. Each
 * model's rows are freed once it is written. Each classifier is first also
 * fitted on the first 80 % of its rows and scored on the rest: one line on
 * stderr warns when it is less accurate there than always answering the
 * majority class, by more than chance. Returns 0, or -1 with one line in
 * err (a model with no rows, a training or a write failure). */
int trainer_train(struct trainer *t, const struct trainer_options *o, char *err, size_t errlen);

/* Free and clear; accepts NULL. */
void trainer_free(struct trainer **t);

/* What eval counts of one set. */
struct evaluation {
	struct confusion status;  /* readings with status_flag */
	struct confusion anomaly; /* readings with is_anomaly */
	struct rmse humidity;     /* every reading */
	size_t rows;              /* readings scored */
};

/* Start an empty evaluation. */
void evaluation_init(struct evaluation *e);

/* One reading's predictions, as evaluation_add() counted them. */
struct evaluation_row {
	int status;       /* predicted status (when r has status_flag), else -1 */
	int anomaly;      /* predicted anomaly label (when r has is_anomaly), else -1 */
	double humidity;  /* predicted humidity */
};

/* Score f with set s and count it against r's labels and humidity; row (may
 * be NULL) gets the predictions. */
void evaluation_add(struct evaluation *e, const struct scorer *s, const struct reading *r,
		    const double *f, struct evaluation_row *row);

#endif
