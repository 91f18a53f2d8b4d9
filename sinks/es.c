/*
 * es.c - the Elasticsearch forwarder (see es.h): one libcurl easy handle
 * (one keep-alive connection, TCP_NODELAY), NDJSON `_bulk` bodies built in
 * one growable buffer, and the per-item outcomes read from the response.
 *
 * libcurl details that matter here: it would post
 * application/x-www-form-urlencoded (ES answers 406), so Content-Type is
 * set; it would add `Expect: 100-continue` above 1 MiB and wait for the
 * server, so that header is removed. The bulk response is parsed with
 * cJSON only when its "errors" flag is true; the common all-created case
 * is recognised from the first bytes.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sinks/es.h"
#include "sinks/sinks_int.h"

#define ES_DEFAULT_BYTES (5u << 20)
#define ES_DEFAULT_TIMEOUT_MS 30000
#define ES_CONNECT_TIMEOUT_MS 5000
#define ES_AUTH_PAUSE_MS 30000     /* after 401/403: the credentials will not fix themselves */

struct es_buf {
	char *p;     /* bytes */
	size_t len;  /* used */
	size_t cap;  /* allocated */
};

struct es_sink {
	struct sink base;              /* must be first */
	struct es_sink_options opt;    /* copy; the strings below are owned */
	CURL *curl;                    /* the one connection */
	struct curl_slist *bulk_hdrs;  /* NDJSON, no Expect, auth */
	struct curl_slist *json_hdrs;  /* JSON, no Expect, auth */
	char *bulk_url;                /* URL/INDEX/_bulk */
	char *template_url;            /* URL/_index_template/NAME */
	char *template_json;           /* the PUT body */
	int template_ok;               /* installed in this run */
	size_t max_events;             /* after a 413: events per request at most */
	struct es_buf body;            /* the request being built */
	struct es_buf resp;            /* the response being read */
	int64_t retry_after_ms;        /* Retry-After of the last response, 0 if none */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail for the last failure */
};

static int es__buf_reserve(struct es_buf *b, size_t more)
{
	size_t cap;
	char *n;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	if (!(n = realloc(b->p, cap)))
		return -1;
	b->p = n;
	b->cap = cap;
	return 0;
}

static int es__buf_add(struct es_buf *b, const void *p, size_t n)
{
	if (es__buf_reserve(b, n + 1) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static size_t es__on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct es_sink *es = ctx;

	if (es__buf_add(&es->resp, p, size * n) < 0)
		return 0; /* out of memory: libcurl fails the transfer */
	return size * n;
}

static size_t es__on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct es_sink *es = ctx;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		long s = strtol(p + 12, NULL, 10);
		if (s > 0 && s < 3600)
			es->retry_after_ms = (int64_t)s * 1000;
	}
	return len;
}

static int es__on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct es_sink *es = ctx;

	(void)a, (void)b, (void)c, (void)d;
	return es->opt.cancelled && es->opt.cancelled(es->base.ctx) ? 1 : 0;
}

/*
 * One request on the kept connection. Returns the HTTP status (the body is
 * in es->resp), or -1 when no response came (err says why).
 */
