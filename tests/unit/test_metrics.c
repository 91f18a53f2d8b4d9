/*
 * test_metrics.c - unit tests of agent/metrics.c: the Prometheus text and
 * /healthz JSON rendered from a hand-made snapshot. Exact lines for the
 * counters, cumulative histogram buckets ending in +Inf = _count, label
 * escaping, families left out when their figures are unknown, and the
 * health status and HTTP code for a writable, a degraded and an
 * unwritable buffer. (The integration test test_http.sh parses the real
 * agent's output with promtool and a real Prometheus.)
 */
#include <stdlib.h>
#include <string.h>

#include "agent/metrics.h"
#include "check.h"

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void base(struct metrics_snapshot *s)
{
	memset(s, 0, sizeof *s);
	s->version = "1.2.3";
	s->gateway_id = "gw \"one\"\\a";
	s->site = "plant\nb";
	s->started_ms = 1700000000123;
	s->received = 10;
	s->accepted = 7;
	s->rejected = 3;
	s->rejected_by_reason[-READING_EJSON] = 2;
	s->pipe.healthy = 1;
	s->pipe.events = 6;
	s->pipe.duplicates = 1;
	strcpy(s->model[SCORER_STATUS], "status_predictor@4");
	s->infer[SCORER_STATUS].bucket[0] = 2;
	s->infer[SCORER_STATUS].bucket[3] = 1;
	s->infer[SCORER_STATUS].bucket[INGEST_INFER_BUCKETS - 1] = 1;
	s->infer[SCORER_STATUS].count = 4;
	s->infer[SCORER_STATUS].sum_ns = 1500000;
	s->sensors_tracked = 5;
	s->sensors_max = 5;
	s->sensors_evicted_lru = 2;
	s->sensors_evicted_idle = 1;
}

