/*
 * alerts.c - rate-limited MQTT alerts (see alerts.h).
 */
#include "agent/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "agent/sensor_map.h"

struct alerts {
	struct alerts_options opt;      /* copy (strings not owned) */
	_Atomic(struct mqtt_client *) client; /* where to publish */
	struct sensor_map *last;        /* sensor_id -> int64_t time of its last alert; NULL
					   without a rate limit */
	struct log_ratelimit rl;        /* for "cannot publish" lines */
	_Atomic uint64_t sent, limited, failed; /* stats */
};

int alerts_create(struct alerts **out, const struct alerts_options *opt)
{
	struct alerts *a = calloc(1, sizeof *a);
	/* An entry idle for min_interval is evicted: the limit would let that
	 * sensor's next alert through anyway (sensor_map_get() touches an
	 * entry at every look, never later than its last alert). */
	if (!a || (opt->min_interval_ms > 0 &&
		   sensor_map_create(&a->last, sizeof(int64_t), opt->max_sensors,
				     opt->min_interval_ms) < 0)) {
		free(a);
		return -1;
	}
	a->opt = *opt;
	a->rl.interval_ms = 60000;
	*out = a;
	return 0;
}

void alerts_set_client(struct alerts *a, struct mqtt_client *c)
{
	atomic_store(&a->client, c);
}

void alerts_free(struct alerts **a)
{
	if (!a || !*a)
		return;
	sensor_map_free(&(*a)->last);
	free(*a);
	*a = NULL;
}

void alerts_consider(struct alerts *a, const struct reading *r,
		     const struct event_prediction *p, int64_t now_ms)
{
	struct mqtt_client *c = atomic_load(&a->client);
	const char *kind = p->status == 2 ? "fault" : p->anomaly ? "anomaly" : p->status == 1 ? "warning" : NULL;
	char topic[512], msg[1400], id[600], gw[600], site[600], ts[READING_TIME_LEN], err[256];
	int64_t *last;
	int created, n;

	if (!kind || !c)
		return;
	if (a->last) {
		last = sensor_map_get(a->last, r->sensor_id, now_ms, 1, &created);
		if (!last)
			return;
		if (!created && now_ms - *last < a->opt.min_interval_ms) {
			atomic_fetch_add_explicit(&a->limited, 1, memory_order_relaxed);
			return;
		}
		*last = now_ms;
	}
	reading_format_time(r->timestamp_ms, ts);
	if (mqtt_topic_expand(a->opt.topic, r->sensor_id, topic, sizeof topic) < 0 ||
	    event_json_string(r->sensor_id, id, sizeof id) < 0 ||
	    event_json_string(a->opt.gateway_id, gw, sizeof gw) < 0 ||
	    event_json_string(a->opt.site, site, sizeof site) < 0)
		goto failed;
	n = snprintf(msg, sizeof msg,
		     "{\"alert\":\"%s\",\"sensor_id\":%s,\"gateway_id\":%s,\"site\":%s,"
		     "\"@timestamp\":\"%s\",\"temperature\":%.15g,\"humidity\":%.15g,\"status\":%d,"
		     "\"status_probability\":%.6g,\"anomaly_probability\":%.6g}",
		     kind, id, gw, site, ts, r->temperature, r->humidity, p->status,
		     p->status_probability, p->anomaly_probability);
	if (n < 0 || (size_t)n >= sizeof msg)
		goto failed;
	if (mqtt_client_publish(c, topic, msg, (size_t)n, 1, 0, err, sizeof err) == 0) {
		atomic_fetch_add_explicit(&a->sent, 1, memory_order_relaxed);
		return;
	}
	{
		uint64_t supp = 0;
		if (log_ratelimit(&a->rl, now_ms, &supp))
			log_warn("alerts", "cannot publish an alert for %s (%llu more not published "
				 "since the last message): %s", r->sensor_id,
				 (unsigned long long)supp, err);
	}
failed:
	atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
}

void alerts_get_stats(struct alerts *a, struct alerts_stats *out)
{
	out->sent = atomic_load(&a->sent);
	out->limited = atomic_load(&a->limited);
	out->failed = atomic_load(&a->failed);
}
