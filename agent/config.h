/*
 * config.h - the site configuration (SPEC §2): one INI file per site, parsed
 * with inih into a plain struct, validated whole, with every error naming the
 * file, the line and what was expected:
 *
 *   plant-a.conf:12: [kafka] brokers: empty value (expected host:port[,host:port])
 *
 * Unknown sections and keys are errors (a typo must not silently disable a
 * sink). Keys that later features use ([mqtt], [kafka], [elasticsearch],
 * [http], [alerts]) are parsed and validated already. A reload parses into a
 * fresh struct; the caller swaps it in only on success.
 */
#ifndef FIELDGATE_AGENT_CONFIG_H
#define FIELDGATE_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/log.h"

#define CONFIG_STR_MAX 256        /* bytes in one string setting */
#define CONFIG_PATH_MAX 1024      /* bytes in one path */
#define CONFIG_KAFKA_PROPS_MAX 64 /* property.* entries */

enum source_type { SOURCE_SIMULATOR = 0, SOURCE_MQTT = 1 };

struct kafka_property {
	char name[CONFIG_STR_MAX];   /* librdkafka property name, without "property." */
	char value[CONFIG_STR_MAX];  /* its value, passed through */
	int line;                    /* config line, for error messages */
};

struct config {
	char file[CONFIG_PATH_MAX];      /* the config file as given */

	/* [agent] */
	char gateway_id[CONFIG_STR_MAX]; /* default: host name */
	char site[CONFIG_STR_MAX];       /* default: file name without .conf */
	char data_dir[CONFIG_PATH_MAX];  /* default /var/lib/fieldgate/SITE; relative = to the cwd */
	int data_dir_line;               /* line of [agent] data_dir in file, 0 = the default */
	enum log_level log_level;        /* default info */

	/* [source] */
	enum source_type source;         /* default mqtt */

	/* [simulator] */
	unsigned sim_sensors;            /* default 100, 1..1000000 */
	double sim_rate;                 /* readings/s per sensor, default 1, > 0 */
	uint64_t sim_seed;               /* default 42 */
	double sim_time_scale;           /* simulated seconds per wall second, default 1 */
	uint64_t sim_drift_after;        /* readings before input drift starts, 0 = never */

	/* [mqtt] */
	char mqtt_uri[CONFIG_STR_MAX];       /* default tcp://127.0.0.1:1883; tcp:// ssl:// mqtt:// mqtts:// */
	char mqtt_topic[CONFIG_STR_MAX];     /* default sensors/+/reading; comma-separated */
	int mqtt_qos;                        /* 0..2, default 1 */
	char mqtt_client_id[CONFIG_STR_MAX]; /* default fieldgate-SITE */
	int mqtt_clean_session;              /* default 0 */
	char mqtt_username[CONFIG_STR_MAX];  /* "" = none */
	char mqtt_password_file[CONFIG_PATH_MAX]; /* "" = none; absolute after load */
	char mqtt_ca_file[CONFIG_PATH_MAX];
	char mqtt_cert_file[CONFIG_PATH_MAX];
	char mqtt_key_file[CONFIG_PATH_MAX];
	int mqtt_keepalive;                  /* seconds, default 30, 5..3600 */
	int mqtt_sensor_id_topic_level;      /* -1 = off, else 0-based topic level */

	/* [models] */
	char models_dir[CONFIG_PATH_MAX];    /* default /usr/share/fieldgate/models */
	int models_watch;                    /* reload when the set on disk changes; default 0 */
	char models_shadow_dir[CONFIG_PATH_MAX]; /* a candidate set scored beside, "" = none */
	int models_shadow_in_events;         /* events carry the shadow set's predictions; default 0 */
	int64_t models_input_drift_window_ms; /* input drift's sliding window, default 24h */
	unsigned models_max_sensors;         /* sensors with rolling state, default 100000 */
	int64_t models_sensor_idle_timeout_ms; /* a sensor's state dropped after this long
						 unseen, 0 = never (default) */

	/* [buffer] */
	char buffer_path[CONFIG_PATH_MAX];   /* default buffer.db; absolute after load */
	int64_t buffer_max_bytes;            /* max_mb, default 1024 MiB */
	int64_t buffer_retention_ms;         /* retention, default 7d; "30s" "15m" "12h" "7d" */
	int buffer_sync_full;                /* sync = full */
	int buffer_commit_ms;                /* default 10, 1..10000 */

	/* [kafka] */
	int kafka_enabled;                   /* default 0 */
	char kafka_brokers[CONFIG_STR_MAX];  /* default 127.0.0.1:9092 */
	char kafka_topic[CONFIG_STR_MAX];    /* default sensor-scored */
	size_t kafka_nprops;                 /* entries in kafka_props */
	struct kafka_property kafka_props[CONFIG_KAFKA_PROPS_MAX]; /* property.* */

	/* [elasticsearch] */
	int es_enabled;                      /* default 0 */
	char es_url[CONFIG_STR_MAX];         /* default http://127.0.0.1:9200 */
	char es_index[CONFIG_STR_MAX];       /* default sensors-scored */
	char es_username[CONFIG_STR_MAX];
	char es_password_file[CONFIG_PATH_MAX];
	char es_api_key_file[CONFIG_PATH_MAX];
	char es_ca_file[CONFIG_PATH_MAX];

	/* [http] */
	char http_listen[CONFIG_STR_MAX];    /* default 127.0.0.1:9108; "" disables */

	/* [alerts] */
	int alerts_enabled;                  /* default 0 */
	char alerts_topic[CONFIG_STR_MAX];   /* default alerts/{sensor_id} */
	int alerts_min_interval_s;           /* per-sensor rate limit, default 60 */
};

/*
 * Fill *c with the defaults, as if `path` were an empty file (gateway_id from
 * the host name, site from the file name, data_dir /var/lib/fieldgate/SITE).
 */
void config_defaults(struct config *c, const char *path);

/*
 * Load and validate `path`. Returns 0 and a complete *c, or 2 (usage or
 * configuration error, the exit status SPEC §1 asks for) with one line in err:
 * "FILE:LINE: [section] key: cause (expected ...)", or "FILE: cause" when no
 * line applies (cannot open). Relative paths in the file are made relative to
 * data_dir. *c is unspecified on failure: load into a scratch struct.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/*
 * Write the effective settings as INI text (what check-config prints).
 * Secrets are never printed: password and key files are shown by path only.
 * Returns 0, or -1 on a write error.
 */
int config_print(const struct config *c, FILE *out);

#endif
