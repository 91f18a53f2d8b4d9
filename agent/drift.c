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
}

static double drift__ratio(uint64_t correct, uint64_t labelled)
{
	return labelled ? (double)correct / (double)labelled : NAN;
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
	out->now[SCORER_HUMIDITY] = out->readings
		? sqrt((double)sq_milli / 1000.0 / (double)out->readings) : NAN;
	out->now[SCORER_STATUS] = drift__ratio(c.status_correct - w->prev.status_correct,
					       out->labelled[SCORER_STATUS]);
	out->now[SCORER_ANOMALY] = drift__ratio(c.anomaly_correct - w->prev.anomaly_correct,
						out->labelled[SCORER_ANOMALY]);
}
