/*
 * drift.c - the models' figures on live readings over a sliding window
 * (see drift.h).
 */
#include "agent/drift.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- input drift ---- */

/* The plan of scorer s into f[] (what the counters' psi[] rows hold). */
static size_t drift__plan(const struct scorer *s, struct drift_input_feature *f)
{
	for (size_t i = 0; i < s->npsi; i++) {
		const struct scorer_psi *p = &s->psi[i];
		memset(&f[i], 0, sizeof f[i]);
		f[i].id = p->id;
		snprintf(f[i].model, sizeof f[i].model, "%s", s->label[p->slot]);
		f[i].nbins = p->nbins;
		memcpy(f[i].expected, p->expected, p->nbins * sizeof p->expected[0]);
		f[i].psi = NAN;
	}
	return s->npsi;
}

/* Start counting afresh at now_ms: the counters as they are become the base. */
static void drift__restart_input(struct drift_input *di, const struct ingest_counters *c,
				 int64_t now_ms)
{
	for (int f = 0; f < FEATURE_COUNT; f++)
		for (int b = 0; b < MODEL_HISTOGRAM_MAX_BINS; b++)
			di->snap[0][f][b] = c ? atomic_load_explicit(&c->psi[f][b], memory_order_relaxed) : 0;
	di->snap_ms[0] = now_ms;
	di->nsnap = 1;
	di->since_ms = now_ms;
	di->readings = 0;
	di->covered_ms = 0;
	di->full = 0;
}

int drift_input_init(struct drift_input *di, int64_t window_ms, const struct scorer *s,
		     int64_t now_ms)
{
	memset(di, 0, sizeof *di);
	if (!(di->snap = calloc(DRIFT_INPUT_SLICES + 2, sizeof *di->snap)))
		return -1;
	di->window_ms = window_ms;
	di->n = drift__plan(s, di->f);
	drift__restart_input(di, NULL, now_ms);
	return 0;
}

void drift_input_cleanup(struct drift_input *di)
{
	free(di->snap);
	di->snap = NULL;
}

void drift_input_offer(struct drift_input *di, const struct scorer *s)
{
	di->pending_n = drift__plan(s, di->pending);
}

void drift_format_span(int64_t ms, char *buf, size_t cap)
{
	double s = (double)ms / 1000.0;

	if (s < 120)
		snprintf(buf, cap, "%.0f s", s);
	else if (s < 7200)
		snprintf(buf, cap, "%.0f min", s / 60);
	else if (s < 3 * 86400)
		snprintf(buf, cap, "%.3g h", s / 3600);
	else
		snprintf(buf, cap, "%.3g d", s / 86400);
}

/* Forget the oldest snapshot. */
static void drift__drop_oldest(struct drift_input *di)
{
	memmove(&di->snap[0], &di->snap[1], (size_t)(di->nsnap - 1) * sizeof di->snap[0]);
	memmove(&di->snap_ms[0], &di->snap_ms[1], (size_t)(di->nsnap - 1) * sizeof di->snap_ms[0]);
	di->nsnap--;
}

/* PSI of counts a[0..n) (total `total`) against shares e. */
static double drift__psi(const uint64_t *a, uint64_t total, const double *e, size_t n)
{
	double psi = 0;

	for (size_t i = 0; i < n; i++) {
		double p = fmax((double)a[i] / (double)total, 1e-4), q = fmax(e[i], 1e-4);
		psi += (p - q) * log(p / q);
	}
	return psi;
}

void drift_input_update(struct drift_input *di, const struct ingest_counters *c, int64_t now_ms)
{
	uint64_t gen = atomic_load_explicit(&c->psi_generation, memory_order_acquire);
	uint64_t now[FEATURE_COUNT][MODEL_HISTOGRAM_MAX_BINS];
	int64_t slice = di->window_ms / DRIFT_INPUT_SLICES;

	for (size_t i = 0; i < di->n; i++)
		di->f[i].change = 0;
	di->ended_n = 0;
	if (gen != di->generation) {
		/* The source took a new set: its histograms, and a fresh window. */
		for (size_t i = 0; i < di->n; i++)
			if (di->f[i].drifting)
				di->f[i].change = -2; /* not judged any more: the set changed */
		di->ended_n = di->n;
		memcpy(di->ended, di->f, sizeof di->ended);
		memcpy(di->f, di->pending, sizeof di->f);
		di->n = di->pending_n;
		di->generation = gen;
		drift__restart_input(di, c, now_ms);
		return;
	}
	for (int f = 0; f < FEATURE_COUNT; f++)
		for (int b = 0; b < MODEL_HISTOGRAM_MAX_BINS; b++)
			now[f][b] = atomic_load_explicit(&c->psi[f][b], memory_order_relaxed);
	/* A new snapshot every slice. The window starts at the newest snapshot
	 * that is at least a window old (before there is one: at the oldest). */
	if (now_ms - di->snap_ms[di->nsnap - 1] >= slice) {
		if (di->nsnap == DRIFT_INPUT_SLICES + 2)
			drift__drop_oldest(di);
		memcpy(di->snap[di->nsnap], now, sizeof now);
		di->snap_ms[di->nsnap++] = now_ms;
	}
	while (di->nsnap > 2 && now_ms - di->snap_ms[1] >= di->window_ms)
		drift__drop_oldest(di);
	di->covered_ms = now_ms - di->snap_ms[0];
	di->full = di->covered_ms >= di->window_ms;
	for (size_t i = 0; i < di->n; i++) {
		struct drift_input_feature *x = &di->f[i];
		uint64_t a[MODEL_HISTOGRAM_MAX_BINS], total = 0;

		for (size_t b = 0; b < x->nbins; b++)
			total += a[b] = now[i][b] - di->snap[0][i][b];
		if (i == 0)
			di->readings = total;
		x->psi = total ? drift__psi(a, total, x->expected, x->nbins) : NAN;
		if (!di->full || total < DRIFT_PSI_MIN_READINGS || isnan(x->psi))
			continue;
		if (!x->drifting && x->psi >= DRIFT_PSI_START) {
			x->drifting = 1;
			x->change = 1;
		} else if (x->drifting && x->psi < DRIFT_PSI_END) {
			x->drifting = 0;
			x->change = -1;
		}
	}
}
