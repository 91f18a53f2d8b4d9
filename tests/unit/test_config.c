/*
 * test_config.c - the config loader (agent/config.c) against SPEC §2: every
 * key of a full config, the defaults of an empty one, the SPEC example, every
 * bad config in tests/data/config/bad/ (each names its expected error on its
 * first line, "; expect: MESSAGE"), config_print() round trips, and the
 * name checks of the sinks that config_load() uses (kafka_topic_valid(),
 * es_index_valid()) at lengths a config line cannot reach.
 * Runs with cwd = tests/unit; temporary files go to a mkdtemp() directory.
 */
#include "agent/config.h"
#include "sinks/es.h"
#include "sinks/kafka.h"
#include "tests/unit/check.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA "../data/config"
#define MIB (1024LL * 1024)

static char tmpdir[64];

/* Write text to tmpdir/name and return the path (static buffer, one at a time). */
static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static void remove_tmp(const char *name)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	CHECK_INT(unlink(path), 0);
}

/* Every field except file. */
static void check_same(const struct config *a, const struct config *b)
{
	size_t i;

	CHECK_STR(a->gateway_id, b->gateway_id);
	CHECK_STR(a->site, b->site);
	CHECK_STR(a->data_dir, b->data_dir);
	CHECK_INT(a->log_level, b->log_level);
	CHECK_INT(a->source, b->source);
	CHECK_INT(a->sim_sensors, b->sim_sensors);
	CHECK(a->sim_rate == b->sim_rate);
	CHECK(a->sim_seed == b->sim_seed);
	CHECK_STR(a->mqtt_uri, b->mqtt_uri);
	CHECK_STR(a->mqtt_topic, b->mqtt_topic);
	CHECK_INT(a->mqtt_qos, b->mqtt_qos);
	CHECK_STR(a->mqtt_client_id, b->mqtt_client_id);
	CHECK_INT(a->mqtt_clean_session, b->mqtt_clean_session);
	CHECK_STR(a->mqtt_username, b->mqtt_username);
	CHECK_STR(a->mqtt_password_file, b->mqtt_password_file);
	CHECK_STR(a->mqtt_ca_file, b->mqtt_ca_file);
	CHECK_STR(a->mqtt_cert_file, b->mqtt_cert_file);
	CHECK_STR(a->mqtt_key_file, b->mqtt_key_file);
	CHECK_INT(a->mqtt_keepalive, b->mqtt_keepalive);
	CHECK_INT(a->mqtt_sensor_id_topic_level, b->mqtt_sensor_id_topic_level);
	CHECK_STR(a->models_dir, b->models_dir);
	CHECK_INT(a->models_max_sensors, b->models_max_sensors);
	CHECK_INT(a->models_sensor_idle_timeout_ms, b->models_sensor_idle_timeout_ms);
	CHECK_STR(a->buffer_path, b->buffer_path);
	CHECK_INT(a->buffer_max_bytes, b->buffer_max_bytes);
	CHECK_INT(a->buffer_retention_ms, b->buffer_retention_ms);
	CHECK_INT(a->buffer_sync_full, b->buffer_sync_full);
	CHECK_INT(a->buffer_commit_ms, b->buffer_commit_ms);
	CHECK_INT(a->kafka_enabled, b->kafka_enabled);
	CHECK_STR(a->kafka_brokers, b->kafka_brokers);
	CHECK_STR(a->kafka_topic, b->kafka_topic);
	CHECK_INT(a->kafka_nprops, b->kafka_nprops);
	for (i = 0; i < a->kafka_nprops && i < b->kafka_nprops; i++) {
		CHECK_STR(a->kafka_props[i].name, b->kafka_props[i].name);
		CHECK_STR(a->kafka_props[i].value, b->kafka_props[i].value);
	}
	CHECK_INT(a->es_enabled, b->es_enabled);
	CHECK_STR(a->es_url, b->es_url);
	CHECK_STR(a->es_index, b->es_index);
	CHECK_STR(a->es_username, b->es_username);
	CHECK_STR(a->es_password_file, b->es_password_file);
	CHECK_STR(a->es_api_key_file, b->es_api_key_file);
	CHECK_STR(a->es_ca_file, b->es_ca_file);
	CHECK_STR(a->http_listen, b->http_listen);
	CHECK_INT(a->alerts_enabled, b->alerts_enabled);
	CHECK_STR(a->alerts_topic, b->alerts_topic);
	CHECK_INT(a->alerts_min_interval_s, b->alerts_min_interval_s);
}

