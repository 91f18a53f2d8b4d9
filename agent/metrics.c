/*
 * metrics.c - render a metrics snapshot as the Prometheus text format and
 * as /healthz's JSON (see metrics.h; the README's "Metrics and health"
 * lists every name). Families appear in a fixed order; a family whose
 * figures are unknown (no buffer stats this second, no sinks) is left out
 * rather than shown as 0.
 */
#include "agent/metrics.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const slot_names[SCORER_NMODELS] = { "status", "anomaly", "humidity" };

void metrics_take_ingest(struct metrics_snapshot *s, const struct ingest_counters *c)
{
	/* accepted and rejected before received: each reading counts in
	 * received first, so a scrape never shows received < accepted + rejected. */
	s->accepted = atomic_load(&c->accepted);
	s->rejected = atomic_load(&c->rejected);
	s->received = atomic_load(&c->received);
	for (int i = 0; i < READING_NREASONS; i++)
		s->rejected_by_reason[i] = atomic_load(&c->rejected_by_reason[i]);
	s->warnings = atomic_load(&c->warnings);
	s->faults = atomic_load(&c->faults);
	s->anomalies = atomic_load(&c->anomalies);
	s->sensors_tracked = atomic_load(&c->sensors_tracked);
	s->sensors_evicted_lru = atomic_load(&c->sensors_evicted_lru);
	s->sensors_evicted_idle = atomic_load(&c->sensors_evicted_idle);
	for (int m = 0; m < SCORER_NMODELS; m++) {
		/* count is the sum of the buckets read, so that it always equals
		 * the +Inf bucket as the format requires. */
		s->infer[m].count = 0;
		for (int b = 0; b < INGEST_INFER_BUCKETS; b++) {
			s->infer[m].bucket[b] = atomic_load(&c->infer[m].bucket[b]);
			s->infer[m].count += s->infer[m].bucket[b];
		}
		s->infer[m].sum_ns = atomic_load(&c->infer[m].sum_ns);
	}
}

/* A label value or JSON string, escaped: \ " and newline (and, for JSON,
 * the other control characters). */
