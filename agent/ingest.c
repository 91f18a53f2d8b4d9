/*
 * ingest.c - decode, score, encode and queue one reading (see ingest.h).
 */
#include "agent/ingest.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define QUARANTINE_RAW_MAX 65536 /* raw bytes kept of one rejected message */

/* 1 us to 1 ms: a forest of 20 trees of depth 5 takes a few us. */
const uint64_t ingest_infer_bounds_ns[INGEST_INFER_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

/* Add one sample per model to the histograms. */
static void ingest__record_times(struct ingest_counters *c, const uint64_t ns[SCORER_NMODELS])
{
	for (int m = 0; m < SCORER_NMODELS; m++) {
		struct ingest_infer *h = &c->infer[m];
		int b = 0;
		while (b < INGEST_INFER_BUCKETS - 1 && ns[m] > ingest_infer_bounds_ns[b])
			b++;
		atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&h->sum_ns, ns[m], memory_order_relaxed);
		atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	}
}

int ingest_init(struct ingest *in, struct scorer *scorer, struct pipeline *pipe,
		struct ingest_counters *ctr)
{
	memset(in, 0, sizeof *in);
	if (features_create(&in->features) < 0)
		return -1;
	in->scorer = scorer;
	atomic_store(&in->offered, NULL);
	atomic_store(&in->retired, NULL);
	atomic_store(&in->shadow_offered, NULL);
	atomic_store(&in->shadow_retired, NULL);
	in->pipe = pipe;
	in->ctr = ctr;
	return 0;
}

int ingest_limit_sensors(struct ingest *in, size_t max_sensors, int64_t idle_ms)
{
	return features_set_limits(in->features, max_sensors, idle_ms);
}

/* Copy the features' sensor figures to the shared counters when they
 * changed (a new or evicted sensor; most readings change neither). */
static inline void ingest__count_sensors(struct ingest *in)
{
	struct sensor_map_stats st;

	features_stats(in->features, &st);
	if (st.count != in->sensors.count)
		atomic_store_explicit(&in->ctr->sensors_tracked, st.count, memory_order_relaxed);
	if (st.evicted_lru != in->sensors.evicted_lru)
		atomic_store_explicit(&in->ctr->sensors_evicted_lru, st.evicted_lru,
				      memory_order_relaxed);
	if (st.evicted_idle != in->sensors.evicted_idle)
		atomic_store_explicit(&in->ctr->sensors_evicted_idle, st.evicted_idle,
				      memory_order_relaxed);
	in->sensors = st;
}

void ingest_cleanup(struct ingest *in)
{
	_Atomic(struct scorer *) *slots[] = { &in->offered, &in->retired, &in->shadow_offered,
					      &in->shadow_retired };

	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		struct scorer *s = atomic_exchange(slots[i], NULL);
		scorer_free(&s);
	}
	scorer_free(&in->scorer);
	scorer_free(&in->shadow);
	features_free(&in->features);
}

void ingest_offer_scorer(struct ingest *in, struct scorer *s)
{
	struct scorer *old = atomic_exchange(&in->offered, s);
	/* A scorer offered earlier and never taken is simply replaced. */
	scorer_free(&old);
}

void ingest_offer_shadow(struct ingest *in, struct scorer *s)
{
	struct scorer *old = atomic_exchange(&in->shadow_offered, s);
	scorer_free(&old);
}

struct scorer *ingest_take_retired(struct ingest *in, enum ingest_set which)
{
	return atomic_exchange(which == INGEST_LIVE ? &in->retired : &in->shadow_retired, NULL);
}

/* Swap in an offered set, if any: the old one goes back to the loading
 * thread; one it has not collected yet (two swaps within its tick) is
 * freed here. Returns 1 when it swapped. */
static int ingest__take(struct scorer **cur, _Atomic(struct scorer *) *offered,
			_Atomic(struct scorer *) *retired)
{
	struct scorer *s, *old;

	if (!atomic_load_explicit(offered, memory_order_relaxed))
		return 0;
	if (!(s = atomic_exchange(offered, NULL)))
		return 0;
	old = atomic_exchange(retired, *cur);
	scorer_free(&old);
	*cur = s;
	return 1;
}

