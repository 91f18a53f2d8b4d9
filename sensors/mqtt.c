/*
 * mqtt.c - the MQTT client over Paho MQTTAsync (see mqtt.h).
 *
 * Threads: Paho runs its own send and receive threads and calls our
 * callbacks from them; a supervisor thread of ours makes every connection
 * attempt, so backoff and jitter are ours (Paho's automatic reconnect has no
 * jitter). One mutex guards the state; Paho is never called with it held
 * from a Paho callback, so the two libraries' locks never nest both ways.
 */
#include "sensors/mqtt.h"

#include <MQTTAsync.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define TOPICS_MAX 16
#define DEFAULT_INFLIGHT 1000

struct mqtt_client {
	MQTTAsync paho;                 /* the Paho client */
	struct mqtt_options opt;        /* copy; strings below are owned copies */
	char *uri, *client_id, *username, *password, *ca_file, *cert_file, *key_file;
	char *topic_buf;                /* topics split in place */
	char *topics[TOPICS_MAX];       /* subscription filters */
	int qos[TOPICS_MAX];            /* their QoS */
	int ntopics;                    /* how many */
	mqtt_message_fn on_msg;         /* message callback (may be NULL) */
	mqtt_state_fn on_state;         /* state callback (may be NULL) */
	void *ctx;                      /* for both */

	pthread_mutex_t mu;             /* guards everything below */
	pthread_cond_t cv;              /* state or inflight changed, or stopping */
	pthread_t supervisor;           /* makes connection attempts */
	enum mqtt_state state;          /* current state */
	int attempting;                 /* a connect is in progress */
	int stopping;                   /* mqtt_client_stop() called */
	int backoff_ms;                 /* next delay before an attempt */
	int64_t next_try_ms;            /* monotonic time of the next attempt */
	uint64_t rng;                   /* jitter PRNG state (splitmix64) */
	long inflight;                  /* publishes not yet completed */
	char tls_error[256];            /* OpenSSL's last complaint, for connect failures */
	_Atomic uint64_t received, published, delivered, failed, connects; /* stats */
};

static int64_t mqtt__mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mqtt__deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static uint64_t mqtt__splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Report a state change (outside the lock). */
static void mqtt__report(struct mqtt_client *c, enum mqtt_state st, const char *detail)
{
	if (c->on_state)
		c->on_state(c->ctx, st, detail);
}

/* With the lock held: a failed or lost connection; plan the next attempt. */
static void mqtt__schedule_retry(struct mqtt_client *c)
{
	int d = c->backoff_ms;
	c->attempting = 0;
	c->state = MQTT_DISCONNECTED;
	/* Equal jitter: somewhere in [d/2, d], so a fleet does not reconnect in step. */
	c->next_try_ms = mqtt__mono_ms() + d / 2 + (int64_t)(mqtt__splitmix64(&c->rng) % (uint64_t)(d / 2 + 1));
	c->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
	pthread_cond_broadcast(&c->cv);
}

static void mqtt__connected_now(struct mqtt_client *c)
{
	char detail[512];
	pthread_mutex_lock(&c->mu);
	c->attempting = 0;
	c->state = MQTT_CONNECTED;
	c->backoff_ms = BACKOFF_MIN_MS;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&c->connects, 1);
	snprintf(detail, sizeof detail, "%s", c->uri);
	mqtt__report(c, MQTT_CONNECTED, detail);
}

static void mqtt__failed_now(struct mqtt_client *c, const char *why)
{
	int was;
	pthread_mutex_lock(&c->mu);
	was = c->state;
	mqtt__schedule_retry(c);
	pthread_mutex_unlock(&c->mu);
	/* Report the first failure after a success (or the very first), not
	 * every attempt: the caller logs state changes only. */
	if (was != MQTT_DISCONNECTED)
		mqtt__report(c, MQTT_DISCONNECTED, why);
}

static void mqtt__on_subscribe_ok(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt_client *c = ctx;
	int refused = 0;

	if (c->ntopics == 1)
		refused = resp && resp->alt.qos == 0x80;
	else if (resp && resp->alt.qosList)
		for (int i = 0; i < c->ntopics; i++)
			refused |= resp->alt.qosList[i] == 0x80;
	if (refused) {
		mqtt__failed_now(c, "the broker refused the subscription (check the topic and its ACL)");
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
		MQTTAsync_disconnect(c->paho, &d);
		return;
	}
	mqtt__connected_now(c);
}

