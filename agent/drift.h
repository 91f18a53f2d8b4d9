/*
 * drift.h - how the models do on the live readings, over a sliding window:
 * the humidity model's residual RMSE, and for readings that carry ground
 * truth (status_flag, is_anomaly) the accuracy of the status and anomaly
 * models. Beside the same figures on the training data they tell an
 * operator that the sensors' world has moved away from what the models
 * learnt. The window keeps the counters as they were at the start of the
 * previous window, so a report covers the last 10 to 20 minutes rather
 * than the whole (possibly years-long) run.
 */
#ifndef FIELDGATE_AGENT_DRIFT_H
#define FIELDGATE_AGENT_DRIFT_H

#include <stdint.h>

#include "agent/ingest.h"
#include "agent/scorer.h"

#define DRIFT_WINDOW_MS (10 * 60 * 1000) /* a report covers one to two of these */

/* struct ingest_drift read once (see there). */
struct drift_counts {
	uint64_t residuals, residual_sq_milli, status_labelled, status_correct,
		anomaly_labelled, anomaly_correct;
};

/* The window's memory: zero-initialise before the first drift_update(). */
struct drift_window {
	struct drift_counts prev, cur; /* at the start of the previous / current window */
	int64_t prev_ms, cur_ms;       /* when (monotonic ms; 0 = not yet) */
};

/* The figures over the window. */
struct drift_report {
	int64_t window_s;                  /* how long they cover */
	uint64_t readings;                 /* readings with a humidity residual */
	uint64_t labelled[SCORER_NMODELS]; /* status, anomaly: readings with ground truth;
					      humidity: readings with a residual */
	double now[SCORER_NMODELS];        /* accuracy (status, anomaly) or residual RMSE
					      (humidity); NAN when no reading counts */
};

/* Read the counters d at now_ms (monotonic), move the window on when it is
 * due, and write the figures over the window into *out. Never fails. */
void drift_update(struct drift_window *w, const struct ingest_drift *d, int64_t now_ms,
		  struct drift_report *out);

#endif
