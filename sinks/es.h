/*
 * es.h - the Elasticsearch forwarder: libcurl, `_bulk` with `create`
 * actions, behind the sink interface (sink.h).
 *
 * Each event becomes one document with _id = event_id, so sending it again
 * (a retry, a replay) can never make a duplicate: ES answers 409 and that
 * counts as delivered. Outcomes per item: 201/409 delivered; 429 and 5xx
 * retry (the agent backs off, honouring Retry-After); any other 4xx is
 * rejected for its content (mapping or parsing error) with ES's error type
 * and reason. Whole-request failures: network error, 429, 5xx -> the whole
 * batch is retried; 413 -> the batch is split (a single event that is still
 * too large is rejected); 401/403 -> retried after a long pause, reported
 * as a state change (the credentials are wrong; nothing is dropped).
 *
 * Before the first bulk request the index template is installed
 * (idempotently, PUT _index_template) so that the index gets the right
 * mappings (geo_point, dates, keywords); until that succeeds nothing is
 * sent. send() is synchronous: outcomes are reported before it returns.
 * This is the only file that includes libcurl.
 */
#ifndef FIELDGATE_SINKS_ES_H
#define FIELDGATE_SINKS_ES_H

#include <stddef.h>

#include "sinks/sink.h"

struct es_sink_options {
	const char *url;            /* http(s)://host:port, no trailing path */
	const char *index;          /* index (or alias) to write to */
	const char *username;       /* basic auth user, or NULL */
	const char *password;       /* its password (already read from password_file) */
	const char *api_key;        /* "Authorization: ApiKey ..." value, or NULL */
	const char *ca_file;        /* CA bundle for https, or NULL for the system's */
	const char *template_body;  /* the template's "template" object (settings, mappings) */
	const char *version;        /* fieldgate's version, recorded in the template's _meta */
	size_t max_batch_bytes;     /* bulk body limit (0 = 5 MiB) */
	int timeout_ms;             /* one request, at most (0 = 30 s) */
	int (*cancelled)(void *ctx); /* non-zero: abort the request in progress (stopping) */
	sink_outcome_fn on_outcome; /* see sink.h */
	sink_state_fn on_state;
	void *ctx;
};

/* The mappings fieldgate ships (packaging/elasticsearch/mappings.json,
 * built in): the "template" object to pass as template_body. */
extern const char es_mappings_json[];

/* Create the sink (no request is made yet). Returns 0 and the sink in *out,
 * or -1 with a reason in err. */
int es_sink_create(struct sink **out, const struct es_sink_options *opt,
		   char *err, size_t errlen);

/* The template's name for an index: "fieldgate-INDEX". */
void es_template_name(const char *index, char *out, size_t cap);

/* Initialise libcurl for the process: call once, before any thread starts.
 * Returns 0, or -1 with a reason in err. es_global_cleanup() undoes it. */
int es_global_init(char *err, size_t errlen);
void es_global_cleanup(void);

/* libcurl's version ("7.88.1"). */
const char *es_library_version(void);

/* 1 if name is an index name Elasticsearch accepts: 1 to 255 bytes, no
 * upper case, blank, control character or any of \ / * ? " < > | , # :,
 * not starting with - _ +, and neither "." nor ".."; 0 if not. */
int es_index_valid(const char *name);

#endif