static void mqtt__on_subscribe_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_client *c = ctx;
	char why[300];
	snprintf(why, sizeof why, "subscribe failed: %s",
		 resp && resp->message ? resp->message : MQTTAsync_strerror(resp ? resp->code : -1));
	mqtt__failed_now(c, why);
}

static void mqtt__on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt_client *c = ctx;
	(void)resp;
	if (c->ntopics == 0) {
		mqtt__connected_now(c);
		return;
	}
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = mqtt__on_subscribe_ok;
	ro.onFailure = mqtt__on_subscribe_fail;
	ro.context = c;
	int rc = MQTTAsync_subscribeMany(c->paho, c->ntopics, c->topics, c->qos, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		char why[300];
		snprintf(why, sizeof why, "subscribe failed: %s", MQTTAsync_strerror(rc));
		mqtt__failed_now(c, why);
	}
}

/* Paho's CONNACK codes, in words an operator can act on. */
static const char *mqtt__connack_reason(int code)
{
	switch (code) {
	case 1: return "connection refused: unacceptable protocol version";
	case 2: return "connection refused: client id rejected";
	case 3: return "connection refused: broker unavailable";
	case 4: return "connection refused: bad user name or password";
	case 5: return "connection refused: not authorised";
	default: return NULL;
	}
}

/* OpenSSL's error queue, as Paho hands it over: keep the last line. */
static int mqtt__on_tls_error(const char *str, size_t len, void *ctx)
{
	struct mqtt_client *c = ctx;
	while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
		len--;
	pthread_mutex_lock(&c->mu);
	snprintf(c->tls_error, sizeof c->tls_error, "%.*s", (int)len, str);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static void mqtt__on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_client *c = ctx;
	char why[700], tls[256];
	const char *r = resp ? mqtt__connack_reason(resp->code) : NULL;

	pthread_mutex_lock(&c->mu);
	snprintf(tls, sizeof tls, "%s", c->tls_error);
	c->tls_error[0] = '\0';
	pthread_mutex_unlock(&c->mu);
	if (tls[0]) {
		/* "certificate verify failed" is the usual one: say what to check. */
		snprintf(why, sizeof why, "cannot connect to %s: TLS handshake failed: %s%s", c->uri, tls,
			 strstr(tls, "certificate verify failed")
			 ? " (the broker's certificate is not signed by [mqtt] ca_file, or its name does not match the URI)"
			 : "");
		mqtt__failed_now(c, why);
		return;
	}
	if (r)
		snprintf(why, sizeof why, "cannot connect to %s: %s", c->uri, r);
	else
		snprintf(why, sizeof why, "cannot connect to %s: %s", c->uri,
			 resp && resp->message ? resp->message
					       : (resp && resp->code ? MQTTAsync_strerror(resp->code)
								     : "TCP/TLS connection failed"));
	mqtt__failed_now(c, why);
}

static void mqtt__on_connection_lost(void *ctx, char *cause)
{
	struct mqtt_client *c = ctx;
	char why[400];
	snprintf(why, sizeof why, "connection to %s lost: %s", c->uri,
		 cause && *cause ? cause : "the broker closed it or the network failed");
	mqtt__failed_now(c, why);
}

static int mqtt__on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct mqtt_client *c = ctx;
	(void)topic_len;
	atomic_fetch_add_explicit(&c->received, 1, memory_order_relaxed);
	if (c->on_msg)
		c->on_msg(c->ctx, topic, m->payload, (size_t)(m->payloadlen > 0 ? m->payloadlen : 0), m->qos);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	/* 1: the message is handled. Paho sends the ack now, which is why
	 * on_msg returns only after the reading is committed. */
	return 1;
}