static void test_render(void)
{
	struct metrics_snapshot s;
	char *t = NULL;
	size_t len = 0;

	base(&s);
	CHECK_INT(metrics_render(&s, &t, &len), 0);
	CHECK(t && strlen(t) == len);
	CHECK(has_line(t, "# TYPE fieldgate_readings_received_total counter"));
	CHECK(has_line(t, "fieldgate_readings_received_total 10"));
	CHECK(has_line(t, "fieldgate_readings_accepted_total 7"));
	CHECK(has_line(t, "fieldgate_readings_rejected_total 3"));
	CHECK(has_line(t, "fieldgate_readings_rejected_by_reason_total{reason=\"not_json\"} 2"));
	CHECK(has_line(t, "fieldgate_events_stored_total 6"));
	CHECK(has_line(t, "fieldgate_events_duplicate_total 1"));
	CHECK(has_line(t, "# TYPE fieldgate_sensors_tracked gauge"));
	CHECK(has_line(t, "fieldgate_sensors_tracked 5"));
	CHECK(has_line(t, "fieldgate_sensors_max 5"));
	CHECK(has_line(t, "# TYPE fieldgate_sensors_evicted_total counter"));
	CHECK(has_line(t, "fieldgate_sensors_evicted_total{reason=\"lru\"} 2"));
	CHECK(has_line(t, "fieldgate_sensors_evicted_total{reason=\"idle\"} 1"));
	CHECK(has_line(t, "fieldgate_build_info{version=\"1.2.3\"} 1"));
	/* \ " and newline escaped in label values. */
	CHECK(has_line(t, "fieldgate_gateway_info{gateway_id=\"gw \\\"one\\\"\\\\a\","
			  "site=\"plant\\nb\",source=\"simulator\"} 1"));
	CHECK(has_line(t, "fieldgate_start_time_seconds 1700000000.123"));
	CHECK(has_line(t, "fieldgate_model_info{model=\"status\",name=\"status_predictor@4\"} 1"));
	/* Cumulative buckets; +Inf equals _count. */
	CHECK(has_line(t, "fieldgate_model_inference_seconds_bucket{model=\"status\",le=\"1e-06\"} 2"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_bucket{model=\"status\",le=\"2.5e-06\"} 2"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_bucket{model=\"status\",le=\"1e-05\"} 3"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_bucket{model=\"status\",le=\"0.001\"} 3"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_bucket{model=\"status\",le=\"+Inf\"} 4"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_count{model=\"status\"} 4"));
	CHECK(has_line(t, "fieldgate_model_inference_seconds_sum{model=\"status\"} 0.001500000"));
	CHECK(has_line(t, "fieldgate_buffer_writable 1"));
	/* Unknown figures are left out, not shown as 0. */
	CHECK(!strstr(t, "fieldgate_buffer_events"));
	CHECK(!strstr(t, "fieldgate_sink_"));
	CHECK(!strstr(t, "fieldgate_mqtt_connected"));
	CHECK(!strstr(t, "fieldgate_alerts_total"));
	CHECK(t[len - 1] == '\n');
	free(t);

	/* With the buffer, an MQTT source, alerts and a sink. */
	s.have_store = 1;
	s.store.events = 5;
	s.store.accepted = 6;
	s.store.bytes = 4096;
	s.store.drops.undelivered = 1;
	s.mqtt = 1;
	strcpy(s.source_state, "connected");
	s.have_alerts = 1;
	s.alerts.sent = 2;
	s.nsinks = 1;
	strcpy(s.sinks[0].name, "kafka");
	s.sinks[0].fw.up = 1;
	s.sinks[0].fw.delivered = 4;
	s.sinks[0].fw.position = 5;
	s.sinks[0].backlog = 1;
	s.sinks[0].oldest_pending_ms = 1700000001000;
	s.sinks[0].latency.count = 3;
	s.sinks[0].latency.p50_ms = 12;
	s.sinks[0].latency.p99_ms = 40;
	s.sinks[0].latency.max_ms = 41;
	CHECK_INT(metrics_render(&s, &t, &len), 0);
	CHECK(has_line(t, "fieldgate_buffer_events 5"));
	CHECK(has_line(t, "fieldgate_buffer_last_seq 6"));
	CHECK(has_line(t, "fieldgate_buffer_bytes 4096"));
	CHECK(has_line(t, "fieldgate_buffer_dropped_events_total{reason=\"undelivered\"} 1"));
	CHECK(has_line(t, "fieldgate_sink_up{sink=\"kafka\"} 1"));
	CHECK(has_line(t, "fieldgate_sink_delivered_events_total{sink=\"kafka\"} 4"));
	CHECK(has_line(t, "fieldgate_sink_backlog_events{sink=\"kafka\"} 1"));
	CHECK(has_line(t, "fieldgate_sink_position{sink=\"kafka\"} 5"));
	CHECK(has_line(t, "fieldgate_sink_oldest_pending_timestamp_seconds{sink=\"kafka\"} 1700000001.000"));
	CHECK(has_line(t, "fieldgate_sink_delivery_latency_p99_seconds{sink=\"kafka\"} 0.040"));
	CHECK(has_line(t, "fieldgate_mqtt_connected 1"));
	CHECK(has_line(t, "fieldgate_alerts_total{outcome=\"sent\"} 2"));
	free(t);
}

static void test_health(void)
{
	struct metrics_snapshot s;
	char *t = NULL;
	size_t len = 0;

	base(&s);
	CHECK_INT(metrics_health(&s, &t, &len), 200);
	CHECK_STR(t, "{\"status\":\"ok\",\"buffer_writable\":true,"
		     "\"source\":{\"type\":\"simulator\",\"state\":\"running\"},\"sinks\":{}}\n");
	free(t);

	/* A sink down and the broker lost: still 200, "degraded". */
	s.mqtt = 1;
	strcpy(s.source_state, "disconnected");
	strcpy(s.source_last_error, "connection refused \"x\"");
	s.nsinks = 1;
	strcpy(s.sinks[0].name, "elasticsearch");
	s.sinks[0].fw.up = 0;
	strcpy(s.sinks[0].fw.last_error, "HTTP 503\tfrom es");
	s.have_store = 1;
	s.store.events = 9;
	s.sinks[0].backlog = 9;
	CHECK_INT(metrics_health(&s, &t, &len), 200);
	CHECK_STR(t, "{\"status\":\"degraded\",\"buffer_writable\":true,"
		     "\"buffer\":{\"events\":9,\"bytes\":0,\"last_seq\":0},"
		     "\"source\":{\"type\":\"mqtt\",\"state\":\"disconnected\","
		     "\"last_error\":\"connection refused \\\"x\\\"\"},"
		     "\"sinks\":{\"elasticsearch\":{\"state\":\"down\",\"delivered\":0,\"inflight\":0,"
		     "\"backlog\":9,\"last_error\":\"HTTP 503\\u0009from es\"}}}\n");
	free(t);

	/* The buffer cannot be written: 503. */
	s.pipe.healthy = 0;
	CHECK_INT(metrics_health(&s, &t, &len), 503);
	{
		static const char want[] = "{\"status\":\"failing\",\"buffer_writable\":false,";
		CHECK(strncmp(t, want, sizeof want - 1) == 0);
	}
	free(t);
}

int main(void)
{
	test_render();
	test_health();
	return check_done("test_metrics");
}