static void metrics__put_escaped(FILE *f, const char *v, int json)
{
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;
		if (ch == '\\' || ch == '"')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (json && ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
}

static void metrics__family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{sink="..."} value */
static void metrics__sink_sample(FILE *f, const char *name, const char *sink, uint64_t v)
{
	fprintf(f, "%s{sink=\"", name);
	metrics__put_escaped(f, sink, 0);
	fprintf(f, "\"} %llu\n", (unsigned long long)v);
}

static void metrics__one(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	metrics__family(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* A family whose n samples differ in one label: name{label="vals[i]"} nums[i]. */
static void metrics__labelled(FILE *f, const char *name, const char *type, const char *help,
			      const char *label, size_t n, const char *const *vals, const uint64_t *nums)
{
	metrics__family(f, name, type, help);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, vals[i], (unsigned long long)nums[i]);
}

static void metrics__render_ingest(FILE *f, const struct metrics_snapshot *s)
{
	metrics__one(f, "fieldgate_readings_received_total", "counter",
		     "Readings received since the agent started (= accepted + rejected).", s->received);
	metrics__one(f, "fieldgate_readings_accepted_total", "counter",
		     "Readings that passed validation and were scored and queued since the agent started.",
		     s->accepted);
	metrics__one(f, "fieldgate_readings_rejected_total", "counter",
		     "Readings rejected (kept in the quarantine) since the agent started.", s->rejected);
	metrics__family(f, "fieldgate_readings_rejected_by_reason_total", "counter",
			"Readings rejected at decoding since the agent started, by reason.");
	for (int i = 1; i < READING_NREASONS; i++)
		fprintf(f, "fieldgate_readings_rejected_by_reason_total{reason=\"%s\"} %llu\n",
			reading_reason_name(-i), (unsigned long long)s->rejected_by_reason[i]);
	metrics__one(f, "fieldgate_events_scored_total", "counter",
		     "Readings scored by the models since the agent started (each accepted reading once).",
		     s->accepted);
	metrics__one(f, "fieldgate_events_stored_total", "counter",
		     "Events committed to the buffer since the agent started "
		     "(= accepted - duplicates once the queue is committed).", s->pipe.events);
	metrics__one(f, "fieldgate_events_duplicate_total", "counter",
		     "Accepted readings not stored again because the same sensor_id and timestamp "
		     "was already buffered (MQTT redelivery), since the agent started.", s->pipe.duplicates);
	metrics__one(f, "fieldgate_readings_quarantined_total", "counter",
		     "Rejected readings committed to the buffer's quarantine since the agent started.",
		     s->pipe.quarantined);
	metrics__labelled(f, "fieldgate_predictions_total", "counter",
			  "Scored readings predicted as warning, fault or anomalous since the agent started.",
			  "prediction", 3, (const char *const[]){ "warning", "fault", "anomaly" },
			  (const uint64_t[]){ s->warnings, s->faults, s->anomalies });
	metrics__one(f, "fieldgate_sensors_tracked", "gauge",
		     "Sensors whose rolling feature state is held now (at most [models] max_sensors).",
		     s->sensors_tracked);
	metrics__one(f, "fieldgate_sensors_max", "gauge", "[models] max_sensors.", s->sensors_max);
	metrics__labelled(f, "fieldgate_sensors_evicted_total", "counter",
			  "Sensors whose rolling feature state was dropped since the agent started: the "
			  "least recently seen beyond [models] max_sensors (lru), or unseen for [models] "
			  "sensor_idle_timeout (idle). Their next reading is scored as a new sensor's.",
			  "reason", 2, (const char *const[]){ "lru", "idle" },
			  (const uint64_t[]){ s->sensors_evicted_lru, s->sensors_evicted_idle });
}

static void metrics__render_models(FILE *f, const struct metrics_snapshot *s)
{
	metrics__family(f, "fieldgate_model_info", "gauge",
			"The model loaded in each slot, as name@version (changes on SIGHUP).");
	for (int m = 0; m < SCORER_NMODELS; m++) {
		fprintf(f, "fieldgate_model_info{model=\"%s\",name=\"", slot_names[m]);
		metrics__put_escaped(f, s->model[m], 0);
		fputs("\"} 1\n", f);
	}
	metrics__labelled(f, "fieldgate_model_reloads_total", "counter",
			  "Model sets loaded again (SIGHUP, [models] watch) since the agent started, and "
			  "sets refused (broken, half-copied, incompatible: the current set kept serving).",
			  "result", 2, (const char *const[]){ "loaded", "refused" },
			  (const uint64_t[]){ s->reloads, s->reloads_refused });
	metrics__family(f, "fieldgate_model_inference_seconds", "histogram",
			"Time one model takes to score one reading, sampled on 1 reading in 64.");
	for (int m = 0; m < SCORER_NMODELS; m++) {
		const struct metrics_infer *h = &s->infer[m];
		uint64_t cum = 0;
		for (int b = 0; b < INGEST_INFER_BUCKETS; b++) {
			cum += h->bucket[b];
			if (b < INGEST_INFER_BUCKETS - 1)
				fprintf(f, "fieldgate_model_inference_seconds_bucket{model=\"%s\",le=\"%g\"} %llu\n",
					slot_names[m], (double)ingest_infer_bounds_ns[b] / 1e9,
					(unsigned long long)cum);
			else
				fprintf(f, "fieldgate_model_inference_seconds_bucket{model=\"%s\",le=\"+Inf\"} %llu\n",
					slot_names[m], (unsigned long long)cum);
		}
		fprintf(f, "fieldgate_model_inference_seconds_sum{model=\"%s\"} %.9f\n", slot_names[m],
			(double)h->sum_ns / 1e9);
		fprintf(f, "fieldgate_model_inference_seconds_count{model=\"%s\"} %llu\n", slot_names[m],
			(unsigned long long)h->count);
	}
}

/* Drift: what each model does on the last 10-20 minutes of readings, beside
 * its training figure. Accuracy needs ground truth in the readings. */
static void metrics__render_drift(FILE *f, const struct metrics_snapshot *s)
{
	static const char *const what[SCORER_NMODELS] = { "accuracy", "accuracy", "rmse" };

	metrics__family(f, "fieldgate_model_drift", "gauge",
			"How each model does on the last 10-20 minutes of readings: accuracy for status and "
			"anomaly (readings with ground truth only), humidity residual RMSE in % RH.");
	for (int m = 0; m < SCORER_NMODELS; m++)
		if (!isnan(s->drift_now[m]))
			fprintf(f, "fieldgate_model_drift{model=\"%s\",measure=\"%s\"} %.6g\n",
				slot_names[m], what[m], s->drift_now[m]);
	metrics__family(f, "fieldgate_model_training_figure", "gauge",
			"The same measure on the model's training data (from its file), for comparison.");
	for (int m = 0; m < SCORER_NMODELS; m++)
		if (!isnan(s->drift_trained[m]))
			fprintf(f, "fieldgate_model_training_figure{model=\"%s\",measure=\"%s\"} %.6g\n",
				slot_names[m], what[m], s->drift_trained[m]);
}

/* Input drift: PSI per watched feature over the window, and the verdicts. */
static void metrics__render_input_drift(FILE *f, const struct metrics_snapshot *s)
{
	if (!s->ninput)
		return;
	metrics__family(f, "fieldgate_input_drift_psi", "gauge",
			"Population stability index of each watched feature over [models] "
			"input_drift_window against its training histogram (0.25 and above: drifting).");
	for (size_t i = 0; i < s->ninput; i++)
		if (!isnan(s->input_psi[i]))
			fprintf(f, "fieldgate_input_drift_psi{feature=\"%s\"} %.6g\n", s->input_name[i],
				s->input_psi[i]);
	metrics__family(f, "fieldgate_input_drift_drifting", "gauge",
			"1 while a feature is drifting (from PSI 0.25 until it falls below 0.10).");
	for (size_t i = 0; i < s->ninput; i++)
		fprintf(f, "fieldgate_input_drift_drifting{feature=\"%s\"} %d\n", s->input_name[i],
			s->input_drifting[i]);
	metrics__one(f, "fieldgate_input_drift_window_readings", "gauge",
		     "Readings in the input-drift window.", s->input_readings);
	metrics__one(f, "fieldgate_input_drift_window_full", "gauge",
		     "1 once the window covers its whole length (verdicts are given only then).",
		     (uint64_t)s->input_full);
}

/* The shadow set beside the live one: what it is, how often it agrees, how
 * it does (the live set's figures are fieldgate_model_drift). */
static void metrics__render_shadow(FILE *f, const struct metrics_snapshot *s)
{
	static const char *const what[SCORER_NMODELS] = { "accuracy", "accuracy", "rmse" };

	if (!s->have_shadow)
		return;
	metrics__family(f, "fieldgate_shadow_model_info", "gauge",
			"The shadow set's model in each slot ([models] shadow_dir), as name@version.");
	for (int m = 0; m < SCORER_NMODELS; m++) {
		fprintf(f, "fieldgate_shadow_model_info{model=\"%s\",name=\"", slot_names[m]);
		metrics__put_escaped(f, s->shadow_model[m], 0);
		fputs("\"} 1\n", f);
	}
	metrics__one(f, "fieldgate_shadow_readings", "gauge",
		     "Readings the shadow set scored in the last 10-20 minutes (since it changed, if later).",
		     s->shadow_readings);
	metrics__family(f, "fieldgate_shadow_agreement_ratio", "gauge",
			"Share of those readings where the shadow set predicted what the live set did.");
	for (int m = 0; m < SCORER_HUMIDITY; m++)
		if (!isnan(s->shadow_agree[m]))
			fprintf(f, "fieldgate_shadow_agreement_ratio{model=\"%s\"} %.6g\n", slot_names[m],
				s->shadow_agree[m]);
	if (!isnan(s->shadow_humidity_rms_diff)) {
		metrics__family(f, "fieldgate_shadow_humidity_difference", "gauge",
				"RMS of live minus shadow humidity predictions over those readings, % RH.");
		fprintf(f, "fieldgate_shadow_humidity_difference %.6g\n", s->shadow_humidity_rms_diff);
	}
	metrics__family(f, "fieldgate_shadow_drift", "gauge",
			"How the shadow set does on those readings, as fieldgate_model_drift for the live set.");
	for (int m = 0; m < SCORER_NMODELS; m++)
		if (!isnan(s->shadow_now[m]))
			fprintf(f, "fieldgate_shadow_drift{model=\"%s\",measure=\"%s\"} %.6g\n",
				slot_names[m], what[m], s->shadow_now[m]);
	metrics__family(f, "fieldgate_shadow_training_figure", "gauge",
			"The same measure on the shadow model's training data (from its file).");
	for (int m = 0; m < SCORER_NMODELS; m++)
		if (!isnan(s->shadow_trained[m]))
			fprintf(f, "fieldgate_shadow_training_figure{model=\"%s\",measure=\"%s\"} %.6g\n",
				slot_names[m], what[m], s->shadow_trained[m]);
}

static void metrics__render_buffer(FILE *f, const struct metrics_snapshot *s)
{
	const struct store_stats *st = &s->store;

	metrics__one(f, "fieldgate_writer_commits_total", "counter",
		     "Group commits to the buffer since the agent started.", s->pipe.commits);
	metrics__one(f, "fieldgate_writer_commit_errors_total", "counter",
		     "Failed commits (disk full, I/O error; retried) since the agent started.",
		     s->pipe.commit_errors);
	metrics__one(f, "fieldgate_buffer_writable", "gauge",
		     "1 while the buffer accepts commits, 0 while it cannot (ingestion pauses).",
		     s->pipe.healthy ? 1 : 0);
	if (!s->have_store)
		return;
	metrics__one(f, "fieldgate_buffer_events", "gauge", "Events in the buffer now.", st->events);
	metrics__one(f, "fieldgate_buffer_bytes", "gauge", "Bytes the buffer uses now (pages in use).",
		     (uint64_t)(st->bytes > 0 ? st->bytes : 0));
	if (s->max_bytes > 0)
		metrics__one(f, "fieldgate_buffer_max_bytes", "gauge", "The buffer's size cap ([buffer] max_mb).",
			     (uint64_t)s->max_bytes);
	metrics__one(f, "fieldgate_buffer_last_seq", "gauge",
		     "Seq of the newest event: events accepted into the buffer since it was created.",
		     st->accepted);
	if (st->oldest_ms > 0) {
		metrics__family(f, "fieldgate_buffer_oldest_event_timestamp_seconds", "gauge",
				"Arrival time of the oldest event in the buffer (Unix time).");
		fprintf(f, "fieldgate_buffer_oldest_event_timestamp_seconds %.3f\n",
			(double)st->oldest_ms / 1000.0);
	}
	metrics__one(f, "fieldgate_buffer_quarantine_records", "gauge",
		     "Rejected readings kept in the buffer's quarantine now.", st->quarantine_rows);
	metrics__one(f, "fieldgate_buffer_dead_letters", "gauge",
		     "Events a sink rejected for their content, kept in the buffer now (all sinks).",
		     st->dead_letters);
	metrics__labelled(f, "fieldgate_buffer_dropped_events_total", "counter",
			  "Events deleted from the buffer since it was created: expired (delivered, older "
			  "than retention), delivered or undelivered (oldest first, to stay under max_mb).",
			  "reason", 3, (const char *const[]){ "expired", "delivered", "undelivered" },
			  (const uint64_t[]){ st->drops.expired, st->drops.delivered, st->drops.undelivered });
	metrics__one(f, "fieldgate_buffer_dropped_quarantine_total", "counter",
		     "Quarantine records deleted (retention or size) since the buffer was created.",
		     st->drops.quarantine);
}

static void metrics__render_sinks(FILE *f, const struct metrics_snapshot *s)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "fieldgate_sink_up", "gauge",
		  "1 while the sink acknowledges events, 0 while it is down or not yet connected." },
		{ "fieldgate_sink_delivered_events_total", "counter",
		  "Events the sink acknowledged since the agent started." },
		{ "fieldgate_sink_retries_total", "counter",
		  "Sends that failed and will be retried (an event may count several times) since "
		  "the agent started." },
		{ "fieldgate_sink_dead_lettered_events_total", "counter",
		  "Events the sink rejected for their content (moved to the dead-letter table) since "
		  "the agent started." },
		{ "fieldgate_sink_missing_events_total", "counter",
		  "Events dropped from the buffer (max_mb) before this sink delivered them, since the "
		  "agent started." },
		{ "fieldgate_sink_inflight_events", "gauge",
		  "Events handed to the sink without an outcome yet." },
		{ "fieldgate_sink_position", "gauge",
		  "Seq up to which every event is delivered, dead-lettered or dropped for this sink." },
		{ "fieldgate_sink_backlog_events", "gauge",
		  "Buffered events above the sink's position (pending, in flight included)." },
	};

	if (s->nsinks == 0)
		return;
	for (size_t k = 0; k < sizeof fams / sizeof fams[0]; k++) {
		if (k == 7 && !s->have_store)
			break;
		metrics__family(f, fams[k].name, fams[k].type, fams[k].help);
		for (size_t i = 0; i < s->nsinks; i++) {
			const struct metrics_sink *m = &s->sinks[i];
			uint64_t v[] = { m->fw.up == 1, m->fw.delivered, m->fw.retried, m->fw.rejected,
					 m->fw.missing, m->fw.inflight, m->fw.position, m->backlog };
			metrics__sink_sample(f, fams[k].name, m->name, v[k]);
		}
	}
	metrics__family(f, "fieldgate_sink_oldest_pending_timestamp_seconds", "gauge",
			"Arrival time of the oldest event the sink has not acknowledged (Unix time; absent "
			"when nothing is pending).");
	for (size_t i = 0; i < s->nsinks && s->have_store; i++) {
		const struct metrics_sink *m = &s->sinks[i];
		if (m->oldest_pending_ms <= 0)
			continue;
		fputs("fieldgate_sink_oldest_pending_timestamp_seconds{sink=\"", f);
		metrics__put_escaped(f, m->name, 0);
		fprintf(f, "\"} %.3f\n", (double)m->oldest_pending_ms / 1000.0);
	}
	/* Three gauges, not a summary: the figures cover a sliding window, so
	 * there is no lifetime _sum/_count to go with them. */
	for (int j = 0; j < 3; j++) {
		static const char *const names[] = {
			"fieldgate_sink_delivery_latency_p50_seconds",
			"fieldgate_sink_delivery_latency_p99_seconds",
			"fieldgate_sink_delivery_latency_max_seconds",
		};
		static const char *const helps[] = {
			("Median time from a reading's arrival to the sink's acknowledgement, over "
			 "the last 10 to 20 s (ms resolution; absent when nothing was delivered)."),
			"99th percentile of the same.",
			"Maximum of the same (10 means 10 s or more).",
		};
		metrics__family(f, names[j], "gauge", helps[j]);
		for (size_t i = 0; i < s->nsinks; i++) {
			const struct metrics_sink *m = &s->sinks[i];
			int v[] = { m->latency.p50_ms, m->latency.p99_ms, m->latency.max_ms };
			if (m->latency.count == 0)
				continue;
			fprintf(f, "%s{sink=\"", names[j]);
			metrics__put_escaped(f, m->name, 0);
			fprintf(f, "\"} %.3f\n", v[j] / 1000.0);
		}
	}
}