static void test_full(struct config *c)
{
	char err[512] = "unset";

	CHECK_INT(config_load(c, DATA "/full.conf", err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_STR(c->file, DATA "/full.conf");
	CHECK_STR(c->gateway_id, "gw-full_01.test");
	CHECK_STR(c->site, "full-site");
	CHECK_STR(c->data_dir, "/srv/fieldgate/full");
	CHECK_INT(c->log_level, LOG_DEBUG);
	CHECK_INT(c->source, SOURCE_SIMULATOR);
	CHECK_INT(c->sim_sensors, 250);
	CHECK_NEAR(c->sim_rate, 2.5, 0);
	CHECK(c->sim_seed == UINT64_MAX);
	CHECK_STR(c->mqtt_uri, "ssl://broker.example.com:8883");
	CHECK_STR(c->mqtt_topic, "sensors/+/reading,plant/#");
	CHECK_INT(c->mqtt_qos, 2);
	CHECK_STR(c->mqtt_client_id, "gw-full-client");
	CHECK_INT(c->mqtt_clean_session, 1);
	CHECK_STR(c->mqtt_username, "agent");
	CHECK_STR(c->mqtt_password_file, "/srv/fieldgate/full/secrets/mqtt.pass");
	CHECK_STR(c->mqtt_ca_file, "/etc/ssl/certs/ca.pem");
	CHECK_STR(c->mqtt_cert_file, "/srv/fieldgate/full/tls/client.crt");
	CHECK_STR(c->mqtt_key_file, "/srv/fieldgate/full/tls/client.key");
	CHECK_INT(c->mqtt_keepalive, 120);
	CHECK_INT(c->mqtt_sensor_id_topic_level, 1);
	CHECK_STR(c->models_dir, "/srv/fieldgate/full/models");
	CHECK_INT(c->models_max_sensors, 5000);
	CHECK_INT(c->models_sensor_idle_timeout_ms, 6LL * 3600 * 1000);
	CHECK_STR(c->buffer_path, "/srv/fieldgate/full/buf/events.db");
	CHECK_INT(c->buffer_max_bytes, 64 * MIB);
	CHECK_INT(c->buffer_retention_ms, 12LL * 3600 * 1000);
	CHECK_INT(c->buffer_sync_full, 1);
	CHECK_INT(c->buffer_commit_ms, 250);
	CHECK_INT(c->kafka_enabled, 1);
	CHECK_STR(c->kafka_brokers, "k1.example.com:9092,[fd00::1]:9093");
	CHECK_STR(c->kafka_topic, "scored.events");
	CHECK_INT(c->kafka_nprops, 2);
	CHECK_STR(c->kafka_props[0].name, "compression.type");
	CHECK_STR(c->kafka_props[0].value, "zstd");
	CHECK_INT(c->kafka_props[0].line, 47);
	CHECK_STR(c->kafka_props[1].name, "linger.ms");
	CHECK_STR(c->kafka_props[1].value, "5");
	CHECK_INT(c->kafka_props[1].line, 48);
	CHECK_INT(c->es_enabled, 1);
	CHECK_STR(c->es_url, "https://es.example.com:9243/prefix");
	CHECK_STR(c->es_index, "sensors-full");
	CHECK_STR(c->es_username, "elastic");
	CHECK_STR(c->es_password_file, "/run/secrets/es.pass");
	CHECK_STR(c->es_api_key_file, "");
	CHECK_STR(c->es_ca_file, "/srv/fieldgate/full/es-ca.pem");
	CHECK_STR(c->http_listen, "0.0.0.0:9200");
	CHECK_INT(c->alerts_enabled, 1);
	CHECK_STR(c->alerts_topic, "plant/alerts/{sensor_id}");
	CHECK_INT(c->alerts_min_interval_s, 300);
}

/* The defaults of config.h, for a file named SITE.conf. */
static void check_defaults(const struct config *c, const char *site)
{
	char host[256] = "", want[512];

	CHECK_INT(gethostname(host, sizeof host - 1), 0);
	CHECK_STR(c->gateway_id, host);
	CHECK_STR(c->site, site);
	snprintf(want, sizeof want, "/var/lib/fieldgate/%s", site);
	CHECK_STR(c->data_dir, want);
	CHECK_INT(c->log_level, LOG_INFO);
	CHECK_INT(c->source, SOURCE_MQTT);
	CHECK_INT(c->sim_sensors, 100);
	CHECK_NEAR(c->sim_rate, 1.0, 0);
	CHECK(c->sim_seed == 42);
	CHECK_STR(c->mqtt_uri, "tcp://127.0.0.1:1883");
	CHECK_STR(c->mqtt_topic, "sensors/+/reading");
	CHECK_INT(c->mqtt_qos, 1);
	snprintf(want, sizeof want, "fieldgate-%s", site);
	CHECK_STR(c->mqtt_client_id, want);
	CHECK_INT(c->mqtt_clean_session, 0);
	CHECK_STR(c->mqtt_username, "");
	CHECK_STR(c->mqtt_password_file, "");
	CHECK_STR(c->mqtt_ca_file, "");
	CHECK_STR(c->mqtt_cert_file, "");
	CHECK_STR(c->mqtt_key_file, "");
	CHECK_INT(c->mqtt_keepalive, 30);
	CHECK_INT(c->mqtt_sensor_id_topic_level, -1);
	CHECK_STR(c->models_dir, "/usr/share/fieldgate/models");
	CHECK_INT(c->models_max_sensors, 100000);
	CHECK_INT(c->models_sensor_idle_timeout_ms, 0);
	snprintf(want, sizeof want, "/var/lib/fieldgate/%s/buffer.db", site);
	CHECK_STR(c->buffer_path, want);
	CHECK_INT(c->buffer_max_bytes, 1024 * MIB);
	CHECK_INT(c->buffer_retention_ms, 7LL * 86400 * 1000);
	CHECK_INT(c->buffer_sync_full, 0);
	CHECK_INT(c->buffer_commit_ms, 10);
	CHECK_INT(c->kafka_enabled, 0);
	CHECK_STR(c->kafka_brokers, "127.0.0.1:9092");
	CHECK_STR(c->kafka_topic, "sensor-scored");
	CHECK_INT(c->kafka_nprops, 0);
	CHECK_INT(c->es_enabled, 0);
	CHECK_STR(c->es_url, "http://127.0.0.1:9200");
	CHECK_STR(c->es_index, "sensors-scored");
	CHECK_STR(c->es_username, "");
	CHECK_STR(c->es_password_file, "");
	CHECK_STR(c->es_api_key_file, "");
	CHECK_STR(c->es_ca_file, "");
	CHECK_STR(c->http_listen, "127.0.0.1:9108");
	CHECK_INT(c->alerts_enabled, 0);
	CHECK_STR(c->alerts_topic, "alerts/{sensor_id}");
	CHECK_INT(c->alerts_min_interval_s, 60);
}

static void test_defaults(struct config *c, struct config *d)
{
	char err[512];
	const char *p;

	CHECK_INT(config_load(c, DATA "/empty.conf", err, sizeof err), 0);
	check_defaults(c, "empty");
	config_defaults(d, DATA "/empty.conf");
	CHECK_STR(d->file, DATA "/empty.conf");
	check_same(c, d);

	/* A zero-byte file, and a file name without .conf. */
	p = write_tmp("zero-bytes.conf", "");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	check_defaults(c, "zero-bytes");
	remove_tmp("zero-bytes.conf");
	p = write_tmp("site.ini", "");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	check_defaults(c, "site.ini");
	remove_tmp("site.ini");

	/* The site set in the file drives the derived defaults. */
	p = write_tmp("derived.conf", "[agent]\nsite = north\n");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	CHECK_STR(c->site, "north");
	CHECK_STR(c->data_dir, "/var/lib/fieldgate/north");
	CHECK_STR(c->buffer_path, "/var/lib/fieldgate/north/buffer.db");
	CHECK_STR(c->mqtt_client_id, "fieldgate-north");
	remove_tmp("derived.conf");
}

static void test_spec_example(struct config *c)
{
	char err[512] = "unset";

	CHECK_INT(config_load(c, DATA "/plant-a.conf", err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_STR(c->gateway_id, "gw-plant-a-01");
	CHECK_STR(c->site, "plant-a");
	CHECK_STR(c->data_dir, "/var/lib/fieldgate/plant-a");
	CHECK_INT(c->log_level, LOG_INFO);
	CHECK_INT(c->source, SOURCE_MQTT);
	CHECK_STR(c->mqtt_uri, "tcp://127.0.0.1:1883");
	CHECK_STR(c->mqtt_topic, "sensors/+/reading");
	CHECK_STR(c->mqtt_client_id, "fieldgate-plant-a");
	CHECK_STR(c->mqtt_username, "");
	CHECK_STR(c->mqtt_password_file, "");
	CHECK_STR(c->buffer_path, "/var/lib/fieldgate/plant-a/buffer.db");
	CHECK_INT(c->buffer_max_bytes, 1024 * MIB);
	CHECK_INT(c->buffer_retention_ms, 7LL * 86400 * 1000);
	CHECK_INT(c->kafka_enabled, 0);
	CHECK_INT(c->kafka_nprops, 1);
	CHECK_STR(c->kafka_props[0].name, "compression.type");
	CHECK_STR(c->kafka_props[0].value, "lz4");
	CHECK_INT(c->kafka_props[0].line, 39);
	CHECK_STR(c->http_listen, "127.0.0.1:9108");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file in bad/: config_load() returns 2 with the message on its first line. */
static void test_bad_dir(struct config *c)
{
	const char *dir = DATA "/bad";
	const char *prefix = "; expect: ";
	char *names[256];
	size_t n = 0, i;
	struct dirent *e;
	DIR *d = opendir(dir);

	CHECK(d != NULL);
	if (!d)
		return;
	while ((e = readdir(d)) && n < sizeof names / sizeof names[0]) {
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], by_name);
	CHECK(n >= 25);

	for (i = 0; i < n; i++) {
		char path[512], first[1024] = "", err[1024] = "";
		FILE *f;
		int rc;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		f = fopen(path, "r");
		CHECK(f != NULL);
		if (f) {
			if (!fgets(first, sizeof first, f))
				first[0] = '\0';
			fclose(f);
		}
		first[strcspn(first, "\n")] = '\0';
		CHECK(strncmp(first, prefix, strlen(prefix)) == 0);
		rc = config_load(c, path, err, sizeof err);
		if (rc != 2)
			fprintf(stderr, "%s: config_load returned %d\n", path, rc);
		CHECK_INT(rc, 2);
		CHECK_STR(err, first + strlen(prefix));
		free(names[i]);
	}
}

static void test_io_errors(struct config *c)
{
	char err[512];

	CHECK_INT(config_load(c, DATA "/no-such-site.conf", err, sizeof err), 2);
	CHECK_STR(err, DATA "/no-such-site.conf: cannot open: No such file or directory");
	CHECK_INT(config_load(c, DATA, err, sizeof err), 2);
	CHECK_STR(err, DATA ": cannot read: Is a directory");

	/* A small error buffer is filled, never overrun. */
	memset(err, 'x', sizeof err);
	CHECK_INT(config_load(c, DATA "/bad/bad-qos.conf", err, 12), 2);
	CHECK_INT(strlen(err), 11);
	CHECK(err[12] == 'x');
	CHECK_STR(err, "../data/con");
	CHECK_INT(config_load(c, DATA "/bad/bad-qos.conf", NULL, 0), 2);
}

static void test_values(struct config *c)
{
	static const struct {
		const char *text; /* value of [mqtt] clean_session */
		int want;
	} bools[] = {
		{ "true", 1 }, { "yes", 1 }, { "on", 1 }, { "1", 1 }, { "TRUE", 1 },
		{ "false", 0 }, { "no", 0 }, { "off", 0 }, { "0", 0 }, { "Off", 0 },
	};
	static const struct {
		const char *text; /* value of [buffer] retention */
		long long ms;
	} durations[] = {
		{ "30s", 30000 }, { "15m", 900000 }, { "12h", 43200000 }, { "7d", 604800000 },
		{ "90", 90000 }, { "0", 0 }, { "3650d", 3650LL * 86400000 },
	};
	char text[512], err[512];
	const char *p;
	size_t i;

	for (i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		snprintf(text, sizeof text, "[mqtt]\nclean_session = %s\n", bools[i].text);
		p = write_tmp("v.conf", text);
		CHECK_INT(config_load(c, p, err, sizeof err), 0);
		CHECK_INT(c->mqtt_clean_session, bools[i].want);
	}
	for (i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		snprintf(text, sizeof text, "[buffer]\nretention = %s\n", durations[i].text);
		p = write_tmp("v.conf", text);
		CHECK_INT(config_load(c, p, err, sizeof err), 0);
		CHECK_INT(c->buffer_retention_ms, durations[i].ms);
	}

	/* The per-sensor state's bounds at their ends. */
	p = write_tmp("v.conf", "[models]\nmax_sensors = 1\nsensor_idle_timeout = 0\n");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	CHECK_INT(c->models_max_sensors, 1);
	CHECK_INT(c->models_sensor_idle_timeout_ms, 0);
	p = write_tmp("v.conf", "[models]\nmax_sensors = 100000000\nsensor_idle_timeout = 3650d\n");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	CHECK_INT(c->models_max_sensors, 100000000);
	CHECK_INT(c->models_sensor_idle_timeout_ms, 3650LL * 86400 * 1000);

	/* Accepted forms that the full config does not use. */
	p = write_tmp("v.conf",
		      "\xEF\xBB\xBF[agent]\r\n"
		      "  log_level = WARN\r\n"
		      "[ mqtt ]   ; blanks inside the brackets\r\n"
		      "uri = wss://broker:443/mqtt\n"
		      "username = only-a-user\n"
		      "sensor_id_topic_level = off\n"
		      "password_file=pw;not-a-comment\n"
		      "[elasticsearch]\n"
		      "url = http://[::1]\n"
		      "api_key_file = keys/es.key\n"
		      "[http]\n"
		      "listen =\n"
		      "[alerts]\n"
		      "min_interval = 90\n"
		      "[kafka]\n"
		      "enabled = true\n"
		      "property.sasl.password = s;e c=r#et\n");
	CHECK_INT(config_load(c, p, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_INT(c->log_level, LOG_WARN);
	CHECK_STR(c->mqtt_uri, "wss://broker:443/mqtt");
	CHECK_STR(c->mqtt_username, "only-a-user");
	CHECK_INT(c->mqtt_sensor_id_topic_level, -1);
	CHECK_STR(c->mqtt_password_file, "/var/lib/fieldgate/v/pw;not-a-comment");
	CHECK_STR(c->es_url, "http://[::1]");
	CHECK_STR(c->es_api_key_file, "/var/lib/fieldgate/v/keys/es.key");
	CHECK_STR(c->http_listen, "");
	CHECK_INT(c->alerts_min_interval_s, 90);
	CHECK_INT(c->kafka_enabled, 1);
	CHECK_STR(c->kafka_props[0].name, "sasl.password");
	CHECK_STR(c->kafka_props[0].value, "s;e c=r#et");

	/* A relative data_dir is relative to the current directory. */
	{
		char cwd[512], want[1024];

		CHECK(getcwd(cwd, sizeof cwd) != NULL);
		p = write_tmp("v.conf", "[agent]\ndata_dir = ./state//here/\n[buffer]\npath = db/b.db\n");
		CHECK_INT(config_load(c, p, err, sizeof err), 0);
		snprintf(want, sizeof want, "%s/state/here", cwd);
		CHECK_STR(c->data_dir, want);
		snprintf(want, sizeof want, "%s/state/here/db/b.db", cwd);
		CHECK_STR(c->buffer_path, want);
	}

	/* At most CONFIG_KAFKA_PROPS_MAX properties (real librdkafka ones: each is
	 * checked with librdkafka while loading). */
	{
		static const char *const props[CONFIG_KAFKA_PROPS_MAX + 1][2] = {
			{ "client.id", "rdkafka" },
			{ "client.software.name", "librdkafka" },
			{ "message.max.bytes", "1000000" },
			{ "message.copy.max.bytes", "65535" },
			{ "receive.message.max.bytes", "100000000" },
			{ "max.in.flight.requests.per.connection", "1000000" },
			{ "metadata.request.timeout.ms", "10" },
			{ "topic.metadata.refresh.interval.ms", "300000" },
			{ "metadata.max.age.ms", "900000" },
			{ "topic.metadata.refresh.fast.interval.ms", "250" },
			{ "topic.metadata.refresh.fast.cnt", "10" },
			{ "topic.metadata.refresh.sparse", "true" },
			{ "topic.metadata.propagation.max.ms", "30000" },
			{ "socket.timeout.ms", "60000" },
			{ "socket.blocking.max.ms", "1000" },
			{ "socket.send.buffer.bytes", "0" },
			{ "socket.receive.buffer.bytes", "0" },
			{ "socket.keepalive.enable", "false" },
			{ "socket.nagle.disable", "false" },
			{ "socket.max.fails", "1" },
			{ "broker.address.ttl", "1000" },
			{ "broker.address.family", "any" },
			{ "socket.connection.setup.timeout.ms", "30000" },
			{ "connections.max.idle.ms", "0" },
			{ "enable.sparse.connections", "true" },
			{ "reconnect.backoff.jitter.ms", "0" },
			{ "reconnect.backoff.ms", "100" },
			{ "reconnect.backoff.max.ms", "10000" },
			{ "statistics.interval.ms", "0" },
			{ "enabled_events", "0" },
			{ "log_level", "6" },
			{ "log.queue", "false" },
			{ "log.thread.name", "true" },
			{ "enable.random.seed", "true" },
			{ "log.connection.close", "true" },
			{ "internal.termination.signal", "0" },
			{ "api.version.request", "true" },
			{ "api.version.request.timeout.ms", "10000" },
			{ "api.version.fallback.ms", "0" },
			{ "broker.version.fallback", "0.10.0" },
			{ "allow.auto.create.topics", "false" },
			{ "security.protocol", "plaintext" },
			{ "test.mock.num.brokers", "0" },
			{ "test.mock.broker.rtt", "0" },
			{ "session.timeout.ms", "45000" },
			{ "heartbeat.interval.ms", "3000" },
			{ "group.protocol.type", "consumer" },
			{ "coordinator.query.interval.ms", "600000" },
			{ "max.poll.interval.ms", "300000" },
			{ "enable.auto.commit", "true" },
			{ "auto.commit.interval.ms", "5000" },
			{ "enable.auto.offset.store", "true" },
			{ "queued.min.messages", "100000" },
			{ "queued.max.messages.kbytes", "65536" },
			{ "fetch.wait.max.ms", "500" },
			{ "fetch.message.max.bytes", "1048576" },
			{ "fetch.max.bytes", "52428800" },
			{ "fetch.min.bytes", "1" },
			{ "fetch.error.backoff.ms", "500" },
			{ "offset.store.method", "broker" },
			{ "isolation.level", "read_committed" },
			{ "enable.partition.eof", "false" },
			{ "check.crcs", "false" },
			{ "transaction.timeout.ms", "60000" },
			{ "enable.gapless.guarantee", "false" },
		};
		char *big = malloc(128 * (CONFIG_KAFKA_PROPS_MAX + 2));
		size_t used;

		CHECK(big != NULL);
		if (big) {
			used = (size_t)sprintf(big, "[kafka]\n");
			for (i = 0; i < CONFIG_KAFKA_PROPS_MAX; i++)
				used += (size_t)sprintf(big + used, "property.%s = %s\n", props[i][0], props[i][1]);
			p = write_tmp("v.conf", big);
			CHECK_INT(config_load(c, p, err, sizeof err), 0);
			CHECK_INT(c->kafka_nprops, CONFIG_KAFKA_PROPS_MAX);
			CHECK_STR(c->kafka_props[63].name, props[63][0]);
			CHECK_INT(c->kafka_props[63].line, 65);
			sprintf(big + used, "property.%s = %s\n", props[64][0], props[64][1]);
			p = write_tmp("v.conf", big);
			CHECK_INT(config_load(c, p, err, sizeof err), 2);
			snprintf(text, sizeof text,
				 "%s:66: [kafka] property.%s: too many properties (expected at most 64)",
				 p, props[64][0]);
			CHECK_STR(err, text);
			free(big);
		}
	}

	/* An indented line is a key of its own, never a continuation of the one above. */
	p = write_tmp("v.conf", "[mqtt]\nusername = a\n   b\n");
	CHECK_INT(config_load(c, p, err, sizeof err), 2);
	snprintf(text, sizeof text, "%s:3: syntax error (expected key = value or [section])", p);
	CHECK_STR(err, text);
	remove_tmp("v.conf");
}

/* Print, load the printed text, compare. */
static void roundtrip(struct config *a, struct config *b, const char *path)
{
	char err[512] = "", *text = NULL;
	const char *out;
	size_t len = 0;
	FILE *f;

	CHECK_INT(config_load(a, path, err, sizeof err), 0);
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(config_print(a, f), 0);
	fclose(f);
	out = write_tmp("printed.conf", text);
	CHECK_INT(config_load(b, out, err, sizeof err), 0);
	CHECK_STR(err, "");
	check_same(a, b);
	remove_tmp("printed.conf");
	free(text);
}

static void test_print(struct config *a, struct config *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	roundtrip(a, b, DATA "/full.conf");
	roundtrip(a, b, DATA "/plant-a.conf");
	roundtrip(a, b, DATA "/empty.conf");
	/* A value that starts with ';' (found by fuzz_config): printed
	 * "topic = ;x" it read back as a comment, an empty topic. */
	roundtrip(a, b, write_tmp("semi.conf", "[mqtt]\ntopic =;x/+\n[kafka]\nproperty.client.id =;id\n"));
	CHECK_STR(b->mqtt_topic, ";x/+");
	remove_tmp("semi.conf");

	/* The text itself: SPEC order, properties, secrets as paths. */
	CHECK_INT(config_load(a, DATA "/full.conf", NULL, 0), 0);
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(config_print(a, f), 0);
	fclose(f);
	CHECK(strstr(text, "[agent]\ngateway_id = gw-full_01.test\nsite = full-site\n") != NULL);
	CHECK(strstr(text, "\nretention = 12h\n") != NULL);
	CHECK(strstr(text, "\nmax_mb = 64\n") != NULL);
	CHECK(strstr(text, "\nmax_sensors = 5000\nsensor_idle_timeout = 6h\n") != NULL);
	CHECK(strstr(text, "\nsensor_id_topic_level = 1\n") != NULL);
	CHECK(strstr(text, "\nproperty.compression.type = zstd\nproperty.linger.ms = 5\n") != NULL);
	CHECK(strstr(text, "\npassword_file = /run/secrets/es.pass\n") != NULL);
	CHECK(strstr(text, "\napi_key_file =\n") != NULL);
	CHECK(strstr(text, "[http]\nlisten = 0.0.0.0:9200\n\n[alerts]\n") != NULL);
	CHECK(strstr(text, "[agent]") < strstr(text, "[source]"));
	CHECK(strstr(text, "[kafka]") < strstr(text, "[elasticsearch]"));
	free(text);

	/* Kafka properties that hold a secret are not printed; others are. */
	CHECK_INT(config_load(a, write_tmp("secret.conf", "[kafka]\nproperty.sasl.password = hunter2\n"
					   "property.ssl.key.pem = KEYDATA\n"
					   "property.sasl.username = bob\n"), NULL, 0), 0);
	CHECK_STR(a->kafka_props[0].value, "hunter2");
	remove_tmp("secret.conf");
	text = NULL;
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(config_print(a, f), 0);
	fclose(f);
	CHECK(strstr(text, "hunter2") == NULL);
	CHECK(strstr(text, "KEYDATA") == NULL);
	CHECK(strstr(text, "\nproperty.sasl.password = (redacted)\n") != NULL);
	CHECK(strstr(text, "\nproperty.sasl.username = bob\n") != NULL);
	free(text);

	/* A write error is reported. */
	f = fopen("/dev/full", "w");
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		CHECK_INT(config_print(a, f), -1);
		fclose(f);
	}
}

/* A string of n copies of ch (static buffer, one at a time). */
static const char *repeat(char ch, size_t n)
{
	static char buf[512];

	if (n >= sizeof buf)
		n = sizeof buf - 1;
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

/* Kafka topic names, here and not through a file: the longest line a config
 * file may have (198 characters) is shorter than the longest topic (249). */
static void test_kafka_topics(void)
{
	CHECK(kafka_topic_valid("sensor-scored"));
	CHECK(kafka_topic_valid("a.b_c-D9"));
	CHECK(kafka_topic_valid("..."));
	CHECK(kafka_topic_valid(repeat('t', 249)));
	CHECK(!kafka_topic_valid(repeat('t', 250)));
	CHECK(!kafka_topic_valid(""));
	CHECK(!kafka_topic_valid("."));
	CHECK(!kafka_topic_valid(".."));
	CHECK(!kafka_topic_valid("a b"));
	CHECK(!kafka_topic_valid("a/b"));
	CHECK(!kafka_topic_valid("a:b"));
	CHECK(!kafka_topic_valid("\xC3\xA4"));
}

/* Elasticsearch index names, here for the same reason: up to 255 bytes. */
static void test_es_indexes(void)
{
	static const char *const bad[] = {
		"", ".", "..", "Sensors", "-a", "_a", "+a", "a b", "a\tb", "a\\b", "a/b", "a*b",
		"a?b", "a\"b", "a<b", "a>b", "a|b", "a,b", "a#b", "a:b", "a\001b",
	};
	size_t i;

	CHECK(es_index_valid("sensors-scored"));
	CHECK(es_index_valid("a-_+.b"));
	CHECK(es_index_valid(".hidden"));
	CHECK(es_index_valid("\xC3\xA4"));
	CHECK(es_index_valid(repeat('i', 255)));
	CHECK(!es_index_valid(repeat('i', 256)));
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (es_index_valid(bad[i]))
			fprintf(stderr, "index '%s' accepted\n", bad[i]);
		CHECK(!es_index_valid(bad[i]));
	}
}

int main(void)
{
	struct config *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	char tmpl[] = "/tmp/test_config.XXXXXX";

	if (!a || !b || !mkdtemp(tmpl)) {
		perror("test_config setup");
		return 1;
	}
	snprintf(tmpdir, sizeof tmpdir, "%s", tmpl);

	test_full(a);
	test_defaults(a, b);
	test_spec_example(a);
	test_bad_dir(a);
	test_io_errors(a);
	test_values(a);
	test_print(a, b);
	test_kafka_topics();
	test_es_indexes();

	CHECK_INT(rmdir(tmpdir), 0);
	free(a);
	free(b);
	return check_done("test_config");
}
