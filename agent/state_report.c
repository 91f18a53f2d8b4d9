/*
 * state_report.c - the running agent's live state for `fieldgate status`:
 * once a second, the figures that are only true while it runs (source
 * connection, counters since start, sinks' delivery, models and drift) go
 * into DATA_DIR/agent.state (state.h; agent.h says who calls this).
 */
#include "agent/agent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/state.h"

/* drift.MODEL_labelled, drift.MODEL_accuracy (when any), drift.MODEL_accuracy_trained. */
static void state_report__accuracy(struct state *s, const char *model, uint64_t labelled,
				   double acc, double trained)
{
	char k[48];

	snprintf(k, sizeof k, "drift.%s_labelled", model);
	state_set(s, k, "%llu", (unsigned long long)labelled);
	snprintf(k, sizeof k, "drift.%s_accuracy", model);
	if (labelled)
		state_set(s, k, "%.4f", acc);
	snprintf(k, sizeof k, "drift.%s_accuracy_trained", model);
	if (!isnan(trained))
		state_set(s, k, "%.4f", trained);
}

/* The drift keys: what the models did over the window, beside what they
 * did on their training data. */
static void state_report__drift(struct state *s, const struct drift_report *d,
				const double trained[SCORER_NMODELS])
{
	state_set(s, "drift.window_s", "%lld", (long long)d->window_s);
	state_set(s, "drift.readings", "%llu", (unsigned long long)d->readings);
	if (d->readings)
		state_set(s, "drift.humidity_rmse", "%.3f", d->now[SCORER_HUMIDITY]);
	if (!isnan(trained[SCORER_HUMIDITY]))
		state_set(s, "drift.humidity_rmse_trained", "%.3f", trained[SCORER_HUMIDITY]);
	state_report__accuracy(s, "status", d->labelled[SCORER_STATUS], d->now[SCORER_STATUS],
			       trained[SCORER_STATUS]);
	state_report__accuracy(s, "anomaly", d->labelled[SCORER_ANOMALY], d->now[SCORER_ANOMALY],
			       trained[SCORER_ANOMALY]);
}

/* sink.NAME.* keys: this process's delivery figures of one forwarder. */
static void state_report__sink(struct state *s, struct forward *fw)
{
	struct forward_stats fs;
	struct forward_latency fl;
	const char *n = forward_name(fw);
	char k[64];

	forward_get_stats(fw, &fs);
	forward_latency(fw, &fl);
	snprintf(k, sizeof k, "sink.%s.state", n);
	state_set(s, k, "%s", fs.up == 1 ? "delivering" : fs.up == 0 ? "down" : "connecting");
	snprintf(k, sizeof k, "sink.%s.delivered", n);
	state_set(s, k, "%llu", (unsigned long long)fs.delivered);
	snprintf(k, sizeof k, "sink.%s.rejected", n);
	state_set(s, k, "%llu", (unsigned long long)fs.rejected);
	snprintf(k, sizeof k, "sink.%s.retried", n);
	state_set(s, k, "%llu", (unsigned long long)fs.retried);
	snprintf(k, sizeof k, "sink.%s.inflight", n);
	state_set(s, k, "%llu", (unsigned long long)fs.inflight);
	snprintf(k, sizeof k, "sink.%s.latency_p50_ms", n);
	state_set(s, k, "%d", fl.p50_ms);
	snprintf(k, sizeof k, "sink.%s.latency_p99_ms", n);
	state_set(s, k, "%d", fl.p99_ms);
	snprintf(k, sizeof k, "sink.%s.latency_max_ms", n);
	state_set(s, k, "%d", fl.max_ms);
}

/* KEY = v with `decimals` decimals, when v is a number. */
static void state_report__num(struct state *s, const char *key, double v, int decimals)
{
	if (!isnan(v))
		state_set(s, key, "%.*f", decimals, v);
}

/* The shadow set's figures over the drift window (shadow.* keys), beside
 * its training figures. */
static void state_report__shadow(struct state *s, const struct drift_shadow *d,
				 const double trained[SCORER_NMODELS])
{
	state_set(s, "shadow.window_s", "%lld", (long long)d->window_s);
	state_set(s, "shadow.readings", "%llu", (unsigned long long)d->readings);
	state_report__num(s, "shadow.status_agreement", d->agree[SCORER_STATUS], 4);
	state_report__num(s, "shadow.anomaly_agreement", d->agree[SCORER_ANOMALY], 4);
	state_report__num(s, "shadow.humidity_rms_diff", d->humidity_rms_diff, 3);
	state_report__num(s, "shadow.humidity_rmse", d->now[SCORER_HUMIDITY], 3);
	state_set(s, "shadow.status_labelled", "%llu", (unsigned long long)d->labelled[SCORER_STATUS]);
	state_report__num(s, "shadow.status_accuracy", d->now[SCORER_STATUS], 4);
	state_set(s, "shadow.anomaly_labelled", "%llu", (unsigned long long)d->labelled[SCORER_ANOMALY]);
	state_report__num(s, "shadow.anomaly_accuracy", d->now[SCORER_ANOMALY], 4);
	state_report__num(s, "shadow.humidity_rmse_trained", trained[SCORER_HUMIDITY], 3);
	state_report__num(s, "shadow.status_accuracy_trained", trained[SCORER_STATUS], 4);
	state_report__num(s, "shadow.anomaly_accuracy_trained", trained[SCORER_ANOMALY], 4);
}

