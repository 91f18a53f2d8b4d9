/*
 * ingest.h - what happens to one reading on the thread that received it:
 * decode (for raw bytes), compute features, score, encode the event body,
 * and hand it to the store writer; rejected bytes go to quarantine. Shared
 * by every source (simulator, MQTT) and, without a pipeline, by `score`.
 *
 * An ingest context belongs to one thread: it owns the per-sensor feature
 * state and the current scorer. A new scorer (SIGHUP) is loaded by another
 * thread, offered through ingest_offer_scorer() and taken between two
 * readings; the set it replaces is handed back through
 * ingest_take_retired(), so that freeing it costs the scoring thread nothing.
 * Every reading is scored by exactly one set, whole.
 *
 * A second, shadow set (a candidate, `[models] shadow_dir`) may score every
 * reading too, with the same feature vector: its predictions never change
 * what is stored or alerted on, but are counted against the live set's
 * (agreement) and against the truth (residual, accuracy), and may be added
 * to the event. It is handed over the same way (INGEST_SHADOW).
 */
#ifndef FIELDGATE_AGENT_INGEST_H
#define FIELDGATE_AGENT_INGEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/alerts.h"
#include "agent/features.h"
#include "agent/pipeline.h"
#include "agent/scorer.h"
#include "sensors/reading.h"

/* Inference time is measured on one reading in INGEST_SAMPLE_EVERY (two
 * clock reads per model are cheap, but not free at 10k readings/s), into a
 * histogram with these upper bounds (ns) and a last +Inf bucket. */
#define INGEST_SAMPLE_EVERY 64
#define INGEST_INFER_BUCKETS 10
extern const uint64_t ingest_infer_bounds_ns[INGEST_INFER_BUCKETS - 1];

/* The sampled inference times of one model. */
struct ingest_infer {
	_Atomic uint64_t count;     /* readings timed */
	_Atomic uint64_t sum_ns;    /* their total time */
	_Atomic uint64_t bucket[INGEST_INFER_BUCKETS]; /* per bucket (not cumulative) */
};

/* Counters shared with the main thread (status line, metrics). */
/* What the models' predictions look like against the truth, for drift:
 * the humidity residual (measured - predicted) of every reading, and the
 * ground truth that readings may carry (status_flag, is_anomaly). */
struct ingest_drift {
	_Atomic uint64_t residuals;        /* readings with a humidity residual */
	_Atomic uint64_t residual_sq_milli; /* sum of residual^2, in 1/1000 (% RH)^2 */
	_Atomic uint64_t status_labelled;  /* readings with status_flag */
	_Atomic uint64_t status_correct;   /* ... predicted right */
	_Atomic uint64_t anomaly_labelled; /* readings with is_anomaly */
	_Atomic uint64_t anomaly_correct;  /* ... predicted right */
	/* The same for the shadow set, on the readings it scored too. */
	_Atomic uint64_t shadow_readings;        /* readings the shadow set scored */
	_Atomic uint64_t shadow_status_agree;    /* ... with the live set's status */
	_Atomic uint64_t shadow_anomaly_agree;   /* ... with the live set's anomaly label */
	_Atomic uint64_t shadow_diff_sq_milli;   /* sum of (live - shadow humidity)^2, 1/1000 */
	_Atomic uint64_t shadow_residual_sq_milli; /* sum of the shadow's residual^2, 1/1000 */
	_Atomic uint64_t shadow_status_labelled; /* readings with status_flag */
	_Atomic uint64_t shadow_status_correct;  /* ... the shadow predicted right */
	_Atomic uint64_t shadow_anomaly_labelled;/* readings with is_anomaly */
	_Atomic uint64_t shadow_anomaly_correct; /* ... the shadow predicted right */
};

struct ingest_counters {
	_Atomic uint64_t received;   /* readings received (accepted + rejected) */
	_Atomic uint64_t accepted;   /* readings scored and queued */
	_Atomic uint64_t rejected;   /* readings quarantined */
	_Atomic uint64_t rejected_by_reason[READING_NREASONS]; /* by -code */
	_Atomic uint64_t warnings;   /* predicted status 1 */
	_Atomic uint64_t faults;     /* predicted status 2 */
	_Atomic uint64_t anomalies;  /* predicted anomalous */
	struct ingest_infer infer[SCORER_NMODELS]; /* sampled time per model slot */
	struct ingest_drift drift;   /* predictions against what was measured */
	/* Input drift: readings per bin of each watched feature's histogram, in
	 * the order of the live scorer's psi[] (counted since start, whatever the
	 * set); psi_generation counts the live sets the source has taken, so a
	 * reader knows which plan the counts follow. */
	_Atomic uint64_t psi[FEATURE_COUNT][MODEL_HISTOGRAM_MAX_BINS];
	_Atomic uint64_t psi_generation;
	/* Per-sensor rolling state (features.h): sensors that have it now, and
	 * those evicted since start, beyond [models] max_sensors (lru) or idle
	 * for [models] sensor_idle_timeout (idle). */
	_Atomic uint64_t sensors_tracked;
	_Atomic uint64_t sensors_evicted_lru;
	_Atomic uint64_t sensors_evicted_idle;
};