/* Add the locally counted shadow and input-drift figures to the shared counters. */
static void ingest__flush(struct ingest *in)
{
	struct ingest_shadow_local *l = &in->shadow_local;
	struct ingest_drift *d = &in->ctr->drift;

	for (size_t f = 0; f < in->scorer->npsi; f++) {
		for (size_t b = 0; b < in->scorer->psi[f].nbins; b++) {
			if (!in->psi_local[f][b])
				continue;
			atomic_fetch_add_explicit(&in->ctr->psi[f][b], in->psi_local[f][b],
						  memory_order_relaxed);
			in->psi_local[f][b] = 0;
		}
	}
	if (l->readings) {
		atomic_fetch_add_explicit(&d->shadow_readings, l->readings, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_status_agree, l->status_agree, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_anomaly_agree, l->anomaly_agree, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_diff_sq_milli, l->diff_sq_milli, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_residual_sq_milli, l->residual_sq_milli,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_status_labelled, l->status_labelled,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_status_correct, l->status_correct,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_anomaly_labelled, l->anomaly_labelled,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&d->shadow_anomaly_correct, l->anomaly_correct,
					  memory_order_relaxed);
	}
	memset(l, 0, sizeof *l);
	in->unflushed = 0;
}

/* x^2 in 1/1000, or 0 for a value no real residual reaches. */
static uint64_t ingest__sq_milli(double x)
{
	double sq = x * x;
	return isfinite(sq) && sq < 1e9 ? (uint64_t)(sq * 1000.0 + 0.5) : 0;
}

/* Count the shadow set's prediction against the live set's and the truth. */
static void ingest__count_shadow(struct ingest_shadow_local *l, const struct reading *r,
				 const struct event_prediction *live,
				 const struct event_prediction *sh)
{
	l->readings++;
	l->status_agree += sh->status == live->status;
	l->anomaly_agree += sh->anomaly == live->anomaly;
	l->diff_sq_milli += ingest__sq_milli(live->humidity - sh->humidity);
	l->residual_sq_milli += ingest__sq_milli(sh->humidity_residual);
	if (r->status_flag >= 0) {
		l->status_labelled++;
		l->status_correct += sh->status == r->status_flag;
	}
	if (r->is_anomaly >= 0) {
		l->anomaly_labelled++;
		l->anomaly_correct += sh->anomaly == r->is_anomaly;
	}
}

size_t ingest_key(const struct reading *r, unsigned char *key)
{
	uint64_t ts = (uint64_t)r->timestamp_ms;
	size_t n = strlen(r->sensor_id);
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(ts >> (56 - 8 * i));
	memcpy(key + 8, r->sensor_id, n);
	return 8 + n;
}

/* Count the prediction against what was measured and the labels it carries. */
static void ingest__record_drift(struct ingest_drift *d, const struct reading *r,
				 const struct event_prediction *p)
{
	double sq = p->humidity_residual * p->humidity_residual;

	if (isfinite(sq) && sq < 1e9) {
		atomic_fetch_add_explicit(&d->residuals, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->residual_sq_milli, (uint64_t)(sq * 1000.0 + 0.5),
					  memory_order_relaxed);
	}
	if (r->status_flag >= 0) {
		atomic_fetch_add_explicit(&d->status_labelled, 1, memory_order_relaxed);
		if (p->status == r->status_flag)
			atomic_fetch_add_explicit(&d->status_correct, 1, memory_order_relaxed);
	}
	if (r->is_anomaly >= 0) {
		atomic_fetch_add_explicit(&d->anomaly_labelled, 1, memory_order_relaxed);
		if (p->anomaly == r->is_anomaly)
			atomic_fetch_add_explicit(&d->anomaly_correct, 1, memory_order_relaxed);
	}
}

int ingest_score(struct ingest *in, const struct reading *r, int64_t received_ms,
		 struct event_prediction *pred)
{
	struct event_prediction sp;
	struct event_shadow sh = { &sp, NULL };
	double f[FEATURE_COUNT];

