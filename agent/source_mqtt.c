/*
 * source_mqtt.c - the MQTT input (see source_mqtt.h).
 */
#include "agent/source_mqtt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/secret.h"
#include "sensors/mqtt.h"

#define STOP_GRACE_MS 10000 /* a held acknowledgement may wait this long once stopping */
#define DISCONNECT_MS 2000  /* time given to a clean MQTT disconnect */

struct mqtt_source {
	struct mqtt_client *client;     /* the Paho client */
	struct ingest ingest;           /* features, scorer, pipeline (Paho thread only) */
	int topic_level;                /* sensor_id_topic_level, -1 = off */
	int keepalive_s;                /* for the stalled-commit warning */
	_Atomic int stopping;           /* mqtt_source_stop() called */
	_Atomic int64_t stop_ms;        /* when, monotonic */
	pthread_mutex_t mu;             /* guards the state fields below */
	enum mqtt_state state;          /* last reported state */
	int64_t since_ms;               /* wall time of the last change */
	char last_error[512];           /* last failure detail, "" if none */
	char uri[CONFIG_STR_MAX];       /* for messages */
	char topics[CONFIG_STR_MAX];    /* for messages */
	int qos;                        /* subscription QoS */
};

/* Topic level `level` (0-based) of topic into out. 0, or -1 if absent. */
static int mqtt_source__topic_level(const char *topic, int level, char *out, size_t cap)
{
	const char *p = topic, *e;
	for (int i = 0; i < level; i++) {
		p = strchr(p, '/');
		if (!p)
			return -1;
		p++;
	}
	e = strchr(p, '/');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* Hold the ack until the ticket is committed (see the file comment). */
static void mqtt_source__wait_commit(struct mqtt_source *s, uint64_t ticket)
{
	int64_t start = clock_mono_ms();
	int warned = 0;

	while (pipeline_wait(s->ingest.pipe, ticket, 1000) != 0) {
		int64_t now = clock_mono_ms();
		if (!warned && now - start > (int64_t)s->keepalive_s * 500) {
			log_error("mqtt", "a reading has waited %lld s for its commit to the buffer; "
				  "holding its acknowledgement (the broker will redeliver it if it "
				  "drops us) - see the store errors above",
				  (long long)((now - start) / 1000));
			warned = 1;
		}
		if (atomic_load(&s->stopping) && now - atomic_load(&s->stop_ms) > STOP_GRACE_MS) {
			log_error("mqtt", "stopping without acknowledging a reading that could not be "
				  "committed; the broker keeps it and will redeliver it");
			_exit(EXIT_FAILURE); /* 1: a runtime failure (SPEC §1) */
		}
	}
	if (warned)
		log_info("mqtt", "the held reading is committed after %lld s; acknowledging",
			 (long long)((clock_mono_ms() - start) / 1000));
}

static void mqtt_source__on_message(void *ctx, const char *topic, const void *payload, size_t len,
				    int qos)
{
	struct mqtt_source *s = ctx;
	char id[READING_ID_MAX + 1];
	const char *def = NULL;
	uint64_t ticket = 0;

	if (s->topic_level >= 0 &&
	    mqtt_source__topic_level(topic, s->topic_level, id, sizeof id) == 0)
		def = id;
	if (ingest_raw(&s->ingest, payload, len, topic, def, clock_wall_ms(),
		       qos >= 1 ? &ticket : NULL) < 0) {
		/* Only when the pipeline refused the item: never ack what is not kept. */
		log_error("mqtt", "cannot queue a reading from %s; exiting without acknowledging it "
			  "so that the broker redelivers it", topic);
		_exit(EXIT_FAILURE); /* 1: a runtime failure (SPEC §1) */
	}
	if (qos >= 1)
		mqtt_source__wait_commit(s, ticket);
}

static void mqtt_source__on_state(void *ctx, enum mqtt_state st, const char *detail)
{
	struct mqtt_source *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->state = st;
	s->since_ms = clock_wall_ms();
	if (st == MQTT_DISCONNECTED)
		snprintf(s->last_error, sizeof s->last_error, "%s", detail);
	pthread_mutex_unlock(&s->mu);
	if (st == MQTT_CONNECTED)
		log_info("mqtt", "connected to %s, subscribed to %s (QoS %d)", s->uri, s->topics, s->qos);
	else if (st == MQTT_DISCONNECTED)
		log_warn("mqtt", "%s; reconnecting with backoff (readings wait in the broker)", detail);
}

int mqtt_source_client(struct mqtt_client **out, const struct config *cfg, int subscribe,
		       mqtt_message_fn msg_fn, mqtt_state_fn state_fn, void *ctx,
		       char *err, size_t errlen)
{
	char password[512] = "";
	struct mqtt_options mo = {
		.uri = cfg->mqtt_uri, .client_id = cfg->mqtt_client_id,
		.topics = subscribe ? cfg->mqtt_topic : NULL, .qos = cfg->mqtt_qos,
		.clean_session = subscribe ? cfg->mqtt_clean_session : 1,
		.keepalive_s = cfg->mqtt_keepalive, .username = cfg->mqtt_username,
		.ca_file = cfg->mqtt_ca_file, .cert_file = cfg->mqtt_cert_file,
		.key_file = cfg->mqtt_key_file, .seed = cfg->sim_seed,
	};
	int rc;

	if (cfg->mqtt_password_file[0]) {
		if (secret_read_file(cfg->mqtt_password_file, password, sizeof password, err, errlen) < 0)
			return -1;
		mo.password = password;
	}
	rc = mqtt_client_start(out, &mo, msg_fn, state_fn, ctx, err, errlen);
	memset(password, 0, sizeof password);
	return rc;
}

int mqtt_source_start(struct mqtt_source **out, const struct config *cfg,
		      struct pipeline *pipe, struct scorer *scorer, struct scorer *shadow,
		      struct ingest_counters *ctr, struct alerts *alerts,
		      char *err, size_t errlen)
{
	struct mqtt_source *s = calloc(1, sizeof *s);

	if (!s || ingest_init(&s->ingest, scorer, pipe, ctr) < 0) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return -1;
	}
	if (ingest_limit_sensors(&s->ingest, cfg->models_max_sensors,
				 cfg->models_sensor_idle_timeout_ms) < 0) {
		snprintf(err, errlen, "[models] max_sensors %u: outside 1..%zu", cfg->models_max_sensors,
			 SENSOR_MAP_MAX);
		s->ingest.scorer = NULL; /* the caller's again: this start failed */
		ingest_cleanup(&s->ingest);
		free(s);
		return -1;
	}
	s->ingest.alerts = alerts;
	s->ingest.shadow = shadow;
	s->ingest.shadow_in_events = cfg->models_shadow_in_events;
	s->topic_level = cfg->mqtt_sensor_id_topic_level;
	s->keepalive_s = cfg->mqtt_keepalive;
	s->qos = cfg->mqtt_qos;
	s->state = MQTT_CONNECTING;
	s->since_ms = clock_wall_ms();
	snprintf(s->uri, sizeof s->uri, "%s", cfg->mqtt_uri);
	snprintf(s->topics, sizeof s->topics, "%s", cfg->mqtt_topic);
	pthread_mutex_init(&s->mu, NULL);
	if (mqtt_source_client(&s->client, cfg, 1, mqtt_source__on_message, mqtt_source__on_state,
			       s, err, errlen) < 0) {
		pthread_mutex_destroy(&s->mu);
		s->ingest.scorer = s->ingest.shadow = NULL; /* the caller's again: this start failed */
		ingest_cleanup(&s->ingest);
		free(s);
		return -1;
	}
	if (alerts)
		alerts_set_client(alerts, s->client);
	*out = s;
	return 0;
}

struct ingest *mqtt_source_ingest(struct mqtt_source *s)
{
	return &s->ingest;
}

void mqtt_source_state(struct mqtt_source *s, struct state *st)
{
	static const char *const names[] = { "connecting", "connected", "disconnected" };
	pthread_mutex_lock(&s->mu);
	state_set(st, "source_type", "mqtt");
	state_set(st, "source_state", "%s", names[s->state]);
	state_set(st, "source_uri", "%s", s->uri);
	state_set(st, "source_since_ms", "%lld", (long long)s->since_ms);
	state_set(st, "source_last_error", "%s", s->last_error);
	pthread_mutex_unlock(&s->mu);
}

void mqtt_source_stop(struct mqtt_source **sp)
{
	struct mqtt_source *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	atomic_store(&s->stop_ms, clock_mono_ms());
	atomic_store(&s->stopping, 1);
	mqtt_client_stop(&s->client, DISCONNECT_MS);
	ingest_cleanup(&s->ingest);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}