/* Which of a context's two sets. */
enum ingest_set { INGEST_LIVE, INGEST_SHADOW, INGEST_NSETS };

/* Readings the scoring thread counts locally before it adds them to the
 * shared counters (one atomic add a field per reading would cost more than
 * the counting itself). */
#define INGEST_FLUSH_EVERY 64

/* The shadow set's figures, counted by the scoring thread (see ingest_drift). */
struct ingest_shadow_local {
	uint64_t readings, status_agree, anomaly_agree, diff_sq_milli, residual_sq_milli;
	uint64_t status_labelled, status_correct, anomaly_labelled, anomaly_correct;
};

struct ingest {
	struct features *features;          /* per-sensor state, owned */
	struct scorer *scorer;              /* current models, owned */
	_Atomic(struct scorer *) offered;   /* a newer scorer waiting to be taken */
	_Atomic(struct scorer *) retired;   /* one swapped out, for the loading thread to free */
	struct scorer *shadow;              /* the shadow set, owned, or NULL */
	_Atomic(struct scorer *) shadow_offered; /* as offered, for the shadow set */
	_Atomic(struct scorer *) shadow_retired; /* as retired, for the shadow set */
	int shadow_in_events;               /* 1: events carry the shadow's predictions */
	struct ingest_shadow_local shadow_local; /* not yet added to ctr->drift */
	uint32_t psi_local[FEATURE_COUNT][MODEL_HISTOGRAM_MAX_BINS]; /* not yet in ctr->psi */
	unsigned unflushed;                 /* readings counted locally since the last flush */
	struct pipeline *pipe;              /* where events go (NULL for `score`) */
	struct ingest_counters *ctr;        /* shared counters (not owned) */
	struct alerts *alerts;              /* alerts for scored readings, or NULL (not owned) */
	struct sensor_map_stats sensors;    /* features' figures as last copied to ctr */
	unsigned scored;                    /* readings scored, for sampling inference time */
	char body[16384];                   /* scratch for one event body */
};

/* Set up a context that takes ownership of scorer. Returns 0 or -1 (out of memory). */
int ingest_init(struct ingest *in, struct scorer *scorer, struct pipeline *pipe,
		struct ingest_counters *ctr);

/* Bound the per-sensor state: [models] max_sensors and sensor_idle_timeout
 * (features_set_limits()). 0, or -1 for a bad limit. */
int ingest_limit_sensors(struct ingest *in, size_t max_sensors, int64_t idle_ms);

/* Free what the context owns (features, scorer, an offered or retired scorer). */
void ingest_cleanup(struct ingest *in);

/* Offer a freshly loaded scorer for the live set (any thread); taken before
 * the next reading. An earlier offer not yet taken is freed here. */
void ingest_offer_scorer(struct ingest *in, struct scorer *s);

/* The same for the shadow set: the first offer starts shadow scoring. */
void ingest_offer_shadow(struct ingest *in, struct scorer *s);

/* The scorer of set `which` the context stopped using when it took an
 * offer, or NULL; the caller frees it (scorer_free). Call from the thread
 * that offers. */
struct scorer *ingest_take_retired(struct ingest *in, enum ingest_set which);

/*
 * Score r (arrived at received_ms): fill the event body into in->body and
 * return its length, or -1 if it does not fit (cannot happen for a valid
 * reading). *pred gets the predictions.
 */
int ingest_score(struct ingest *in, const struct reading *r, int64_t received_ms,
		 struct event_prediction *pred);

/* Score r and queue the event (blocks on backpressure). Returns 0, or -1
 * when the pipeline is stopping. *ticket as pipeline_push_event(). */
int ingest_reading(struct ingest *in, const struct reading *r, int64_t received_ms,
		   uint64_t *ticket);

/* Decode raw bytes from `origin` (topic or file name); a valid reading is
 * scored and queued, an invalid one is quarantined with its reason.
 * default_id (may be NULL) is the sensor_id when the payload has none.
 * Returns 0 (either way), or -1 when the pipeline is stopping. */
int ingest_raw(struct ingest *in, const char *buf, size_t len, const char *origin,
	       const char *default_id, int64_t received_ms, uint64_t *ticket);

/* The dedup key of a reading: 8 bytes big-endian timestamp, then sensor_id.
 * key must hold 8 + READING_ID_MAX bytes. Returns its length. */
size_t ingest_key(const struct reading *r, unsigned char *key);

#endif
