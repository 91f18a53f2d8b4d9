/*
 * http.c - /metrics and /healthz on libmicrohttpd (see http.h).
 *
 * The listening socket is made here rather than by MHD, so that a port in
 * use or an address that is not ours is reported with its errno (MHD only
 * says "failed"); MHD gets it with MHD_OPTION_LISTEN_SOCKET and closes it on
 * stop. One MHD thread polls every connection; a request only copies the
 * current document under a mutex, so it never waits on the agent.
 */
#include "agent/http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/log.h"

#define HTTP_CONNECTIONS 16     /* scrapers and probes at once, at most */
#define HTTP_TIMEOUT_S 10       /* an idle connection is closed after this */
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HEALTH_TYPE "application/json"

struct http {
	struct MHD_Daemon *daemon;   /* the server, with its own thread */
	pthread_mutex_t mu;          /* guards the documents below */
	char *metrics;               /* current /metrics body, or NULL before the first publish */
	size_t metrics_len;          /* its length */
	char *health;                /* current /healthz body, or NULL */
	size_t health_len;           /* its length */
	int health_code;             /* 200 or 503 */
};

/* Queue a response with a copy of body. */
static enum MHD_Result http__reply(struct MHD_Connection *c, unsigned code, const char *type,
				   const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result http__handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **req_cls)
{
	static const char starting[] = "{\"status\":\"starting\"}\n";
	struct http *h = cls;
	enum MHD_Result rc;
	int metrics;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return http__reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
				   "only GET and HEAD\n", 18);
	if (strcmp(url, "/metrics") == 0)
		metrics = 1;
	else if (strcmp(url, "/healthz") == 0)
		metrics = 0;
	else
		return http__reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
				   "not found: try /metrics or /healthz\n", 36);
	pthread_mutex_lock(&h->mu);
	if (metrics && h->metrics)
		rc = http__reply(c, MHD_HTTP_OK, METRICS_TYPE, h->metrics, h->metrics_len);
	else if (!metrics && h->health)
		rc = http__reply(c, (unsigned)h->health_code, HEALTH_TYPE, h->health, h->health_len);
	else
		rc = http__reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, metrics ? "text/plain; charset=utf-8" :
				 HEALTH_TYPE, metrics ? "starting\n" : starting,
				 metrics ? 9 : sizeof starting - 1);
	pthread_mutex_unlock(&h->mu);
	return rc;
}

/* MHD's own complaints (a connection it had to drop, ...): for debugging. */
__attribute__((format(printf, 2, 0)))
static void http__logger(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("http", "%s", line);
}

/* Split "host:port" or "[v6]:port" into host and port. Returns 0 or -1. */
static int http__split_addr(const char *addr, char *host, size_t hostcap, char *port, size_t portcap)
{
	const char *colon;
	size_t n;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -1;
		n = (size_t)(end - addr - 1);
		colon = end + 1;
		if (n == 0 || n >= hostcap)
			return -1;
		memcpy(host, addr + 1, n);
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -1;
		n = (size_t)(colon - addr);
		if (n == 0 || n >= hostcap)
			return -1;
		memcpy(host, addr, n);
	}
	host[n] = '\0';
	if (!colon[1] || strlen(colon + 1) >= portcap)
		return -1;
	strcpy(port, colon + 1);
	return 0;
}

/* Make the listening socket. Returns the fd, or -1 with a reason in err. */
static int http__socket(const char *addr, int *v6, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char host[256], port[8];
	int fd = -1, one = 1, rc;

	if (http__split_addr(addr, host, sizeof host, port, sizeof port) < 0) {
		snprintf(err, errlen, "'%s' is not host:port or [address]:port", addr);
		return -1;
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: cannot resolve %s: %s", addr, host, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", addr, strerror(errno));
		goto fail;
	}
	/* A restarted agent may rebind while old connections sit in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	*v6 = ai->ai_family == AF_INET6;
	if (*v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;
		if (e == EADDRINUSE)
			snprintf(err, errlen, "%s: port %s is already in use by another process "
				 "(see `ss -ltnp 'sport = :%s'`; choose another port, or leave listen "
				 "empty to disable metrics)", addr, port, port);
		else if (e == EADDRNOTAVAIL)
			snprintf(err, errlen, "%s: %s is not an address of this host", addr, host);
		else
			snprintf(err, errlen, "%s: cannot bind: %s", addr, strerror(e));
		goto fail;
	}
	if (listen(fd, 16) < 0) {
		snprintf(err, errlen, "%s: cannot listen: %s", addr, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

int http_start(struct http **out, const char *addr, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof *h);
	int fd, v6 = 0;

	*out = NULL;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&h->mu, NULL);
	if ((fd = http__socket(addr, &v6, err, errlen)) < 0)
		goto fail;
	h->daemon = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
				     (v6 ? MHD_USE_IPv6 : 0),
				     0, NULL, NULL, http__handler, h,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				     MHD_OPTION_EXTERNAL_LOGGER, http__logger, NULL,
				     MHD_OPTION_END);
	if (!h->daemon) {
		/* Not closed here: whether MHD already closed fd on this path
		 * differs between versions, and the agent exits anyway. */
		snprintf(err, errlen, "%s: cannot start the HTTP server (libmicrohttpd)", addr);
		goto fail;
	}
	*out = h;
	return 0;
fail:
	pthread_mutex_destroy(&h->mu);
	free(h);
	return -1;
}

void http_publish(struct http *h, char *metrics, size_t metrics_len,
		  char *health, size_t health_len, int health_code)
{
	char *old_m = NULL, *old_h = NULL;

	pthread_mutex_lock(&h->mu);
	if (metrics) {
		old_m = h->metrics;
		h->metrics = metrics;
		h->metrics_len = metrics_len;
	}
	if (health) {
		old_h = h->health;
		h->health = health;
		h->health_len = health_len;
		h->health_code = health_code;
	}
	pthread_mutex_unlock(&h->mu);
	free(old_m);
	free(old_h);
}

void http_stop(struct http **hp)
{
	struct http *h;

	if (!hp || !*hp)
		return;
	h = *hp;
	MHD_stop_daemon(h->daemon);
	pthread_mutex_destroy(&h->mu);
	free(h->metrics);
	free(h->health);
	free(h);
	*hp = NULL;
}