/* input_drift.* keys: the window and each watched feature's PSI. */
static void state_report__input_drift(struct state *s, const struct drift_input *di)
{
	char k[48], list[512] = "";
	size_t used = 0;

	state_set(s, "input_drift.window_s", "%lld", (long long)(di->window_ms / 1000));
	state_set(s, "input_drift.covered_s", "%lld", (long long)(di->covered_ms / 1000));
	state_set(s, "input_drift.full", "%d", di->full);
	state_set(s, "input_drift.readings", "%llu", (unsigned long long)di->readings);
	for (size_t i = 0; i < di->n; i++) {
		const struct drift_input_feature *f = &di->f[i];
		snprintf(k, sizeof k, "input_drift.psi.%s", features_name(f->id));
		state_report__num(s, k, f->psi, 4);
		if (f->drifting && used < sizeof list) {
			int w = snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "",
					 features_name(f->id));
			if (w > 0)
				used += (size_t)w;
		}
	}
	state_set(s, "input_drift.drifting", "%s", list);
}

/* PREFIX.status/anomaly/humidity (when loaded), .dir, .reloads, .reloads_refused,
 * .reload_error: one model set. */
static void state_report__set(struct state *s, const char *prefix, const struct agent_set *st)
{
	static const char *const slot[SCORER_NMODELS] = { "status", "anomaly", "humidity" };
	char k[48];

	for (int i = 0; i < SCORER_NMODELS && st->loaded; i++) {
		snprintf(k, sizeof k, "%s.%s", prefix, slot[i]);
		state_set(s, k, "%s", st->models.label[i]);
	}
	snprintf(k, sizeof k, "%s.dir", prefix);
	state_set(s, k, "%s", st->dir);
	snprintf(k, sizeof k, "%s.reloads", prefix);
	state_set(s, k, "%llu", (unsigned long long)st->reloads);
	snprintf(k, sizeof k, "%s.reloads_refused", prefix);
	state_set(s, k, "%llu", (unsigned long long)st->refused);
	snprintf(k, sizeof k, "%s.reload_error", prefix);
	if (st->error[0])
		state_set(s, k, "%s", st->error);
}

void state_report_write(struct agent *a)
{
	const struct ingest_counters *c = &a->ctr;
	struct state s = { 0 };
	struct pipeline_stats ps;

	pipeline_get_stats(a->pipe, &ps);
	state_set(&s, "pid", "%ld", (long)getpid());
	state_set(&s, "updated_ms", "%lld", (long long)clock_wall_ms());
	state_set(&s, "started_ms", "%lld", (long long)a->started_ms);
	if (a->msrc)
		mqtt_source_state(a->msrc, &s);
	else
		state_set(&s, "source_type", "simulator");
	state_set(&s, "received", "%llu", (unsigned long long)atomic_load(&c->received));
	state_set(&s, "accepted", "%llu", (unsigned long long)atomic_load(&c->accepted));
	state_set(&s, "rejected", "%llu", (unsigned long long)atomic_load(&c->rejected));
	state_set(&s, "duplicates", "%llu", (unsigned long long)ps.duplicates);
	state_set(&s, "buffer_writable", "%d", ps.healthy);
	if (a->rec.recovered)
		state_set(&s, "buffer_recovered_from", "%s", a->rec.moved_to);
	if (a->rec.recovered) {
		state_set(&s, "buffer_salvaged", "%llu", (unsigned long long)a->rec.salvaged);
		state_set(&s, "buffer_lost", "%llu", (unsigned long long)a->rec.lost);
		state_set(&s, "buffer_lost_ranges", "%s", a->rec.lost_ranges);
	}
	state_report__set(&s, "models", &a->set[INGEST_LIVE]);
	if (a->set[INGEST_SHADOW].dir) {
		state_report__set(&s, "shadow", &a->set[INGEST_SHADOW]);
		if (a->have_drift && a->set[INGEST_SHADOW].loaded)
			state_report__shadow(&s, &a->drift.shadow, a->set[INGEST_SHADOW].models.trained);
	}
	if (a->have_drift)
		state_report__drift(&s, &a->drift, a->set[INGEST_LIVE].models.trained);
	state_report__input_drift(&s, &a->input_drift);
	if (a->alerts) {
		struct alerts_stats as;
		alerts_get_stats(a->alerts, &as);
		state_set(&s, "alerts_sent", "%llu", (unsigned long long)as.sent);
		state_set(&s, "alerts_limited", "%llu", (unsigned long long)as.limited);
		state_set(&s, "alerts_failed", "%llu", (unsigned long long)as.failed);
	}
	for (size_t i = 0; i < a->nfw; i++)
		state_report__sink(&s, a->fws[i]);
	if (state_write(&s, a->cfg->data_dir) < 0 && log_ratelimit(&a->state_rl, clock_mono_ms(), NULL))
		log_warn("agent", "cannot write %s/%s for fieldgate status: %s", a->cfg->data_dir,
			 STATE_FILE, strerror(errno));
}
