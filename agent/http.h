/*
 * http.h - the agent's small HTTP server for [http] listen (SPEC §6):
 * GET /metrics (Prometheus text format 0.0.4) and GET /healthz (JSON).
 * It serves documents the main thread renders once a second (metrics.h)
 * and publishes here, so a scrape never touches the buffer or the
 * pipeline. Built on libmicrohttpd with its own polling thread and a small
 * connection limit; this is the only file that includes microhttpd.h.
 *
 * Only GET and HEAD (405 otherwise); unknown paths are 404. Until the first
 * publish both documents answer 503 ("starting").
 */
#ifndef FIELDGATE_AGENT_HTTP_H
#define FIELDGATE_AGENT_HTTP_H

#include <stddef.h>

struct http;

/*
 * Listen on `listen` ("host:port" or "[v6addr]:port"; host may be a name)
 * and start serving. Call after blocking the signals the main thread takes,
 * so that the server's thread inherits the mask. Returns 0, or -1 with one
 * line in err (e.g. "127.0.0.1:9108: port already in use").
 */
int http_start(struct http **out, const char *listen, char *err, size_t errlen);

/*
 * Replace the documents served: metrics (Prometheus text) and health (JSON,
 * served with status health_code). Takes ownership of both malloc'd
 * buffers (either may be NULL to keep the current one).
 */
void http_publish(struct http *h, char *metrics, size_t metrics_len,
		  char *health, size_t health_len, int health_code);

/* Stop serving (in-flight requests are cut), free. Clears the pointer;
 * accepts NULL. */
void http_stop(struct http **h);

#endif
