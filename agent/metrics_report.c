/*
 * metrics_report.c - /metrics and /healthz from the running agent: once a
 * second one snapshot of its counters (store_stats() counts rows in SQL, so
 * never per scrape) is rendered by metrics.c and handed to the HTTP server,
 * which serves the latest copy (agent.h says who calls this).
 */
#include "agent/agent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/state.h"

/* The source's connection figures, from the same keys `status` shows. */
static void metrics_report__source(struct metrics_snapshot *m, struct mqtt_source *msrc)
{
	struct state s = { 0 };

	mqtt_source_state(msrc, &s);
	m->mqtt = 1;
	snprintf(m->source_state, sizeof m->source_state, "%s", state_value(&s, "source_state", ""));
	snprintf(m->source_last_error, sizeof m->source_last_error, "%s",
		 state_value(&s, "source_last_error", ""));
}

/* One sink as its forwarder (this process) and the buffer (its position) see it. */
static void metrics_report__sink(struct metrics_snapshot *m, struct forward *fw)
{
	struct metrics_sink *k = &m->sinks[m->nsinks++];

	snprintf(k->name, sizeof k->name, "%s", forward_name(fw));
	forward_get_stats(fw, &k->fw);
	forward_latency(fw, &k->latency);
	for (size_t j = 0; m->have_store && j < m->store.nsinks; j++) {
		if (strcmp(m->store.sinks[j].name, k->name) == 0) {
			k->backlog = m->store.sinks[j].backlog;
			k->oldest_pending_ms = m->store.sinks[j].oldest_pending_ms;
		}
	}
}

/* The shadow set's name and figures (d NULL: none yet). */
static void metrics_report__shadow(struct metrics_snapshot *m, const struct agent_set *st,
				   const struct drift_shadow *d)
{
	m->have_shadow = 1;
	memcpy(m->shadow_model, st->models.label, sizeof m->shadow_model);
	memcpy(m->shadow_trained, st->models.trained, sizeof m->shadow_trained);
	m->shadow_humidity_rms_diff = d ? d->humidity_rms_diff : NAN;
	m->shadow_readings = d ? d->readings : 0;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		m->shadow_agree[i] = d ? d->agree[i] : NAN;
		m->shadow_now[i] = d ? d->now[i] : NAN;
	}
}

void metrics_report_publish(struct agent *a)
{
	const struct config *cfg = a->cfg;
	struct metrics_snapshot *m = calloc(1, sizeof *m);
	char *mt = NULL, *ht = NULL, err[256];
	size_t mlen = 0, hlen = 0;
	int code;

	if (!m)
		return;
	m->version = FIELDGATE_VERSION;
	m->gateway_id = cfg->gateway_id;
	m->site = cfg->site;
	m->started_ms = a->started_ms;
	m->max_bytes = cfg->buffer_max_bytes;
	m->sensors_max = cfg->models_max_sensors;
	m->recovered_from = a->rec.recovered ? a->rec.moved_to : NULL;
	m->salvaged = a->rec.salvaged;
	m->lost = a->rec.lost;
	m->lost_ranges = a->rec.lost_ranges;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		m->drift_now[i] = a->have_drift ? a->drift.now[i] : NAN;
		m->drift_trained[i] = a->set[INGEST_LIVE].models.trained[i];
	}
	memcpy(m->model, a->set[INGEST_LIVE].models.label, sizeof m->model);
	m->ninput = a->input_drift.n;
	m->input_readings = a->input_drift.readings;
	m->input_full = a->input_drift.full;
	for (size_t i = 0; i < a->input_drift.n; i++) {
		m->input_name[i] = features_name(a->input_drift.f[i].id);
		m->input_psi[i] = a->input_drift.f[i].psi;
		m->input_drifting[i] = a->input_drift.f[i].drifting;
	}
	if (a->set[INGEST_SHADOW].loaded)
		metrics_report__shadow(m, &a->set[INGEST_SHADOW], a->have_drift ? &a->drift.shadow : NULL);
	m->reloads = a->set[INGEST_LIVE].reloads;
	m->reloads_refused = a->set[INGEST_LIVE].refused;
	metrics_take_ingest(m, &a->ctr);
	pipeline_get_stats(a->pipe, &m->pipe);
	m->have_store = store_stats(a->ro, &m->store, err, sizeof err) == 0;
	if (a->msrc)
		metrics_report__source(m, a->msrc);
	if (a->alerts) {
		m->have_alerts = 1;
		alerts_get_stats(a->alerts, &m->alerts);
	}
	for (size_t i = 0; i < a->nfw && i < METRICS_SINKS_MAX; i++)
		metrics_report__sink(m, a->fws[i]);
	if (metrics_render(m, &mt, &mlen) == 0 && (code = metrics_health(m, &ht, &hlen)) > 0)
		http_publish(a->http, mt, mlen, ht, hlen, code);
	else
		free(mt);
	free(m);
}