	/* The counts so far belong to the sets being replaced. */
	if (in->ctr && (atomic_load_explicit(&in->offered, memory_order_relaxed) ||
			atomic_load_explicit(&in->shadow_offered, memory_order_relaxed)))
		ingest__flush(in);
	if (ingest__take(&in->scorer, &in->offered, &in->retired) && in->ctr)
		atomic_fetch_add_explicit(&in->ctr->psi_generation, 1, memory_order_release);
	(void)ingest__take(&in->shadow, &in->shadow_offered, &in->shadow_retired);
	/* Out of memory for a new sensor's state: scored without history. */
	(void)features_compute_at(in->features, r, received_ms, f);
	if (in->ctr)
		ingest__count_sensors(in);
	if (in->ctr && in->scored++ % INGEST_SAMPLE_EVERY == 0) {
		uint64_t ns[SCORER_NMODELS];
		scorer_predict_timed(in->scorer, f, pred, ns);
		ingest__record_times(in->ctr, ns);
	} else {
		scorer_predict(in->scorer, f, pred);
	}
	if (in->ctr) {
		if (pred->status == 1)
			atomic_fetch_add_explicit(&in->ctr->warnings, 1, memory_order_relaxed);
		else if (pred->status == 2)
			atomic_fetch_add_explicit(&in->ctr->faults, 1, memory_order_relaxed);
		if (pred->anomaly)
			atomic_fetch_add_explicit(&in->ctr->anomalies, 1, memory_order_relaxed);
		ingest__record_drift(&in->ctr->drift, r, pred);
	}
	if (in->shadow) {
		scorer_predict(in->shadow, f, &sp);
		sh.m = &in->shadow->names;
		if (in->ctr)
			ingest__count_shadow(&in->shadow_local, r, pred, &sp);
	}
	if (in->ctr) {
		/* Input drift: the bin of each watched feature. */
		for (size_t i = 0; i < in->scorer->npsi; i++) {
			const struct scorer_psi *p = &in->scorer->psi[i];
			in->psi_local[i][scorer_psi_bin(p, f[p->id])]++;
		}
		if (++in->unflushed >= INGEST_FLUSH_EVERY)
			ingest__flush(in);
	}
	return event_encode_body_shadow(r, received_ms, pred, &in->scorer->names,
					in->shadow && in->shadow_in_events ? &sh : NULL,
					in->body, sizeof in->body);
}

int ingest_reading(struct ingest *in, const struct reading *r, int64_t received_ms,
		   uint64_t *ticket)
{
	struct event_prediction pred;
	unsigned char key[8 + READING_ID_MAX];
	size_t keylen = ingest_key(r, key);
	int len;

	atomic_fetch_add_explicit(&in->ctr->received, 1, memory_order_relaxed);
	len = ingest_score(in, r, received_ms, &pred);
	if (len < 0) {
		atomic_fetch_add_explicit(&in->ctr->rejected, 1, memory_order_relaxed);
		return pipeline_push_quarantine(in->pipe, received_ms, "ingest",
						"event too large to encode", r->sensor_id,
						strlen(r->sensor_id), ticket);
	}
	atomic_fetch_add_explicit(&in->ctr->accepted, 1, memory_order_relaxed);
	if (in->alerts)
		alerts_consider(in->alerts, r, &pred, received_ms);
	return pipeline_push_event(in->pipe, key, keylen, received_ms, in->body, (size_t)len, ticket);
}

int ingest_raw(struct ingest *in, const char *buf, size_t len, const char *origin,
	       const char *default_id, int64_t received_ms, uint64_t *ticket)
{
	struct reading r;
	char why[256], reason[320];
	int rc = reading_decode_with_id(buf, len, received_ms, default_id, &r, why, sizeof why);

	if (rc == READING_OK)
		return ingest_reading(in, &r, received_ms, ticket);
	atomic_fetch_add_explicit(&in->ctr->received, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&in->ctr->rejected, 1, memory_order_relaxed);
	if (-rc > 0 && -rc < READING_NREASONS)
		atomic_fetch_add_explicit(&in->ctr->rejected_by_reason[-rc], 1, memory_order_relaxed);
	snprintf(reason, sizeof reason, "%s: %s", reading_reason_name(rc), why);
	return pipeline_push_quarantine(in->pipe, received_ms, origin, reason, buf,
					len > QUARANTINE_RAW_MAX ? QUARANTINE_RAW_MAX : len, ticket);
}
