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

/*
 * Input drift: how far each watched feature's distribution over a sliding
 * window of readings ([models] input_drift_window, 24 h by default: a whole
 * daily cycle) has moved from its training distribution, as the population
 * stability index PSI = sum over bins of (a - e) ln(a / e), a and e the
 * window's and the training data's shares of the bin (each at least 1e-4).
 * A feature starts drifting when its PSI reaches DRIFT_PSI_START over a full
 * window of at least DRIFT_PSI_MIN_READINGS readings, and stops below
 * DRIFT_PSI_END: one log line each way, never one per reading.
 */
#define DRIFT_PSI_START 0.25        /* "significant shift", as PSI is usually read */
#define DRIFT_PSI_END 0.10          /* "no significant shift" */
#define DRIFT_PSI_MIN_READINGS 1000 /* fewer in the window: no verdict */
#define DRIFT_INPUT_SLICES 24       /* the window slides in steps of window / 24 */

/* One watched feature, as the main thread keeps it (copied from the set). */
struct drift_input_feature {
	enum feature_id id;                          /* the catalogue feature */
	char model[MODEL_NAME_MAX + 16];             /* whose histogram: "status_predictor@1" */
	size_t nbins;                                /* bins */
	double expected[MODEL_HISTOGRAM_MAX_BINS];   /* training shares */
	double psi;                                  /* over the window; NAN: no readings yet */
	int drifting;                                /* 1 between a start and an end */
	int change;                                  /* set by drift_input_update: +1 started,
							-1 ended, 0 neither (in ended[]: -2,
							was drifting when the set changed) */
};

struct drift_input {
	int64_t window_ms;           /* the window's length */
	uint64_t generation;         /* ingest_counters.psi_generation the plan follows */
	size_t n;                    /* watched features */
	struct drift_input_feature f[FEATURE_COUNT]; /* in the order of the counters */
	size_t ended_n;              /* entries in ended: the plan a new set just replaced */
	struct drift_input_feature ended[FEATURE_COUNT];
	size_t pending_n;            /* a plan offered with the next set, or 0 */
	struct drift_input_feature pending[FEATURE_COUNT];
	uint64_t (*snap)[FEATURE_COUNT][MODEL_HISTOGRAM_MAX_BINS]; /* up to DRIFT_INPUT_SLICES + 2
							   snapshots of the counters, oldest first */
	int64_t snap_ms[DRIFT_INPUT_SLICES + 2];     /* when each was taken (monotonic) */
	int nsnap;                   /* snapshots held */
	int64_t since_ms;            /* when this plan's counting started */
	uint64_t readings;           /* readings in the window */
	int64_t covered_ms;          /* how much time the window covers now */
	int full;                    /* it covers window_ms: verdicts are given */
};

/* Set up for a window of window_ms with the plan of scorer s (the set the
 * source starts with). Returns 0, or -1 when out of memory. */
int drift_input_init(struct drift_input *di, int64_t window_ms, const struct scorer *s,
		     int64_t now_ms);

/* Free what init allocated; accepts a zeroed struct. */
void drift_input_cleanup(struct drift_input *di);

/* A new live set s was offered to the source: its plan applies once the
 * source takes it (the counters' generation moves on). */
void drift_input_offer(struct drift_input *di, const struct scorer *s);

/* A span of time for a person: "45 s", "12 min", "24 h", "3.5 d". */
void drift_format_span(int64_t ms, char *buf, size_t cap);

/* Read the counters at now_ms, move the window on, compute each feature's
 * PSI and verdict; f[i].change says which verdicts changed (to log). */
void drift_input_update(struct drift_input *di, const struct ingest_counters *c, int64_t now_ms);

#endif