static void mqtt__on_publish_done(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt_client *c = ctx;
	(void)resp;
	atomic_fetch_add_explicit(&c->delivered, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void mqtt__on_publish_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_client *c = ctx;
	(void)resp;
	atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Start one connection attempt (supervisor thread, lock not held). */
static void mqtt__attempt(struct mqtt_client *c)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
	int tls = strncmp(c->uri, "ssl://", 6) == 0 || strncmp(c->uri, "mqtts://", 8) == 0 ||
		  strncmp(c->uri, "wss://", 6) == 0;
	int rc;

	co.keepAliveInterval = c->opt.keepalive_s;
	co.cleansession = c->opt.clean_session;
	co.maxInflight = c->opt.max_inflight;
	co.connectTimeout = 10;
	co.automaticReconnect = 0;
	co.onSuccess = mqtt__on_connect_ok;
	co.onFailure = mqtt__on_connect_fail;
	co.context = c;
	if (c->username && *c->username) {
		co.username = c->username;
		co.password = c->password;
	}
	if (tls) {
		so.trustStore = c->ca_file && *c->ca_file ? c->ca_file : NULL;
		so.keyStore = c->cert_file && *c->cert_file ? c->cert_file : NULL;
		so.privateKey = c->key_file && *c->key_file ? c->key_file : NULL;
		so.enableServerCertAuth = 1;
		so.verify = 1;
		so.ssl_error_cb = mqtt__on_tls_error;
		so.ssl_error_context = c;
		co.ssl = &so;
	}
	rc = MQTTAsync_connect(c->paho, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		char why[400];
		snprintf(why, sizeof why, "cannot connect to %s: %s", c->uri, MQTTAsync_strerror(rc));
		mqtt__failed_now(c, why);
	}
}

static void *mqtt__supervisor_main(void *arg)
{
	struct mqtt_client *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		int64_t now = mqtt__mono_ms();
		if (c->state != MQTT_CONNECTED && !c->attempting && now >= c->next_try_ms) {
			c->attempting = 1;
			pthread_mutex_unlock(&c->mu);
			mqtt__attempt(c);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		struct timespec ts;
		int64_t wait = c->state != MQTT_CONNECTED && !c->attempting ? c->next_try_ms - now : 1000;
		mqtt__deadline_in(&ts, (int)(wait < 1 ? 1 : wait > 1000 ? 1000 : wait));
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static char *mqtt__dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void mqtt__free_client(struct mqtt_client *c)
{
	free(c->uri);
	free(c->client_id);
	free(c->username);
	if (c->password) {
		/* Do not leave the secret in freed memory. */
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->topic_buf);
	free(c);
}

/* Split "a/+/b, c/#" into trimmed filters. Returns 0 or -1 with err. */
static int mqtt__split_topics(struct mqtt_client *c, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *t = strtok_r(c->topic_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		char *e = t + strlen(t);
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (!*t)
			continue;
		if (c->ntopics == TOPICS_MAX) {
			snprintf(err, errlen, "more than %d topics", TOPICS_MAX);
			return -1;
		}
		c->qos[c->ntopics] = c->opt.qos;
		c->topics[c->ntopics++] = t;
	}
	return 0;
}

int mqtt_client_start(struct mqtt_client **out, const struct mqtt_options *opt,
		      mqtt_message_fn on_msg, mqtt_state_fn on_state, void *ctx,
		      char *err, size_t errlen)
{
	struct mqtt_client *c = calloc(1, sizeof *c);
	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
	const char *files[3];
	int rc;

	if (!c)
		goto oom;
	c->opt = *opt;
	if (c->opt.max_inflight <= 0)
		c->opt.max_inflight = DEFAULT_INFLIGHT;
	if (c->opt.keepalive_s <= 0)
		c->opt.keepalive_s = 30;
	c->uri = mqtt__dup_or_null(opt->uri);
	c->client_id = mqtt__dup_or_null(opt->client_id);
	c->username = mqtt__dup_or_null(opt->username);
	c->password = mqtt__dup_or_null(opt->password);
	c->ca_file = mqtt__dup_or_null(opt->ca_file);
	c->cert_file = mqtt__dup_or_null(opt->cert_file);
	c->key_file = mqtt__dup_or_null(opt->key_file);
	c->topic_buf = strdup(opt->topics ? opt->topics : "");
	if (!c->uri || !c->client_id || !c->topic_buf || (opt->username && !c->username) ||
	    (opt->password && !c->password) || (opt->ca_file && !c->ca_file) ||
	    (opt->cert_file && !c->cert_file) || (opt->key_file && !c->key_file))
		goto oom;
	if (mqtt__split_topics(c, err, errlen) < 0)
		goto fail;
	/* TLS files are read by OpenSSL at connect time, where a missing file
	 * would only show as a handshake failure: check them now. */
	files[0] = c->ca_file;
	files[1] = c->cert_file;
	files[2] = c->key_file;
	for (int i = 0; i < 3; i++)
		if (files[i] && *files[i] && access(files[i], R_OK) < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", files[i], strerror(errno));
			goto fail;
		}
	c->on_msg = on_msg;
	c->on_state = on_state;
	c->ctx = ctx;
	c->state = MQTT_CONNECTING;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->rng = opt->seed ^ (uint64_t)getpid() ^ (uint64_t)mqtt__mono_ms();
	cro.sendWhileDisconnected = 0;
	rc = MQTTAsync_createWithOptions(&c->paho, c->uri, c->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "%s: %s", c->uri, rc == MQTTASYNC_BAD_PROTOCOL
			 ? "unsupported URI scheme (expected tcp://, ssl://, mqtt://, mqtts://, ws:// or wss://)"
			 : MQTTAsync_strerror(rc));
		goto fail;
	}
	rc = MQTTAsync_setCallbacks(c->paho, c, mqtt__on_connection_lost, mqtt__on_message, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "cannot set MQTT callbacks: %s", MQTTAsync_strerror(rc));
		MQTTAsync_destroy(&c->paho);
		goto fail;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	rc = pthread_create(&c->supervisor, NULL, mqtt__supervisor_main, c);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the MQTT thread: %s", strerror(rc));
		MQTTAsync_destroy(&c->paho);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		goto fail;
	}
	*out = c;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	if (c)
		mqtt__free_client(c);
	return -1;
}

enum mqtt_state mqtt_client_state(struct mqtt_client *c)
{
	enum mqtt_state s;
	pthread_mutex_lock(&c->mu);
	s = c->state;
	pthread_mutex_unlock(&c->mu);
	return s;
}

int mqtt_client_wait_connected(struct mqtt_client *c, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;
	mqtt__deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (c->state != MQTT_CONNECTED && rc == 0)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	rc = c->state == MQTT_CONNECTED ? 0 : -1;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int mqtt_client_publish(struct mqtt_client *c, const char *topic, const void *payload,
			size_t len, int qos, int wait_ms, char *err, size_t errlen)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct timespec ts;
	int rc = 0;

	if (len > 268435455) {
		snprintf(err, errlen, "message of %zu bytes is larger than MQTT allows", len);
		return -1;
	}
	mqtt__deadline_in(&ts, wait_ms);
	pthread_mutex_lock(&c->mu);
	while (c->inflight >= c->opt.max_inflight && rc == 0 && !c->stopping)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	if (c->state != MQTT_CONNECTED || c->inflight >= c->opt.max_inflight) {
		pthread_mutex_unlock(&c->mu);
		snprintf(err, errlen, c->state != MQTT_CONNECTED ? "not connected to %s"
			 : "%s does not acknowledge fast enough (publish window full)", c->uri);
		return -1;
	}
	c->inflight++;
	pthread_mutex_unlock(&c->mu);

	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = qos;
	ro.onSuccess = mqtt__on_publish_done;
	ro.onFailure = mqtt__on_publish_fail;
	ro.context = c;
	rc = MQTTAsync_sendMessage(c->paho, topic, &m, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&c->mu);
		c->inflight--;
		pthread_mutex_unlock(&c->mu);
		snprintf(err, errlen, "publish to %s failed: %s", topic, MQTTAsync_strerror(rc));
		return -1;
	}
	atomic_fetch_add_explicit(&c->published, 1, memory_order_relaxed);
	return 0;
}

