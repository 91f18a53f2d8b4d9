/*
 * metrics.h - what the agent shows on GET /metrics and GET /healthz (SPEC
 * §6), rendered from one snapshot of its counters. The main thread fills a
 * snapshot once a second (store_stats() runs SQL counts, so never per
 * scrape), renders both documents here and hands them to the HTTP server
 * (http.h), which serves the latest copy. Pure formatting: no threads, no
 * I/O, so the unit tests can check the exact text.
 *
 * Two clocks of counting, kept apart in the names: `*_total` counters
 * without "buffer" in the name count since this process started (they reset
 * on restart, which Prometheus handles); `fieldgate_buffer_*` figures
 * describe the buffer file, which outlives the process.
 */
#ifndef FIELDGATE_AGENT_METRICS_H
#define FIELDGATE_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/alerts.h"
#include "agent/forward.h"
#include "agent/ingest.h"
#include "agent/pipeline.h"
#include "agent/scorer.h"
#include "sensors/reading.h"
#include "store/store.h"

#define METRICS_SINKS_MAX 2
#define METRICS_NAME_MAX 128

/* One sink as the forwarder and the buffer see it. */
struct metrics_sink {
	char name[STORE_SINK_NAME_MAX];   /* "kafka", "elasticsearch" */
	struct forward_stats fw;          /* the forwarder's counters (this process) */
	struct forward_latency latency;   /* delivery latency, last 10-20 s */
	uint64_t backlog;                 /* buffered events above the position */
	int64_t oldest_pending_ms;        /* arrival of the oldest of them, 0 if none */
};

/* The inference-time histogram of one model slot, read once. */
struct metrics_infer {
	uint64_t count;                          /* readings timed */
	uint64_t sum_ns;                         /* their total time */
	uint64_t bucket[INGEST_INFER_BUCKETS];   /* per bucket, not cumulative */
};

/* Everything the two documents are made of. */
struct metrics_snapshot {
	const char *version;        /* FIELDGATE_VERSION */
	const char *gateway_id;     /* [agent] gateway_id */
	const char *site;           /* [agent] site */
	int mqtt;                   /* 1: MQTT source, 0: simulator */
	int64_t started_ms;         /* process start (wall clock) */
	/* Ingest, this process. */
	uint64_t received;          /* readings received */
	uint64_t accepted;          /* readings scored and queued */
	uint64_t rejected;          /* readings quarantined */
	uint64_t rejected_by_reason[READING_NREASONS]; /* decode failures by -code */
	uint64_t warnings, faults, anomalies;  /* predictions */
	uint64_t sensors_tracked;   /* sensors with rolling feature state now */
	uint64_t sensors_max;       /* [models] max_sensors */
	uint64_t sensors_evicted_lru, sensors_evicted_idle; /* state evicted: cap, idle timeout */
	struct metrics_infer infer[SCORER_NMODELS]; /* sampled inference time */
	char model[SCORER_NMODELS][METRICS_NAME_MAX]; /* "status_predictor@1" */
	uint64_t reloads, reloads_refused; /* model sets loaded / refused since start */
	/* The writer, this process. */
	struct pipeline_stats pipe; /* committed, duplicates, commits, healthy */
	/* The buffer file. */
	int have_store;             /* 0: store_stats failed, buffer figures omitted */
	struct store_stats store;   /* events, bytes, drops, dead letters */
	int64_t max_bytes;          /* [buffer] max_mb in bytes, 0 = none */
	/* Sinks. */
	size_t nsinks;              /* entries in sinks[] */
	struct metrics_sink sinks[METRICS_SINKS_MAX]; /* the enabled sinks */
	/* Alerts. */
	int have_alerts;            /* [alerts] enabled */
	struct alerts_stats alerts; /* sent, limited, failed */
	/* The source. */
	char source_state[16];      /* MQTT: connecting | connected | disconnected */
	char source_last_error[256];/* MQTT: "" when none */
	const char *recovered_from; /* a damaged buffer was moved here at start, or NULL */
	uint64_t salvaged;          /* with recovered_from: events salvaged from it */
	uint64_t lost;              /* and seqs that could not be read there */
	const char *lost_ranges;    /* those seqs ("" none) */
	/* Drift over the last 10-20 minutes beside training (NAN = unknown):
	 * per slot, the accuracy (status, anomaly) or residual RMSE (humidity). */
	double drift_now[SCORER_NMODELS];
	double drift_trained[SCORER_NMODELS];
	/* Input drift of the live set's watched features. */
	size_t ninput;                                 /* watched features */
	const char *input_name[FEATURE_COUNT];         /* their catalogue names */
	double input_psi[FEATURE_COUNT];               /* PSI over the window; NAN = no readings */
	int input_drifting[FEATURE_COUNT];             /* 1 while drifting */
	uint64_t input_readings;                       /* readings in the window */
	int input_full;                                /* the window covers its whole length */
	/* The shadow set ([models] shadow_dir), when one is loaded. */
	int have_shadow;                               /* 0: none, the rest is unset */
	char shadow_model[SCORER_NMODELS][METRICS_NAME_MAX]; /* its name@version per slot */
	uint64_t shadow_readings;                      /* readings it scored in the window */
	double shadow_agree[SCORER_NMODELS];           /* status, anomaly: agreement with live; NAN */
	double shadow_humidity_rms_diff;               /* live minus shadow humidity, RMS; NAN */
	double shadow_now[SCORER_NMODELS];             /* as drift_now, for the shadow set */
	double shadow_trained[SCORER_NMODELS];         /* as drift_trained, for the shadow set */
};

/* Copy the ingest counters (and histograms) into s. The caller fills the rest. */
void metrics_take_ingest(struct metrics_snapshot *s, const struct ingest_counters *c);

/*
 * Render the Prometheus text exposition format (version 0.0.4) into a new
 * malloc'd string. Returns 0 and *out, *len (the caller frees), or -1 when
 * out of memory.
 */
int metrics_render(const struct metrics_snapshot *s, char **out, size_t *len);

/*
 * Render /healthz's JSON body into a new malloc'd string (*out, *len) and
 * return the HTTP status for it: 200 while the buffer is writable, 503
 * otherwise; -1 when out of memory.
 */
int metrics_health(const struct metrics_snapshot *s, char **out, size_t *len);

#endif
