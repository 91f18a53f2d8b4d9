/*
 * sink_setup.c - from the config to a running forwarder (see sink_setup.h).
 * The window and batch sizes per sink live here: Kafka keeps many events in
 * flight (librdkafka holds a copy of each), Elasticsearch sends one _bulk
 * request at a time.
 */
#include <stdio.h>
#include <string.h>

#include "agent/sink_setup.h"
#include "agent/secret.h"
#include "sinks/es.h"
#include "sinks/kafka.h"

#define KAFKA_WINDOW 20000 /* Kafka events in flight at most */
#define KAFKA_BATCH 1000   /* events read from the buffer at a time */
#define ES_BATCH 1000      /* events per Elasticsearch _bulk request */
#define ES_WINDOW 10000    /* Elasticsearch events in the window (retries included) */

size_t sink_setup_enabled(const struct config *cfg, const char *names[SINK_SETUP_MAX])
{
	size_t n = 0;

	if (cfg->kafka_enabled)
		names[n++] = "kafka";
	if (cfg->es_enabled)
		names[n++] = "elasticsearch";
	return n;
}

static int sink_setup__kafka(struct sink **sink, struct forward *fw, const struct config *cfg,
			     char *err, size_t errlen)
{
	const char *names[CONFIG_KAFKA_PROPS_MAX], *values[CONFIG_KAFKA_PROPS_MAX];
	char client_id[CONFIG_STR_MAX + 16];
	struct kafka_sink_options ko = {
		.brokers = cfg->kafka_brokers, .topic = cfg->kafka_topic, .client_id = client_id,
		.prop_names = names, .prop_values = values, .nprops = cfg->kafka_nprops,
		.max_inflight = KAFKA_WINDOW, .on_outcome = forward_on_outcome,
		.on_state = forward_on_state, .ctx = fw,
	};

	snprintf(client_id, sizeof client_id, "fieldgate-%s", cfg->gateway_id);
	for (size_t i = 0; i < cfg->kafka_nprops; i++) {
		names[i] = cfg->kafka_props[i].name;
		values[i] = cfg->kafka_props[i].value;
	}
	return kafka_sink_create(sink, &ko, err, errlen);
}

/* Returns SINK_SETUP_OK, SINK_SETUP_FAILED, or SINK_SETUP_BAD_FILE for an
 * unreadable secret file. */
static enum sink_setup_rc sink_setup__es(struct sink **sink, struct forward *fw,
					 const struct config *cfg,
					 char *err, size_t errlen)
{
	char password[1024] = "", api_key[1024] = "";
	struct es_sink_options eo = {
		.url = cfg->es_url, .index = cfg->es_index, .username = cfg->es_username,
		.password = password, .api_key = api_key, .ca_file = cfg->es_ca_file,
		.template_body = es_mappings_json, .version = FIELDGATE_VERSION,
		.cancelled = forward_cancelled, .on_outcome = forward_on_outcome,
		.on_state = forward_on_state, .ctx = fw,
	};
	enum sink_setup_rc rc = SINK_SETUP_BAD_FILE;

	if (cfg->es_password_file[0] &&
	    secret_read_file(cfg->es_password_file, password, sizeof password, err, errlen) < 0)
		goto out;
	if (cfg->es_api_key_file[0] &&
	    secret_read_file(cfg->es_api_key_file, api_key, sizeof api_key, err, errlen) < 0)
		goto out;
	rc = es_sink_create(sink, &eo, err, errlen) < 0 ? SINK_SETUP_FAILED : SINK_SETUP_OK;
out:
	explicit_bzero(password, sizeof password);
	explicit_bzero(api_key, sizeof api_key);
	return rc;
}

enum sink_setup_rc sink_setup_start(struct forward **out, const char *name, const struct config *cfg,
				    const struct forward_options *base, char *err, size_t errlen)
{
	char describe[CONFIG_STR_MAX * 2 + 32];
	struct forward_options fo = *base;
	struct sink *sink = NULL;
	int kafka = strcmp(name, "kafka") == 0;
	enum sink_setup_rc rc;

	*out = NULL;
	fo.name = name;
	fo.describe = describe;
	if (kafka) {
		snprintf(describe, sizeof describe, "Kafka brokers %s, topic %s", cfg->kafka_brokers,
			 cfg->kafka_topic);
		fo.window = KAFKA_WINDOW;
		fo.batch = KAFKA_BATCH;
	} else {
		snprintf(describe, sizeof describe, "Elasticsearch %s, index %s", cfg->es_url,
			 cfg->es_index);
		fo.window = ES_WINDOW;
		fo.batch = ES_BATCH;
	}
	if (forward_create(out, &fo, err, errlen) < 0)
		return SINK_SETUP_FAILED;
	if (kafka)
		rc = sink_setup__kafka(&sink, *out, cfg, err, errlen) < 0 ? SINK_SETUP_FAILED
								    : SINK_SETUP_OK;
	else
		rc = sink_setup__es(&sink, *out, cfg, err, errlen);
	if (rc == SINK_SETUP_OK && forward_start(*out, sink, err, errlen) < 0)
		rc = SINK_SETUP_FAILED;
	if (rc != SINK_SETUP_OK) {
		sink_destroy(&sink); /* NULL when it was never made */
		forward_stop(out, 0);
	}
	return rc;
}
