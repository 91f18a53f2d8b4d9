/*
 * kafka.c - the Kafka forwarder (see kafka.h): one librdkafka producer, one
 * topic handle, delivery reports turned into sink outcomes.
 *
 * librdkafka keeps its own queue and retries internally; we bound what we
 * hand it (max_inflight) so that a long outage grows the SQLite buffer, not
 * memory. Its message timeout (message.timeout.ms, 5 minutes by default)
 * becomes SINK_RETRY here: the event stays in the buffer and is produced
 * again, where other agents would count it as lost.
 */
#include <librdkafka/rdkafka.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/kafka.h"
#include "sinks/sinks_int.h"

struct kafka_sink {
	struct sink base;          /* must be first */
	rd_kafka_conf_t *conf;     /* a copy of the configuration, to rebuild from */
	rd_kafka_t *rk;            /* the producer */
	rd_kafka_topic_t *rkt;     /* the destination topic */
	char *topic;               /* its name */
	size_t inflight;           /* produced, delivery report not seen yet */
	size_t max_inflight;       /* bound on inflight */
	int muted;                 /* 1 while destroying: no outcomes any more */
	int need_rebuild;          /* a fatal error: rebuild the producer in poll */
	char fatal[512];           /* the fatal error's text */
};

/* Errors that retrying cannot fix: the event itself is refused. */
static int kafka__permanent(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		return 1;
	default:
		return 0;
	}
}

static void kafka__dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_sink *ks = opaque;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	char reason[512];

	(void)rk;
	if (ks->inflight)
		ks->inflight--;
	if (ks->muted)
		return;
	if (!m->err) {
		ks->base.on_outcome(ks->base.ctx, seq, SINK_DELIVERED, NULL, 0);
		return;
	}
	snprintf(reason, sizeof reason, "%s (%s)", rd_kafka_err2str(m->err), rd_kafka_err2name(m->err));
	ks->base.on_outcome(ks->base.ctx, seq, kafka__permanent(m->err) ? SINK_REJECTED : SINK_RETRY,
			    reason, 0);
}

static void kafka__error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_sink *ks = opaque;
	char text[768];

	if (ks->muted)
		return;
	switch (err) {
	case RD_KAFKA_RESP_ERR__FATAL:
		rd_kafka_fatal_error(rk, ks->fatal, sizeof ks->fatal);
		ks->need_rebuild = 1;
		snprintf(text, sizeof text, "producer failed (%s); rebuilding it, events in flight "
			 "will be sent again", ks->fatal);
		break;
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__RESOLVE:
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR__SSL:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		snprintf(text, sizeof text, "%s", reason);
		break;
	default:
		return; /* one broker's connection closing, etc.: librdkafka copes */
	}
	if (ks->base.on_state)
		ks->base.on_state(ks->base.ctx, 0, text);
}

/* librdkafka would print to stderr; the agent decides what operators see,
 * and everything worth seeing also arrives through kafka__error(). */
static void kafka__log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk, (void)level, (void)fac, (void)buf;
}

/* Build rk and rkt from a copy of ks->conf. Returns 0 or -1. */
static int kafka__build(struct kafka_sink *ks, char *err, size_t errlen)
{
	char errstr[512];
	rd_kafka_conf_t *c = rd_kafka_conf_dup(ks->conf);

	if (!c) {
		sinks__seterr(err, errlen, "out of memory");
		return -1;
	}
	ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, errstr, sizeof errstr);
	if (!ks->rk) {
		rd_kafka_conf_destroy(c);
		sinks__seterr(err, errlen, "cannot create the producer: %s", errstr);
		return -1;
	}
	ks->rkt = rd_kafka_topic_new(ks->rk, ks->topic, NULL);
	if (!ks->rkt) {
		sinks__seterr(err, errlen, "topic %s: %s", ks->topic,
			  rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(ks->rk);
		ks->rk = NULL;
		return -1;
	}
	return 0;
}

/* Drop the producer; what it held is reported SINK_RETRY unless muted. */
static void kafka__teardown(struct kafka_sink *ks)
{
	if (!ks->rk)
		return;
	rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
		       RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_poll(ks->rk, 0); /* the purged messages' reports (__PURGE_*) */
	rd_kafka_topic_destroy(ks->rkt);
	ks->rkt = NULL;
	ks->muted = 1;            /* whatever destroy still reports is not ours to count */
	rd_kafka_destroy(ks->rk);
	ks->rk = NULL;
	ks->inflight = 0;
}

