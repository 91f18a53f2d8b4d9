/*
 * drift.c - the models' figures on live readings over a sliding window
 * (see drift.h).
 */
#include "agent/drift.h"

#include <math.h>
#include <stdatomic.h>

static void drift__read(const struct ingest_drift *d, struct drift_counts *c)
{
	c->residuals = atomic_load(&d->residuals);
	c->residual_sq_milli = atomic_load(&d->residual_sq_milli);
	c->status_labelled = atomic_load(&d->status_labelled);
	c->status_correct = atomic_load(&d->status_correct);
	c->anomaly_labelled = atomic_load(&d->anomaly_labelled);
	c->anomaly_correct = atomic_load(&d->anomaly_correct);
	c->shadow_readings = atomic_load(&d->shadow_readings);
	c->shadow_status_agree = atomic_load(&d->shadow_status_agree);
	c->shadow_anomaly_agree = atomic_load(&d->shadow_anomaly_agree);
	c->shadow_diff_sq_milli = atomic_load(&d->shadow_diff_sq_milli);
	c->shadow_residual_sq_milli = atomic_load(&d->shadow_residual_sq_milli);
	c->shadow_status_labelled = atomic_load(&d->shadow_status_labelled);
	c->shadow_status_correct = atomic_load(&d->shadow_status_correct);
	c->shadow_anomaly_labelled = atomic_load(&d->shadow_anomaly_labelled);
	c->shadow_anomaly_correct = atomic_load(&d->shadow_anomaly_correct);
}

/* sqrt(sum_sq_milli / 1000 / n), NAN when n is 0. */
static double drift__rms(uint64_t sum_sq_milli, uint64_t n)
{
	return n ? sqrt((double)sum_sq_milli / 1000.0 / (double)n) : NAN;
}

static double drift__ratio(uint64_t correct, uint64_t labelled)
{
	return labelled ? (double)correct / (double)labelled : NAN;
}

/* The shadow figures over the window, or since the shadow set changed. */
static void drift__shadow(const struct drift_window *w, const struct drift_counts *c,
			  int64_t now_ms, struct drift_shadow *out)
{
	int rebased = w->shadow_base_ms > w->prev_ms;
	const struct drift_counts *b = rebased ? &w->shadow_base : &w->prev;
	uint64_t n = c->shadow_readings - b->shadow_readings;

	out->window_s = (now_ms - (rebased ? w->shadow_base_ms : w->prev_ms)) / 1000;
	out->readings = n;
	out->agree[SCORER_STATUS] = drift__ratio(c->shadow_status_agree - b->shadow_status_agree, n);
	out->agree[SCORER_ANOMALY] = drift__ratio(c->shadow_anomaly_agree - b->shadow_anomaly_agree, n);
	out->agree[SCORER_HUMIDITY] = NAN;
	out->humidity_rms_diff = drift__rms(c->shadow_diff_sq_milli - b->shadow_diff_sq_milli, n);
	out->labelled[SCORER_HUMIDITY] = n;
	out->labelled[SCORER_STATUS] = c->shadow_status_labelled - b->shadow_status_labelled;
	out->labelled[SCORER_ANOMALY] = c->shadow_anomaly_labelled - b->shadow_anomaly_labelled;
	out->now[SCORER_HUMIDITY] = drift__rms(c->shadow_residual_sq_milli -
					       b->shadow_residual_sq_milli, n);
	out->now[SCORER_STATUS] = drift__ratio(c->shadow_status_correct - b->shadow_status_correct,
					       out->labelled[SCORER_STATUS]);
	out->now[SCORER_ANOMALY] = drift__ratio(c->shadow_anomaly_correct - b->shadow_anomaly_correct,
						out->labelled[SCORER_ANOMALY]);
}

void drift_update(struct drift_window *w, const struct ingest_drift *d, int64_t now_ms,
		  struct drift_report *out)
{
	struct drift_counts c;
	uint64_t sq_milli;

	drift__read(d, &c);
	if (!w->cur_ms || now_ms - w->cur_ms >= DRIFT_WINDOW_MS) {
		w->prev = w->cur_ms ? w->cur : c;
		w->prev_ms = w->cur_ms ? w->cur_ms : now_ms;
		w->cur = c;
		w->cur_ms = now_ms;
	}
	out->window_s = (now_ms - w->prev_ms) / 1000;
	out->readings = c.residuals - w->prev.residuals;
	sq_milli = c.residual_sq_milli - w->prev.residual_sq_milli;
	out->labelled[SCORER_HUMIDITY] = out->readings;
	out->labelled[SCORER_STATUS] = c.status_labelled - w->prev.status_labelled;
	out->labelled[SCORER_ANOMALY] = c.anomaly_labelled - w->prev.anomaly_labelled;
	out->now[SCORER_HUMIDITY] = drift__rms(sq_milli, out->readings);
	out->now[SCORER_STATUS] = drift__ratio(c.status_correct - w->prev.status_correct,
					       out->labelled[SCORER_STATUS]);
	out->now[SCORER_ANOMALY] = drift__ratio(c.anomaly_correct - w->prev.anomaly_correct,
						out->labelled[SCORER_ANOMALY]);
	drift__shadow(w, &c, now_ms, &out->shadow);
}

void drift_restart_shadow(struct drift_window *w, const struct ingest_drift *d, int64_t now_ms)
{
	drift__read(d, &w->shadow_base);
	w->shadow_base_ms = now_ms;
}