/* Close an open_memstream() stream; on any write error free its buffer.
 * Returns 0, or -1 (out of memory). */
static int metrics__close_memstream(FILE *f, char **out)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int metrics_render(const struct metrics_snapshot *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);

	if (!f)
		return -1;
	metrics__family(f, "fieldgate_build_info", "gauge", "The agent's version.");
	fputs("fieldgate_build_info{version=\"", f);
	metrics__put_escaped(f, s->version, 0);
	fputs("\"} 1\n", f);
	metrics__family(f, "fieldgate_gateway_info", "gauge", "This gateway, its site and its source.");
	fputs("fieldgate_gateway_info{gateway_id=\"", f);
	metrics__put_escaped(f, s->gateway_id, 0);
	fputs("\",site=\"", f);
	metrics__put_escaped(f, s->site, 0);
	fprintf(f, "\",source=\"%s\"} 1\n", s->mqtt ? "mqtt" : "simulator");
	metrics__family(f, "fieldgate_start_time_seconds", "gauge", "When the agent started (Unix time).");
	fprintf(f, "fieldgate_start_time_seconds %.3f\n", (double)s->started_ms / 1000.0);
	metrics__render_ingest(f, s);
	metrics__render_models(f, s);
	metrics__render_drift(f, s);
	metrics__render_input_drift(f, s);
	metrics__render_shadow(f, s);
	metrics__render_buffer(f, s);
	metrics__render_sinks(f, s);
	if (s->mqtt)
		metrics__one(f, "fieldgate_mqtt_connected", "gauge",
			     "1 while the MQTT input is connected to its broker.",
			     strcmp(s->source_state, "connected") == 0);
	if (s->have_alerts) {
		metrics__labelled(f, "fieldgate_alerts_total", "counter",
				  "Alerts published, held back by the per-sensor limit, or failed, since the "
				  "agent started.",
				  "outcome", 3, (const char *const[]){ "sent", "limited", "failed" },
				  (const uint64_t[]){ s->alerts.sent, s->alerts.limited, s->alerts.failed });
	}
	return metrics__close_memstream(f, out);
}

