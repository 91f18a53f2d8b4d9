/*
 * mqtt.h - an MQTT client over Paho MQTTAsync: the agent's MQTT input
 * (subscriber), the alert publisher, and `fieldgate simulate --mqtt`.
 * This is the only file set that includes Paho.
 *
 * Messages are handed to the caller's callback on Paho's receive thread, one
 * at a time, in order. Paho acknowledges a QoS >= 1 message (PUBACK/PUBREC)
 * when the callback returns, so a caller that must commit before the ack
 * simply returns only after its commit: this module never returns early.
 *
 * Connection: the first connect and every reconnect are made by this
 * module's own supervisor thread, with exponential backoff (0.5 s doubling
 * to 30 s) and jitter (each delay drawn from [d/2, d]); after a reconnect the
 * topics are subscribed again. State changes (not attempts) are reported
 * through a callback; nothing here logs.
 */
#ifndef FIELDGATE_SENSORS_MQTT_H
#define FIELDGATE_SENSORS_MQTT_H

#include <stddef.h>
#include <stdint.h>

enum mqtt_state {
	MQTT_CONNECTING = 0,   /* never connected yet */
	MQTT_CONNECTED = 1,    /* connected (and subscribed, for a subscriber) */
	MQTT_DISCONNECTED = 2, /* lost or refused; retrying with backoff */
};

struct mqtt_options {
	const char *uri;          /* tcp://, ssl://, mqtt://, mqtts://, ws://, wss:// host:port */
	const char *client_id;    /* stable id: the broker keeps the session under it */
	const char *topics;       /* comma-separated filters to subscribe to; NULL/"" = publisher only */
	int qos;                  /* subscription QoS 0..2 */
	int clean_session;        /* 0: the broker keeps subscriptions and queued messages */
	int keepalive_s;          /* keepalive interval, seconds */
	const char *username;     /* NULL or "" = no authentication */
	const char *password;     /* the password itself (never logged); NULL = none */
	const char *ca_file;      /* PEM CA bundle for ssl://; NULL/"" = system CAs */
	const char *cert_file;    /* PEM client certificate; NULL/"" = none */
	const char *key_file;     /* PEM client key; NULL/"" = none */
	int max_inflight;         /* publisher: QoS > 0 messages in flight before publish waits; 0 = 1000 */
	uint64_t seed;            /* seed of the jitter PRNG */
};

/* A message: topic (NUL-terminated), payload (not NUL-terminated), its QoS.
 * Pointers are valid only during the call. */
typedef void (*mqtt_message_fn)(void *ctx, const char *topic, const void *payload,
				size_t len, int qos);

/* A state change, with a one-line detail ("connection refused: not
 * authorised", "connection lost", "tcp://127.0.0.1:1883"). */
typedef void (*mqtt_state_fn)(void *ctx, enum mqtt_state state, const char *detail);

struct mqtt_client;

/*
 * Create a client and start connecting in the background. on_msg (may be
 * NULL for a publisher) and on_state (may be NULL) are called on Paho's or
 * the supervisor's threads. Returns 0, or -1 with a reason in err (bad URI,
 * unreadable TLS file, out of memory); connection failures are not errors
 * here, they are retried and reported through on_state.
 */
int mqtt_client_start(struct mqtt_client **out, const struct mqtt_options *opt,
		      mqtt_message_fn on_msg, mqtt_state_fn on_state, void *ctx,
		      char *err, size_t errlen);

/* Current state. */
enum mqtt_state mqtt_client_state(struct mqtt_client *c);

/* Wait until connected, at most timeout_ms. Returns 0 when connected, -1 not. */
int mqtt_client_wait_connected(struct mqtt_client *c, int timeout_ms);

/*
 * Publish (asynchronous). For QoS > 0 waits while max_inflight messages are
 * unacknowledged, at most wait_ms. Returns 0 when handed to Paho, -1 when not
 * connected, the window stayed full, or Paho refused (err says why).
 */
int mqtt_client_publish(struct mqtt_client *c, const char *topic, const void *payload,
			size_t len, int qos, int wait_ms, char *err, size_t errlen);

/* Wait until every published message is acknowledged (QoS > 0) or written
 * (QoS 0), at most timeout_ms. Returns the number still outstanding. */
long mqtt_client_flush(struct mqtt_client *c, int timeout_ms);

/* Counters: messages published and acknowledged, publish failures. */
struct mqtt_client_stats {
	uint64_t received;    /* messages handed to on_msg */
	uint64_t published;   /* publishes handed to Paho */
	uint64_t delivered;   /* publishes completed */
	uint64_t failed;      /* publishes Paho reported failed */
	uint64_t connects;    /* successful connections */
};
void mqtt_client_get_stats(struct mqtt_client *c, struct mqtt_client_stats *out);

/* Disconnect (waiting at most timeout_ms for the broker), stop the
 * supervisor, free. A callback in progress finishes first. Clears the
 * pointer; accepts NULL. */
void mqtt_client_stop(struct mqtt_client **c, int timeout_ms);

/* Expand a topic template: "{sensor_id}" is replaced by id. Returns 0, or -1
 * if the result does not fit in cap bytes. */
int mqtt_topic_expand(const char *tpl, const char *id, char *out, size_t cap);

/* Paho's version string, for `fieldgate version`. */
const char *mqtt_library_version(void);


/*
 * The syntax checks of MQTT values, for the config loader (nothing here
 * connects anywhere). Each returns 1 if the value is valid, 0 if not.
 */

/* uri is one Paho connects to: tcp://, ssl://, mqtt://, mqtts://, ws:// or
 * wss://, then host:port (a host name, IPv4 address or [IPv6]; port 1 to
 * 65535), and for ws:// and wss:// only, an optional /path without blanks. */
int mqtt_uri_valid(const char *uri);

/* uri's scheme is one that uses TLS: ssl://, mqtts:// or wss://. Looks at
 * the scheme only. */
int mqtt_uri_is_tls(const char *uri);

/* s[0..len) is one topic filter to subscribe to: not empty, + and # only as
 * whole levels, # only as the last level. s need not be NUL-terminated. */
int mqtt_filter_valid(const char *s, size_t len);

/* topic can be published to: not empty, no wildcard (+ or #). A {sensor_id}
 * template qualifies as written (see mqtt_topic_expand()). */
int mqtt_pub_topic_valid(const char *topic);

#endif