long mqtt_client_flush(struct mqtt_client *c, int timeout_ms)
{
	struct timespec ts;
	long left;
	int rc = 0;
	mqtt__deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (c->inflight > 0 && rc == 0)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	left = c->inflight;
	pthread_mutex_unlock(&c->mu);
	return left;
}

void mqtt_client_get_stats(struct mqtt_client *c, struct mqtt_client_stats *out)
{
	out->received = atomic_load(&c->received);
	out->published = atomic_load(&c->published);
	out->delivered = atomic_load(&c->delivered);
	out->failed = atomic_load(&c->failed);
	out->connects = atomic_load(&c->connects);
}

void mqtt_client_stop(struct mqtt_client **cp, int timeout_ms)
{
	struct mqtt_client *c;
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;

	if (!cp || !*cp)
		return;
	c = *cp;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->supervisor, NULL);
	d.timeout = timeout_ms;
	if (MQTTAsync_isConnected(c->paho))
		MQTTAsync_disconnect(c->paho, &d);
	/* Disconnect is asynchronous; destroy waits for Paho's threads. */
	for (int i = 0; i < timeout_ms / 10 && MQTTAsync_isConnected(c->paho); i++)
		usleep(10000);
	MQTTAsync_destroy(&c->paho);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	mqtt__free_client(c);
	*cp = NULL;
}