static long kafka__send(struct sink *s, const struct sink_event *ev, size_t n,
			char *err, size_t errlen)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	size_t i;

	if (!ks->rk) {
		sinks__seterr(err, errlen, "the producer could not be rebuilt");
		return -1;
	}
	for (i = 0; i < n && ks->inflight < ks->max_inflight; i++) {
		const struct sink_event *e = &ev[i];
		rd_kafka_resp_err_t r = rd_kafka_producev(
			ks->rk, RD_KAFKA_V_RKT(ks->rkt),
			RD_KAFKA_V_KEY(e->sensor_id, e->sensor_id_len),
			RD_KAFKA_V_VALUE((void *)e->data, e->len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_HEADER("event_id", e->event_id, (ssize_t)e->event_id_len),
			RD_KAFKA_V_HEADER("gateway_id", e->gateway_id, (ssize_t)e->gateway_id_len),
			RD_KAFKA_V_OPAQUE((void *)(uintptr_t)e->seq), RD_KAFKA_V_END);
		char reason[512];

		if (r == RD_KAFKA_RESP_ERR_NO_ERROR) {
			ks->inflight++;
			continue;
		}
		if (r == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* Refused before it left: an outcome now, like a delivery report. */
		snprintf(reason, sizeof reason, "%s (%s)", rd_kafka_err2str(r), rd_kafka_err2name(r));
		if (r == RD_KAFKA_RESP_ERR__FATAL)
			ks->need_rebuild = 1;
		s->on_outcome(s->ctx, e->seq, kafka__permanent(r) ? SINK_REJECTED : SINK_RETRY, reason, 0);
	}
	return (long)i;
}

static int kafka__poll(struct sink *s, int timeout_ms)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;
	char err[512];

	if (ks->need_rebuild) {
		ks->need_rebuild = 0;
		kafka__teardown(ks);
		ks->muted = 0;
		if (kafka__build(ks, err, sizeof err) < 0 && s->on_state)
			s->on_state(s->ctx, 0, err);
		return 0;
	}
	if (ks->rk)
		rd_kafka_poll(ks->rk, timeout_ms);
	return 0;
}

static size_t kafka__flush(struct sink *s, int timeout_ms)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;

	if (ks->rk)
		rd_kafka_flush(ks->rk, timeout_ms);
	return ks->inflight;
}

static size_t kafka__inflight(const struct sink *s)
{
	return ((const struct kafka_sink *)s)->inflight;
}

static void kafka__destroy(struct sink *s)
{
	struct kafka_sink *ks = (struct kafka_sink *)s;

	if (!ks)
		return;
	ks->muted = 1;
	kafka__teardown(ks);
	if (ks->conf)
		rd_kafka_conf_destroy(ks->conf);
	free(ks->topic);
	free(ks);
}

static const struct sink_ops kafka_ops = {
	.send = kafka__send, .poll = kafka__poll, .flush = kafka__flush,
	.inflight = kafka__inflight, .destroy = kafka__destroy,
};

/* librdkafka's error text as one line: some of its messages ("value ... is
 * outside allowed range") end in a newline, which would end up inside a
 * config error or a log line. */
static const char *kafka__one_line(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return s;
}

/* Set one property; on failure name it as the config file does. */
static int kafka__conf_set(rd_kafka_conf_t *c, const char *name, const char *value,
			   char *err, size_t errlen)
{
	char errstr[512];

	if (rd_kafka_conf_set(c, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
		sinks__seterr(err, errlen, "property.%s: %s", name, kafka__one_line(errstr));
		return -1;
	}
	return 0;
}

int kafka_sink_create(struct sink **out, const struct kafka_sink_options *opt,
		      char *err, size_t errlen)
{
	struct kafka_sink *ks = calloc(1, sizeof *ks);
	size_t i;

	*out = NULL;
	if (!ks || !(ks->topic = strdup(opt->topic)) || !(ks->conf = rd_kafka_conf_new())) {
		sinks__seterr(err, errlen, "out of memory");
		goto fail;
	}
	sinks__init(&ks->base, &kafka_ops, "kafka", opt->on_outcome, opt->on_state, opt->ctx);
	ks->max_inflight = opt->max_inflight ? opt->max_inflight : 10000;
	/* The guarantees of SPEC §5 first; the user's properties may refine them. */
	if (kafka__conf_set(ks->conf, "bootstrap.servers", opt->brokers, err, errlen) < 0 ||
	    kafka__conf_set(ks->conf, "client.id", opt->client_id ? opt->client_id : "fieldgate", err, errlen) < 0 ||
	    kafka__conf_set(ks->conf, "enable.idempotence", "true", err, errlen) < 0 ||
	    kafka__conf_set(ks->conf, "acks", "all", err, errlen) < 0)
		goto fail;
	for (i = 0; i < opt->nprops; i++)
		if (kafka__conf_set(ks->conf, opt->prop_names[i], opt->prop_values[i], err, errlen) < 0)
			goto fail;
	rd_kafka_conf_set_opaque(ks->conf, ks);
	rd_kafka_conf_set_dr_msg_cb(ks->conf, kafka__dr);
	rd_kafka_conf_set_error_cb(ks->conf, kafka__error);
	rd_kafka_conf_set_log_cb(ks->conf, kafka__log);
	if (kafka__build(ks, err, errlen) < 0)
		goto fail;
	*out = &ks->base;
	return 0;
fail:
	kafka__destroy(ks ? &ks->base : NULL);
	return -1;
}

int kafka_check_property(const char *name, const char *value, char *err, size_t errlen)
{
	static const char *const owned[] = {
		"bootstrap.servers", "metadata.broker.list", "enable.idempotence", "acks",
		"request.required.acks", "transactional.id",
	};
	char errstr[512];
	rd_kafka_conf_t *c;
	int rc = 0;

	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
		if (strcmp(name, owned[i]) == 0) {
			sinks__seterr(err, errlen, "set by fieldgate itself (brokers = for the bootstrap list; "
				  "the producer is always idempotent with acks=all, SPEC §5)");
			return -1;
		}
	if (!(c = rd_kafka_conf_new())) {
		sinks__seterr(err, errlen, "out of memory");
		return -1;
	}
	if (rd_kafka_conf_set(c, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
		sinks__seterr(err, errlen, "%s", kafka__one_line(errstr));
		rc = -1;
	}
	rd_kafka_conf_destroy(c);
	return rc;
}

const char *kafka_library_version(void)
{
	return rd_kafka_version_str();
}

int kafka_topic_valid(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}