static const char *metrics__sink_state(const struct forward_stats *fs)
{
	return fs->up == 1 ? "delivering" : fs->up == 0 ? "down" : "connecting";
}

int metrics_health(const struct metrics_snapshot *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	const char *status = "ok";
	int code = 200;

	if (!f)
		return -1;
	/* Sinks down and a lost broker are what the buffer is for: still 200,
	 * but "degraded" so that a person looking sees it. */
	if (s->mqtt && strcmp(s->source_state, "disconnected") == 0)
		status = "degraded";
	for (size_t i = 0; i < s->nsinks; i++)
		if (s->sinks[i].fw.up == 0)
			status = "degraded";
	if (!s->pipe.healthy) {
		status = "failing";
		code = 503;
	}
	/* A buffer replaced at start: running fine, but someone must look at
	 * the old file (it may hold events the sinks never got). */
	if (s->recovered_from && strcmp(status, "ok") == 0)
		status = "degraded";
	fprintf(f, "{\"status\":\"%s\",\"buffer_writable\":%s", status,
		s->pipe.healthy ? "true" : "false");
	if (s->recovered_from) {
		fputs(",\"buffer_recovered_from\":\"", f);
		metrics__put_escaped(f, s->recovered_from, 1);
		fprintf(f, "\",\"buffer_salvaged\":%llu,\"buffer_lost\":%llu,"
			"\"buffer_lost_ranges\":\"", (unsigned long long)s->salvaged,
			(unsigned long long)s->lost);
		metrics__put_escaped(f, s->lost_ranges ? s->lost_ranges : "", 1);
		fputc('"', f);
	}
	if (s->have_store)
		fprintf(f, ",\"buffer\":{\"events\":%llu,\"bytes\":%lld,\"last_seq\":%llu}",
			(unsigned long long)s->store.events, (long long)s->store.bytes,
			(unsigned long long)s->store.accepted);
	if (s->mqtt) {
		fprintf(f, ",\"source\":{\"type\":\"mqtt\",\"state\":\"%s\",\"last_error\":\"",
			s->source_state);
		metrics__put_escaped(f, s->source_last_error, 1);
		fputs("\"}", f);
	} else {
		fputs(",\"source\":{\"type\":\"simulator\",\"state\":\"running\"}", f);
	}
	fputs(",\"sinks\":{", f);
	for (size_t i = 0; i < s->nsinks; i++) {
		const struct metrics_sink *m = &s->sinks[i];
		fprintf(f, "%s\"", i ? "," : "");
		metrics__put_escaped(f, m->name, 1);
		fprintf(f, "\":{\"state\":\"%s\",\"delivered\":%llu,\"inflight\":%llu", metrics__sink_state(&m->fw),
			(unsigned long long)m->fw.delivered, (unsigned long long)m->fw.inflight);
		if (s->have_store)
			fprintf(f, ",\"backlog\":%llu", (unsigned long long)m->backlog);
		fputs(",\"last_error\":", f);
		if (m->fw.last_error[0]) {
			fputc('"', f);
			metrics__put_escaped(f, m->fw.last_error, 1);
			fputc('"', f);
		} else {
			fputs("null", f);
		}
		fputc('}', f);
	}
	fputs("}}\n", f);
	return metrics__close_memstream(f, out) < 0 ? -1 : code;
}
