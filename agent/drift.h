/*
 * drift.h - how the models do on the live readings, over a sliding window:
 * the humidity model's residual RMSE, and for readings that carry ground
 * truth (status_flag, is_anomaly) the accuracy of the status and anomaly
 * models. Beside the same figures on the training data they tell an
 * operator that the sensors' world has moved away from what the models
 * learnt. The window keeps the counters as they were at the start of the
 * previous window, so a report covers the last 10 to 20 minutes rather
 * than the whole (possibly years-long) run.
 *
 * With a shadow set the same window gives its figures beside the live
 * set's: how often it agrees with the live set, its residual RMSE and
 * accuracy, so an operator can promote it with evidence.
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
	uint64_t shadow_readings, shadow_status_agree, shadow_anomaly_agree, shadow_diff_sq_milli,
		shadow_residual_sq_milli, shadow_status_labelled, shadow_status_correct,
		shadow_anomaly_labelled, shadow_anomaly_correct;
};

/* The window's memory: zero-initialise before the first drift_update(). */
struct drift_window {
	struct drift_counts prev, cur; /* at the start of the previous / current window */
	int64_t prev_ms, cur_ms;       /* when (monotonic ms; 0 = not yet) */
	struct drift_counts shadow_base; /* when the shadow set last changed */
	int64_t shadow_base_ms;        /* when (monotonic ms; 0 = never) */
};

/* The shadow set's figures over the window (since it last changed, if later). */
struct drift_shadow {
	int64_t window_s;                  /* how long they cover */
	uint64_t readings;                 /* readings it scored */
	double agree[SCORER_NMODELS];      /* status, anomaly: share of readings where it
					      predicted what the live set did; NAN = none */
	double humidity_rms_diff;          /* RMS of live minus shadow humidity (% RH); NAN */
	uint64_t labelled[SCORER_NMODELS]; /* as drift_report.labelled */
	double now[SCORER_NMODELS];        /* as drift_report.now, for the shadow set */
};

/* The figures over the window. */
struct drift_report {
	int64_t window_s;                  /* how long they cover */
	uint64_t readings;                 /* readings with a humidity residual */
	uint64_t labelled[SCORER_NMODELS]; /* status, anomaly: readings with ground truth;
					      humidity: readings with a residual */
	double now[SCORER_NMODELS];        /* accuracy (status, anomaly) or residual RMSE
					      (humidity); NAN when no reading counts */
	struct drift_shadow shadow;        /* the shadow set's (readings 0: none) */
};

/* Read the counters d at now_ms (monotonic), move the window on when it is
 * due, and write the figures over the window into *out. Never fails. */
void drift_update(struct drift_window *w, const struct ingest_drift *d, int64_t now_ms,
		  struct drift_report *out);

/* The shadow set changed at now_ms: its figures start again from here. */
void drift_restart_shadow(struct drift_window *w, const struct ingest_drift *d, int64_t now_ms);

#endif