static long es__request(struct es_sink *es, const char *method, const char *url,
			struct curl_slist *hdrs, const char *body, size_t len,
			char *err, size_t errlen)
{
	CURLcode rc;
	long status = 0;

	es->resp.len = 0;
	if (es->resp.p)
		es->resp.p[0] = '\0'; /* an empty answer must not read as the last one */
	es->retry_after_ms = 0;
	es->curl_err[0] = '\0';
	curl_easy_setopt(es->curl, CURLOPT_URL, url);
	curl_easy_setopt(es->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(es->curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
	curl_easy_setopt(es->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(es->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(es->curl);
	if (rc != CURLE_OK) {
		sinks__seterr(err, errlen, "cannot reach %s: %s%s%s", url, curl_easy_strerror(rc),
			  es->curl_err[0] ? ": " : "", es->curl_err);
		return -1;
	}
	curl_easy_getinfo(es->curl, CURLINFO_RESPONSE_CODE, &status);
	if (!es->resp.p && es__buf_add(&es->resp, "", 0) < 0) {
		sinks__seterr(err, errlen, "out of memory");
		return -1;
	}
	return status;
}

/* Control characters (a "\n" in ES's reason, an HTML error page) become
 * spaces: a reason goes into one log line and one dead-letter field. */
static void es__one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* "type: reason" of an ES error object, or of a whole error response. */
static void es__error_text(const cJSON *error, long status, char *out, size_t cap)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(error, "type");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(error, "reason");

	if (cJSON_IsString(type))
		snprintf(out, cap, "%ld %s: %s", status, type->valuestring,
			 cJSON_IsString(reason) ? reason->valuestring : "");
	else if (cJSON_IsString(error))
		snprintf(out, cap, "%ld %s", status, error->valuestring);
	else
		snprintf(out, cap, "HTTP %ld", status);
	es__one_line(out);
}

/* The reason in a non-2xx response body, for logs and positions. */
static void es__response_text(struct es_sink *es, long status, char *out, size_t cap)
{
	cJSON *j = cJSON_ParseWithLength(es->resp.p, es->resp.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (e)
		es__error_text(e, status, out, cap);
	else
		snprintf(out, cap, "HTTP %ld%s%.200s", status, es->resp.len ? ": " : "",
			 es->resp.len ? es->resp.p : "");
	es__one_line(out);
	cJSON_Delete(j);
}

static void es__state_down(struct es_sink *es, const char *reason)
{
	if (es->base.on_state)
		es->base.on_state(es->base.ctx, 0, reason);
}

/* Every event of the batch gets the same outcome. */
static void es__all_outcome(struct es_sink *es, const struct sink_event *ev, size_t n,
			    enum sink_outcome o, const char *reason, int64_t retry_after_ms)
{
	for (size_t i = 0; i < n; i++)
		es->base.on_outcome(es->base.ctx, ev[i].seq, o, reason, retry_after_ms);
}

/* Install the index template. Returns 0, or -1 with the reason in err and
 * how long to wait in *pause_ms (0 = the usual backoff). */
static int es__install_template(struct es_sink *es, char *err, size_t errlen, int64_t *pause_ms)
{
	long status = es__request(es, "PUT", es->template_url, es->json_hdrs, es->template_json,
				  strlen(es->template_json), err, errlen);
	char text[512];

	*pause_ms = 0;
	if (status < 0)
		return -1;
	if (status >= 200 && status < 300) {
		es->template_ok = 1;
		return 0;
	}
	es__response_text(es, status, text, sizeof text);
	if (status == 401 || status == 403) {
		sinks__seterr(err, errlen, "%s: Elasticsearch refused the credentials; check [elasticsearch] "
			  "username/password_file or api_key_file (the user needs to write the index and "
			  "manage index templates); nothing is dropped, retrying every %d s", text,
			  ES_AUTH_PAUSE_MS / 1000);
		*pause_ms = ES_AUTH_PAUSE_MS;
		return -1;
	}
	sinks__seterr(err, errlen, "cannot install the index template %s: %s", es->template_url, text);
	*pause_ms = es->retry_after_ms;
	return -1;
}

/* Outcomes from a 200 bulk response (sinks_int.h). */
void es__bulk_outcomes(const char *body, size_t len, const struct sink_event *ev, size_t n,
		       int64_t retry_after_ms, sink_outcome_fn on_outcome, void *ctx)
{
	cJSON *j, *items, *it;
	size_t i = 0;
	char reason[768];

	/* {"errors":false,...} or {"took":N,"errors":false,...}: all created. */
	{
		const char *e = strstr(body, "\"errors\":");
		if (e && e - body < 64 && strncmp(e + 9, "false", 5) == 0) {
			for (i = 0; i < n; i++)
				on_outcome(ctx, ev[i].seq, SINK_DELIVERED, NULL, 0);
			return;
		}
	}
	j = cJSON_ParseWithLength(body, len);
	items = cJSON_GetObjectItemCaseSensitive(j, "items");
	if (!cJSON_IsArray(items) || (size_t)cJSON_GetArraySize(items) != n) {
		for (i = 0; i < n; i++)
			on_outcome(ctx, ev[i].seq, SINK_RETRY, "Elasticsearch sent a bulk response "
				   "without one item per document", 0);
		cJSON_Delete(j);
		return;
	}
	cJSON_ArrayForEach(it, items) {
		const cJSON *r = it->child; /* {"create":{...}} */
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "status");
		/* Not an HTTP status (4.0e94, -1, NaN from a broken proxy): as if
		 * there were none, and without converting an out-of-range double
		 * to long, which is undefined. */
		long status = cJSON_IsNumber(st) && st->valuedouble >= 100 && st->valuedouble < 1000
			      ? (long)st->valuedouble : 0;

		if ((status >= 200 && status < 300) || status == 409) {
			on_outcome(ctx, ev[i].seq, SINK_DELIVERED, NULL, 0);
		} else {
			es__error_text(cJSON_GetObjectItemCaseSensitive(r, "error"), status, reason,
				       sizeof reason);
			on_outcome(ctx, ev[i].seq, status == 429 || status >= 500 || status == 0
				   ? SINK_RETRY : SINK_REJECTED, reason, retry_after_ms);
		}
		i++;
	}
	cJSON_Delete(j);
}

static long es__send(struct sink *s, const struct sink_event *ev, size_t n, char *err, size_t errlen)
{
	struct es_sink *es = (struct es_sink *)s;
	char why[768];
	size_t take = 0;
	long status;

	if (n == 0)
		return 0;
	if (!es->template_ok) {
		int64_t pause;
		if (es__install_template(es, why, sizeof why, &pause) < 0) {
			es__state_down(es, why);
			es__all_outcome(es, ev, n, SINK_RETRY, why, pause);
			return (long)n;
		}
	}
	/* The body: one action line and one source line per event, each ending in \n. */
	es->body.len = 0;
	while (take < n && take < es->max_events) {
		const struct sink_event *e = &ev[take];
		size_t need = e->len + e->event_id_json_len + 32;
		if (take && es->body.len + need > es->opt.max_batch_bytes)
			break;
		if (es__buf_add(&es->body, "{\"create\":{\"_id\":\"", 18) < 0 ||
		    es__buf_add(&es->body, e->event_id_json, e->event_id_json_len) < 0 ||
		    es__buf_add(&es->body, "\"}}\n", 4) < 0 || es__buf_add(&es->body, e->data, e->len) < 0 ||
		    es__buf_add(&es->body, "\n", 1) < 0) {
			sinks__seterr(err, errlen, "out of memory for a bulk request");
			return -1;
		}
		take++;
	}
	status = es__request(es, "POST", es->bulk_url, es->bulk_hdrs, es->body.p, es->body.len,
			     why, sizeof why);
	if (status < 0) {
		es__state_down(es, why);
		es__all_outcome(es, ev, take, SINK_RETRY, why, 0);
		return (long)take;
	}
	if (status == 200) {
		es__bulk_outcomes(es->resp.p, es->resp.len, ev, take, es->retry_after_ms,
				  es->base.on_outcome, es->base.ctx);
		return (long)take;
	}
	es__response_text(es, status, why, sizeof why);
	if (status == 413) {
		if (take == 1) {
			es__all_outcome(es, ev, 1, SINK_REJECTED, "413: the event alone is larger than "
					"Elasticsearch accepts (http.max_content_length)", 0);
		} else {
			es->max_events = take / 2;
			es__all_outcome(es, ev, take, SINK_RETRY, "413 request too large: sending smaller "
					"batches", 0);
		}
		return (long)take;
	}
	if (status == 401 || status == 403) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s: Elasticsearch refused the credentials; check "
			 "[elasticsearch] username/password_file or api_key_file; nothing is dropped, "
			 "retrying every %d s", why, ES_AUTH_PAUSE_MS / 1000);
		es__state_down(es, msg);
		es__all_outcome(es, ev, take, SINK_RETRY, why, ES_AUTH_PAUSE_MS);
		return (long)take;
	}
	/* 429 (overloaded: not down), 5xx, and anything else about the request
	 * rather than an event. */
	if (status != 429)
		es__state_down(es, why);
	es__all_outcome(es, ev, take, SINK_RETRY, why, es->retry_after_ms);
	return (long)take;
}

static int es__poll(struct sink *s, int timeout_ms)
{
	(void)s, (void)timeout_ms;
	return 0; /* send() is synchronous */
}

static size_t es__flush(struct sink *s, int timeout_ms)
{
	(void)s, (void)timeout_ms;
	return 0;
}

static size_t es__inflight(const struct sink *s)
{
	(void)s;
	return 0;
}

static void es__destroy(struct sink *s)
{
	struct es_sink *es = (struct es_sink *)s;

	if (!es)
		return;
	if (es->curl)
		curl_easy_cleanup(es->curl);
	curl_slist_free_all(es->bulk_hdrs);
	curl_slist_free_all(es->json_hdrs);
	free(es->bulk_url);
	free(es->template_url);
	free(es->template_json);
	free(es->body.p);
	free(es->resp.p);
	free(es);
}

static const struct sink_ops es_ops = {
	.send = es__send, .poll = es__poll, .flush = es__flush,
	.inflight = es__inflight, .destroy = es__destroy,
};

void es_template_name(const char *index, char *out, size_t cap)
{
	snprintf(out, cap, "fieldgate-%s", index);
}

/* malloc'd printf. */
__attribute__((format(printf, 1, 2)))
static char *es__strf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(p = malloc((size_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static struct curl_slist *es__headers(const char *content_type, const char *api_key, int *ok)
{
	struct curl_slist *h = NULL, *t;
	char line[1024];

	snprintf(line, sizeof line, "Content-Type: %s", content_type);
	if (!(t = curl_slist_append(h, line)))
		goto fail;
	h = t;
	if (!(t = curl_slist_append(h, "Expect:")))
		goto fail;
	h = t;
	if (api_key && *api_key) {
		snprintf(line, sizeof line, "Authorization: ApiKey %s", api_key);
		if (!(t = curl_slist_append(h, line)))
			goto fail;
		h = t;
	}
	return h;
fail:
	curl_slist_free_all(h);
	*ok = 0;
	return NULL;
}

int es_sink_create(struct sink **out, const struct es_sink_options *opt, char *err, size_t errlen)
{
	struct es_sink *es = calloc(1, sizeof *es);
	char name[512];
	int ok = 1;
	const char *url_end;
	size_t url_len;

	*out = NULL;
	if (!es)
		goto oom;
	sinks__init(&es->base, &es_ops, "elasticsearch", opt->on_outcome, opt->on_state, opt->ctx);
	es->opt = *opt;
	if (!es->opt.max_batch_bytes)
		es->opt.max_batch_bytes = ES_DEFAULT_BYTES;
	if (!es->opt.timeout_ms)
		es->opt.timeout_ms = ES_DEFAULT_TIMEOUT_MS;
	es->max_events = SIZE_MAX;
	url_len = strlen(opt->url);
	url_end = opt->url + url_len;
	while (url_len && url_end[-1] == '/')
		url_len--, url_end--;
	es_template_name(opt->index, name, sizeof name);
	es->bulk_url = es__strf("%.*s/%s/_bulk", (int)url_len, opt->url, opt->index);
	es->template_url = es__strf("%.*s/_index_template/%s", (int)url_len, opt->url, name);
	es->template_json = es__strf("{\"index_patterns\":[\"%s\",\"%s-*\"],\"priority\":200,"
				     "\"_meta\":{\"managed_by\":\"fieldgate\",\"version\":\"%s\"},"
				     "\"template\":%s}", opt->index, opt->index,
				     opt->version ? opt->version : "", opt->template_body);
	if (!es->bulk_url || !es->template_url || !es->template_json)
		goto oom;
	es->bulk_hdrs = es__headers("application/x-ndjson", opt->api_key, &ok);
	es->json_hdrs = es__headers("application/json", opt->api_key, &ok);
	if (!ok || !(es->curl = curl_easy_init()))
		goto oom;
	curl_easy_setopt(es->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(es->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(es->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(es->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ES_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(es->curl, CURLOPT_TIMEOUT_MS, (long)es->opt.timeout_ms);
	curl_easy_setopt(es->curl, CURLOPT_WRITEFUNCTION, es__on_body);
	curl_easy_setopt(es->curl, CURLOPT_WRITEDATA, es);
	curl_easy_setopt(es->curl, CURLOPT_HEADERFUNCTION, es__on_header);
	curl_easy_setopt(es->curl, CURLOPT_HEADERDATA, es);
	curl_easy_setopt(es->curl, CURLOPT_XFERINFOFUNCTION, es__on_progress);
	curl_easy_setopt(es->curl, CURLOPT_XFERINFODATA, es);
	curl_easy_setopt(es->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(es->curl, CURLOPT_ERRORBUFFER, es->curl_err);
	curl_easy_setopt(es->curl, CURLOPT_USERAGENT, "fieldgate");
	if (opt->ca_file && *opt->ca_file)
		curl_easy_setopt(es->curl, CURLOPT_CAINFO, opt->ca_file);
	if (opt->username && *opt->username) {
		curl_easy_setopt(es->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(es->curl, CURLOPT_USERNAME, opt->username);
		curl_easy_setopt(es->curl, CURLOPT_PASSWORD, opt->password ? opt->password : "");
	}
	/* The strings in opt are the caller's: only the ones used later are kept,
	 * and libcurl copied the ones it was given. */
	es->opt.url = es->opt.index = es->opt.username = es->opt.password = NULL;
	es->opt.api_key = es->opt.ca_file = es->opt.template_body = es->opt.version = NULL;
	*out = &es->base;
	return 0;
oom:
	sinks__seterr(err, errlen, "out of memory");
	es__destroy(es ? &es->base : NULL);
	return -1;
}

int es_global_init(char *err, size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		sinks__seterr(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void es_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *es_library_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

int es_index_valid(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strchr("-_+", name[0]))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (isupper(ch) || isspace(ch) || ch < 0x20 || strchr("\\/*?\"<>|,#:", ch))
			return 0;
	}
	return 1;
}