int mqtt_topic_expand(const char *tpl, const char *id, char *out, size_t cap)
{
	const char *p = strstr(tpl, "{sensor_id}");
	int n = p ? snprintf(out, cap, "%.*s%s%s", (int)(p - tpl), tpl, id, p + 11)
		  : snprintf(out, cap, "%s", tpl);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

const char *mqtt_library_version(void)
{
	MQTTAsync_nameValue *v = MQTTAsync_getVersionInfo();
	for (; v && v->name; v++)
		if (strcmp(v->name, "Version") == 0)
			return v->value;
	return "unknown";
}

/* ---- syntax checks (the config loader's) ----------------------------- */

/*
 * host:port in s[0..len): a host name, IPv4 address or [IPv6], then a port
 * 1 to 65535. agent/config.c has the same grammar for its other host:port
 * keys (brokers, listen, url); this module may not include it, and an MQTT
 * URI's check should be whole here.
 */
static int mqtt__hostport_valid(const char *s, size_t len)
{
	size_t i = 0, host_end, digits = 0;
	unsigned long port = 0;

	if (len == 0)
		return 0;
	if (s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && !strchr(":.", s[i]))
				return 0;
		if (i >= len || i == 1)
			return 0;
		host_end = i + 1;
	} else {
		for (; i < len && s[i] != ':'; i++)
			if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
				return 0;
		host_end = i;
		if (host_end == 0 || host_end > 253)
			return 0;
	}
	if (host_end == len || s[host_end] != ':')
		return 0;
	for (i = host_end + 1; i < len; i++) {
		if (!isdigit((unsigned char)s[i]) || ++digits > 5)
			return 0;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	return digits > 0 && port >= 1 && port <= 65535;
}

int mqtt_uri_valid(const char *uri)
{
	static const char *const schemes[] = { "tcp", "ssl", "mqtt", "mqtts", "ws", "wss" };
	const char *sep = strstr(uri, "://"), *rest, *slash;
	size_t i, n;

	if (!sep)
		return 0;
	n = (size_t)(sep - uri);
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (strlen(schemes[i]) == n && strncmp(uri, schemes[i], n) == 0)
			break;
	if (i == sizeof schemes / sizeof schemes[0])
		return 0;
	rest = sep + 3;
	slash = strchr(rest, '/');
	if (slash && uri[0] != 'w')
		return 0; /* a path only for websockets */
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (slash)
		for (i = 0; slash[i]; i++)
			if (isspace((unsigned char)slash[i]))
				return 0;
	return mqtt__hostport_valid(rest, n);
}

int mqtt_uri_is_tls(const char *uri)
{
	return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 ||
	       strncmp(uri, "wss://", 6) == 0;
}

int mqtt_filter_valid(const char *s, size_t len)
{
	size_t i, start = 0;

	if (len == 0)
		return 0;
	for (i = 0; i <= len; i++) {
		size_t lvl;

		if (i < len && s[i] != '/')
			continue;
		lvl = i - start;
		if (memchr(s + start, '+', lvl) && !(lvl == 1 && s[start] == '+'))
			return 0;
		if (memchr(s + start, '#', lvl) && !(lvl == 1 && s[start] == '#' && i == len))
			return 0;
		start = i + 1;
	}
	return 1;
}

int mqtt_pub_topic_valid(const char *topic)
{
	return topic[0] != '\0' && !strpbrk(topic, "+#");
}
