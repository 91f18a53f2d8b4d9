/*
 * config.c - the site configuration loader (SPEC §2). inih splits the file
 * into sections and key = value pairs; the rest is ours. Our line reader
 * counts lines (Debian's inih does not pass line numbers to the handler, and
 * the handler always runs for the line the reader returned last), strips
 * comments, and sees every section header, so that an unknown section is an
 * error even when it holds no key. One table lists every key with its type,
 * field and range; it drives parsing, the "expected one of" lists and
 * config_print(). A second table, indexed by the type, holds each type's
 * parse function, "(expected ...)" text and printed form: adding a type is
 * one entry there. A final pass fills the defaults that derive from other
 * settings (data_dir and client_id from the site), makes relative paths
 * absolute and checks settings against each other. The first error stops the
 * load: "FILE:LINE: [section] key: cause (expected ...)".
 *
 * This file uses only libc, inih, the feature catalogue's default cap and the
 * value checks of the modules that own a kind of value (MQTT URIs and topics, Kafka topics and properties,
 * Elasticsearch index names). It never logs and reads no secret: password
 * and key files are paths here; the modules that need them open them.
 */
#include "agent/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "agent/features.h"
#include "sensors/mqtt.h"
#include "sinks/es.h"
#include "sinks/kafka.h"

#define CONFIG_ID_MAX 128            /* bytes in gateway_id and site */
#define CONFIG_TOPIC_LEVEL_MAX 63    /* highest sensor_id_topic_level */
#define CONFIG_DEFAULT_DATA_ROOT "/var/lib/fieldgate/"

_Static_assert(sizeof(enum log_level) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum source_type) == sizeof(int), "enum fields are stored as int");

/* How a key's value is parsed, checked, stored and printed. */
enum config__type {
	CT_ID,            /* [A-Za-z0-9._-]{1,128}: goes into event ids and documents */
	CT_TEXT,          /* any non-empty text */
	CT_OPT_TEXT,      /* any text, "" = none */
	CT_PATH,          /* non-empty path, relative = to data_dir */
	CT_OPT_PATH,      /* path or "" = none */
	CT_BOOL,          /* int 0/1 */
	CT_INT,           /* int in [min, max] */
	CT_UINT,          /* unsigned in [min, max] */
	CT_U64,           /* uint64_t, any */
	CT_RATE,          /* double in (0, max] */
	CT_DURATION_MS,   /* int64_t milliseconds from "30s" "15m" "12h" "7d" or seconds */
	CT_DURATION_S,    /* int seconds, same syntax */
	CT_MB,            /* int64_t bytes from a number of MiB in [min, max] */
	CT_ENUM,          /* int index into names */
	CT_TOPIC_LEVEL,   /* int: "off" / -1, or 0..63 */
	CT_MQTT_URI,      /* scheme://host:port */
	CT_TOPIC_FILTERS, /* comma-separated MQTT topic filters */
	CT_PUB_TOPIC,     /* an MQTT topic to publish to: no wildcards */
	CT_BROKERS,       /* host:port[,host:port] */
	CT_KAFKA_TOPIC,   /* a Kafka topic name */
	CT_URL,           /* http(s)://host[:port][/path] */
	CT_ES_INDEX,      /* an Elasticsearch index name */
	CT_LISTEN,        /* host:port, "" = disabled */
	CT_COUNT          /* the number of types */
};

/* One known key: where it lives in struct config and what it accepts. */
struct config__key {
	const char *section;       /* section name, as in config__sections */
	const char *name;          /* key name */
	enum config__type type;    /* how the value is parsed */
	size_t off;                /* offsetof(struct config, field) */
	size_t size;               /* sizeof the field */
	long long min, max;        /* range for numbers (durations: seconds) */
	const char *const *names;  /* CT_ENUM: names indexed by value, NULL-terminated */
	const char *expected;      /* the "(expected ...)" text, NULL = from the type */
};

static const char *const config__sections[] = {
	"agent", "source", "simulator", "mqtt", "models", "buffer", "kafka",
	"elasticsearch", "http", "alerts", NULL
};

static const char *const config__log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const config__source_types[] = { "simulator", "mqtt", NULL };
static const char *const config__sync_modes[] = { "normal", "full", NULL };

#define CONFIG__F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

/* Every key, in the order config_print() writes them (SPEC §2 order). */
static const struct config__key config__keys[] = {
	{ "agent", "gateway_id", CT_ID, CONFIG__F(gateway_id), 0, 0, NULL, NULL },
	{ "agent", "site", CT_ID, CONFIG__F(site), 0, 0, NULL, NULL },
	{ "agent", "data_dir", CT_PATH, CONFIG__F(data_dir), 0, 0, NULL, NULL },
	{ "agent", "log_level", CT_ENUM, CONFIG__F(log_level), 0, 0, config__log_levels,
	  "error, warn, info or debug" },
	{ "source", "type", CT_ENUM, CONFIG__F(source), 0, 0, config__source_types,
	  "mqtt or simulator" },
	{ "simulator", "sensors", CT_UINT, CONFIG__F(sim_sensors), 1, 1000000, NULL, NULL },
	{ "simulator", "rate", CT_RATE, CONFIG__F(sim_rate), 0, 1000000, NULL, NULL },
	{ "simulator", "seed", CT_U64, CONFIG__F(sim_seed), 0, 0, NULL, NULL },
	{ "simulator", "time_scale", CT_RATE, CONFIG__F(sim_time_scale), 0, 100000, NULL, NULL },
	{ "simulator", "drift_after", CT_U64, CONFIG__F(sim_drift_after), 0, 0, NULL, NULL },
	{ "mqtt", "uri", CT_MQTT_URI, CONFIG__F(mqtt_uri), 0, 0, NULL, NULL },
	{ "mqtt", "topic", CT_TOPIC_FILTERS, CONFIG__F(mqtt_topic), 0, 0, NULL, NULL },
	{ "mqtt", "qos", CT_INT, CONFIG__F(mqtt_qos), 0, 2, NULL, "0, 1 or 2" },
	{ "mqtt", "client_id", CT_TEXT, CONFIG__F(mqtt_client_id), 0, 0, NULL, NULL },
	{ "mqtt", "clean_session", CT_BOOL, CONFIG__F(mqtt_clean_session), 0, 0, NULL, NULL },
	{ "mqtt", "username", CT_OPT_TEXT, CONFIG__F(mqtt_username), 0, 0, NULL, NULL },
	{ "mqtt", "password_file", CT_OPT_PATH, CONFIG__F(mqtt_password_file), 0, 0, NULL, NULL },
	{ "mqtt", "ca_file", CT_OPT_PATH, CONFIG__F(mqtt_ca_file), 0, 0, NULL, NULL },
	{ "mqtt", "cert_file", CT_OPT_PATH, CONFIG__F(mqtt_cert_file), 0, 0, NULL, NULL },
	{ "mqtt", "key_file", CT_OPT_PATH, CONFIG__F(mqtt_key_file), 0, 0, NULL, NULL },
	{ "mqtt", "keepalive", CT_INT, CONFIG__F(mqtt_keepalive), 5, 3600, NULL, NULL },
	{ "mqtt", "sensor_id_topic_level", CT_TOPIC_LEVEL, CONFIG__F(mqtt_sensor_id_topic_level),
	  -1, CONFIG_TOPIC_LEVEL_MAX, NULL, "off or a topic level from 0 to 63" },
	{ "models", "dir", CT_PATH, CONFIG__F(models_dir), 0, 0, NULL, NULL },
	{ "models", "watch", CT_BOOL, CONFIG__F(models_watch), 0, 0, NULL, NULL },
	{ "models", "shadow_dir", CT_OPT_PATH, CONFIG__F(models_shadow_dir), 0, 0, NULL, NULL },
	{ "models", "shadow_in_events", CT_BOOL, CONFIG__F(models_shadow_in_events), 0, 0, NULL, NULL },
	{ "models", "input_drift_window", CT_DURATION_MS, CONFIG__F(models_input_drift_window_ms),
	  10, 30 * 86400, NULL, NULL },
	{ "models", "max_sensors", CT_UINT, CONFIG__F(models_max_sensors), 1, 100000000, NULL,
	  "an integer from 1 to 100000000: sensors with rolling state, about 360 bytes each" },
	{ "models", "sensor_idle_timeout", CT_DURATION_MS, CONFIG__F(models_sensor_idle_timeout_ms),
	  0, 3650LL * 86400, NULL, "0 (never) or a duration such as 30m, 12h or 7d, at most 3650d" },
	{ "buffer", "path", CT_PATH, CONFIG__F(buffer_path), 0, 0, NULL, NULL },
	{ "buffer", "max_mb", CT_MB, CONFIG__F(buffer_max_bytes), 1, 1048576, NULL, NULL },
	{ "buffer", "retention", CT_DURATION_MS, CONFIG__F(buffer_retention_ms), 0, 3650LL * 86400,
	  NULL, NULL },
	{ "buffer", "sync", CT_ENUM, CONFIG__F(buffer_sync_full), 0, 0, config__sync_modes,
	  "normal or full" },
	{ "buffer", "commit_ms", CT_INT, CONFIG__F(buffer_commit_ms), 1, 10000, NULL, NULL },
	{ "kafka", "enabled", CT_BOOL, CONFIG__F(kafka_enabled), 0, 0, NULL, NULL },
	{ "kafka", "brokers", CT_BROKERS, CONFIG__F(kafka_brokers), 0, 0, NULL, NULL },
	{ "kafka", "topic", CT_KAFKA_TOPIC, CONFIG__F(kafka_topic), 0, 0, NULL, NULL },
	{ "elasticsearch", "enabled", CT_BOOL, CONFIG__F(es_enabled), 0, 0, NULL, NULL },
	{ "elasticsearch", "url", CT_URL, CONFIG__F(es_url), 0, 0, NULL, NULL },
	{ "elasticsearch", "index", CT_ES_INDEX, CONFIG__F(es_index), 0, 0, NULL, NULL },
	{ "elasticsearch", "username", CT_OPT_TEXT, CONFIG__F(es_username), 0, 0, NULL, NULL },
	{ "elasticsearch", "password_file", CT_OPT_PATH, CONFIG__F(es_password_file), 0, 0, NULL, NULL },
	{ "elasticsearch", "api_key_file", CT_OPT_PATH, CONFIG__F(es_api_key_file), 0, 0, NULL, NULL },
	{ "elasticsearch", "ca_file", CT_OPT_PATH, CONFIG__F(es_ca_file), 0, 0, NULL, NULL },
	{ "http", "listen", CT_LISTEN, CONFIG__F(http_listen), 0, 0, NULL, NULL },
	{ "alerts", "enabled", CT_BOOL, CONFIG__F(alerts_enabled), 0, 0, NULL, NULL },
	{ "alerts", "topic", CT_PUB_TOPIC, CONFIG__F(alerts_topic), 0, 0, NULL, NULL },
	{ "alerts", "min_interval", CT_DURATION_S, CONFIG__F(alerts_min_interval_s), 0, 86400,
	  NULL, NULL },
};

#define CONFIG__NKEYS (sizeof config__keys / sizeof config__keys[0])
#define CONFIG__PROPERTY "property."

/* The state of one load: the reader's and the handler's shared context. */
struct config__load {
	struct config *c;             /* the struct being filled */
	const char *path;             /* the file as the user gave it, for messages */
	FILE *fp;                     /* the open file */
	char *line;                   /* getline() buffer */
	size_t linecap;               /* its capacity */
	int lineno;                   /* lines read so far = line of the current line */
	int section;                  /* index of the current section, -1 before any */
	int read_errno;               /* errno of a read error, 0 if none */
	int line_of[CONFIG__NKEYS];   /* line that set each key, 0 = not set */
	int failed;                   /* err holds the first error */
	int fail_line;                /* its line, 0 = none */
	char *err;                    /* the caller's error buffer (may be NULL) */
	size_t errlen;                /* its size */
};

/* Record the first error: "FILE:LINE: message" or "FILE: message" (line 0). */
__attribute__((format(printf, 3, 4)))
static void config__fail(struct config__load *ld, int line, const char *fmt, ...)
{
	va_list ap;
	size_t n = 0;
	int k;

	if (ld->failed)
		return;
	ld->failed = 1;
	ld->fail_line = line;
	if (!ld->err || ld->errlen == 0)
		return;
	if (line > 0)
		k = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);
	else
		k = snprintf(ld->err, ld->errlen, "%s: ", ld->path);
	if (k > 0)
		n = (size_t)k < ld->errlen ? (size_t)k : ld->errlen - 1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
	va_end(ap);
}

/* Record an error about one key: "FILE:LINE: [section] key: message". */
__attribute__((format(printf, 5, 6)))
static void config__key_fail(struct config__load *ld, int line, const char *section,
			     const char *name, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	config__fail(ld, line, "[%s] %s: %s", section, name, msg);
}

/* Copy src into dst[size]; returns -1 (with a truncated copy) if it does not fit. */
static int config__copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	assert(size > 0);
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

/* Join names with ", " into buf (for "expected one of ..." lists). */
static const char *config__join(char *buf, size_t len, const char *const *names, size_t n)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n && used < len; i++) {
		int k = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	return buf;
}

static int config__section_index(const char *name)
{
	int i;

	for (i = 0; config__sections[i]; i++)
		if (strcmp(config__sections[i], name) == 0)
			return i;
	return -1;
}

static int config__key_index(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG__NKEYS; i++)
		if (strcmp(config__keys[i].section, section) == 0 &&
		    strcmp(config__keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The line that set section/name, 0 if it kept its default. */
static int config__line(const struct config__load *ld, const char *section, const char *name)
{
	int i = config__key_index(section, name);

	assert(i >= 0);
	return ld->line_of[i];
}

/* ---- value syntax ---------------------------------------------------- */

static int config__valid_id(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CONFIG_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

static int config__scan_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* A decimal integer: 0, -1 if it is not one, -2 if it overflows. */
static int config__scan_ll(const char *v, long long *out)
{
	const char *p = v;
	char *end;

	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	*out = strtoll(v, &end, 10);
	if (*end != '\0')
		return -1;
	return errno == ERANGE ? -2 : 0;
}

/* "30s" "15m" "12h" "7d" or plain seconds: 0, -1 bad syntax, -2 overflow. */
static int config__scan_duration(const char *v, long long *seconds)
{
	unsigned long long n;
	long long mult = 1;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno == ERANGE)
		return -2;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else
		return -1;
	if (n > (unsigned long long)(INT64_MAX / 1000 / mult))
		return -2;
	*seconds = (long long)n * mult;
	return 0;
}

/* Host name, IPv4 address or [IPv6] in s[0..len), then ":port" (optional unless need_port). */
static int config__valid_hostport(const char *s, size_t len, int need_port)
{
	size_t i = 0, host_end;
	unsigned long port = 0;
	size_t digits = 0;

	if (len == 0)
		return 0;
	if (s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && !strchr(":.", s[i]))
				return 0;
		if (i >= len || i == 1)
			return 0;
		i++;
		host_end = i;
	} else {
		for (; i < len && s[i] != ':'; i++)
			if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
				return 0;
		host_end = i;
		if (host_end == 0 || host_end > 253)
			return 0;
	}
	if (host_end == len)
		return !need_port;
	if (s[host_end] != ':')
		return 0;
	for (i = host_end + 1; i < len; i++) {
		if (!isdigit((unsigned char)s[i]) || ++digits > 5)
			return 0;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	return digits > 0 && port >= 1 && port <= 65535;
}

/* http(s)://host[:port][/path], no credentials, query or fragment. */
static int config__valid_url(const char *v, const char **why)
{
	const char *rest, *slash;
	size_t i, n;

	*why = NULL;
	if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else
		return 0;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (memchr(rest, '@', n)) {
		*why = "credentials in the URL are not allowed";
		return 0;
	}
	if (slash)
		for (i = 0; slash[i]; i++)
			if (isspace((unsigned char)slash[i]) || strchr("?#", slash[i]))
				return 0;
	return config__valid_hostport(rest, n, 0);
}

/*
 * Split a comma-separated list, trim blanks around each item, check each with
 * ok(), and write the list back without the blanks. Returns 0, or -1 with the
 * first bad item (trimmed) in bad.
 */
static int config__list(const char *v, char *out, size_t outlen, int (*ok)(const char *, size_t),
			char *bad, size_t badlen)
{
	size_t used = 0;
	const char *p = v;

	out[0] = '\0';
	for (;;) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		size_t n;

		while (p < end && isspace((unsigned char)*p))
			p++;
		while (end > p && isspace((unsigned char)end[-1]))
			end--;
		n = (size_t)(end - p);
		if (!ok(p, n)) {
			snprintf(bad, badlen, "%.*s", (int)n, p);
			return -1;
		}
		if (used + n + 2 > outlen) {
			snprintf(bad, badlen, "%s", v);
			return -1;
		}
		if (used)
			out[used++] = ',';
		memcpy(out + used, p, n);
		used += n;
		out[used] = '\0';
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int config__valid_broker(const char *s, size_t len)
{
	return config__valid_hostport(s, len, 1);
}

/* ---- storing values -------------------------------------------------- */

/* Copy the size bytes at v into key k's field (of exactly that size). */
static void config__store(struct config *c, const struct config__key *k, const void *v, size_t size)
{
	assert(k->size == size);
	memcpy((char *)c + k->off, v, size);
}

static void config__store_int(struct config *c, const struct config__key *k, int v)
{
	config__store(c, k, &v, sizeof v);
}

static int config__load_int(const struct config *c, const struct config__key *k)
{
	int v;

	assert(k->size == sizeof v);
	memcpy(&v, (const char *)c + k->off, sizeof v);
	return v;
}

/* ---- the value types: parse ------------------------------------------ */

/*
 * Each type's parse function checks value v of key k (set on the current
 * line; exp is the key's "(expected ...)" text, for messages). It stores the
 * converted value itself (CP_STORED), leaves storing the text as written to
 * config__set() (CP_TEXT), or records the error and returns CP_FAILED.
 * config__set() has already refused an empty value if the type does.
 */
enum config__parsed {
	CP_FAILED = -1, /* rejected: the error is recorded in ld */
	CP_STORED = 0,  /* converted and stored in the key's field */
	CP_TEXT = 1,    /* valid as written: config__set() copies the text */
};

/* Record "[section] key: 'V' is WHAT (expected EXP)" on the current line. */
static int config__reject(struct config__load *ld, const struct config__key *k, const char *v,
			  const char *what, const char *exp)
{
	config__key_fail(ld, ld->lineno, k->section, k->name, "'%s' is %s (expected %s)", v, what, exp);
	return CP_FAILED;
}

/* Record "[section] key: V is out of range (expected EXP)" on the current line. */
static int config__out_of_range(struct config__load *ld, const struct config__key *k, const char *v,
				const char *exp)
{
	config__key_fail(ld, ld->lineno, k->section, k->name, "%s is out of range (expected %s)", v, exp);
	return CP_FAILED;
}

/* An integer in [min, max] into *n (one that overflows is out of range): 0, or -1 recorded. */
static int config__ranged(struct config__load *ld, const struct config__key *k, const char *v,
			  const char *exp, long long *n)
{
	switch (config__scan_ll(v, n)) {
	case -1:
		config__reject(ld, k, v, "not an integer", exp);
		return -1;
	case -2:
		*n = k->min - 1;
		break;
	}
	if (*n < k->min || *n > k->max) {
		config__out_of_range(ld, k, v, exp);
		return -1;
	}
	return 0;
}

/* A duration in [min, max] seconds into *n (one that overflows is out of range): 0, or -1 recorded. */
static int config__ranged_duration(struct config__load *ld, const struct config__key *k,
				   const char *v, const char *exp, long long *n)
{
	switch (config__scan_duration(v, n)) {
	case -1:
		config__reject(ld, k, v, "not a duration", exp);
		return -1;
	case -2:
		*n = k->max + 1;
		break;
	}
	if (*n < k->min || *n > k->max) {
		config__out_of_range(ld, k, v, exp);
		return -1;
	}
	return 0;
}

/* A comma-separated list whose items pass ok(), stored without the blanks around items. */
static int config__store_list(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp, int (*ok)(const char *, size_t))
{
	char norm[CONFIG_STR_MAX], bad[CONFIG_STR_MAX];

	if (config__list(v, norm, sizeof norm, ok, bad, sizeof bad) < 0)
		return config__reject(ld, k, bad, "not valid", exp);
	assert(k->size >= sizeof norm);
	memcpy((char *)ld->c + k->off, norm, sizeof norm);
	return CP_STORED;
}

static int config__parse_id(struct config__load *ld, const struct config__key *k, const char *v,
			    const char *exp)
{
	return config__valid_id(v) ? CP_TEXT : config__reject(ld, k, v, "not valid", exp);
}

/* Text and paths take any text; paths are resolved by config__finish(). */
static int config__parse_text(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp)
{
	(void)ld, (void)k, (void)v, (void)exp;
	return CP_TEXT;
}

static int config__parse_bool(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp)
{
	int b;

	if (config__scan_bool(v, &b) < 0)
		return config__reject(ld, k, v, "not a boolean", exp);
	config__store_int(ld->c, k, b);
	return CP_STORED;
}

static int config__parse_int(struct config__load *ld, const struct config__key *k, const char *v,
			     const char *exp)
{
	long long n;

	if (config__ranged(ld, k, v, exp, &n) < 0)
		return CP_FAILED;
	config__store_int(ld->c, k, (int)n);
	return CP_STORED;
}

static int config__parse_uint(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp)
{
	long long n;
	unsigned u;

	if (config__ranged(ld, k, v, exp, &n) < 0)
		return CP_FAILED;
	u = (unsigned)n;
	config__store(ld->c, k, &u, sizeof u);
	return CP_STORED;
}

/* Digits only (no sign), all of uint64_t. */
static int config__parse_u64(struct config__load *ld, const struct config__key *k, const char *v,
			     const char *exp)
{
	uint64_t u;
	size_t i;

	for (i = 0; v[i]; i++)
		if (!isdigit((unsigned char)v[i]))
			return config__reject(ld, k, v, "not an integer", exp);
	errno = 0;
	u = strtoull(v, NULL, 10);
	if (errno == ERANGE)
		return config__out_of_range(ld, k, v, exp);
	config__store(ld->c, k, &u, sizeof u);
	return CP_STORED;
}

static int config__parse_rate(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp)
{
	double d;
	char *end;

	if (!isdigit((unsigned char)v[0]) && v[0] != '.' && v[0] != '-')
		return config__reject(ld, k, v, "not a number", exp);
	d = strtod(v, &end);
	if (end == v || *end != '\0')
		return config__reject(ld, k, v, "not a number", exp);
	if (!isfinite(d) || !(d > 0) || d > (double)k->max)
		return config__out_of_range(ld, k, v, exp);
	config__store(ld->c, k, &d, sizeof d);
	return CP_STORED;
}

static int config__parse_duration_ms(struct config__load *ld, const struct config__key *k,
				     const char *v, const char *exp)
{
	long long n;
	int64_t ms;

	if (config__ranged_duration(ld, k, v, exp, &n) < 0)
		return CP_FAILED;
	ms = (int64_t)n * 1000;
	config__store(ld->c, k, &ms, sizeof ms);
	return CP_STORED;
}

static int config__parse_duration_s(struct config__load *ld, const struct config__key *k,
				    const char *v, const char *exp)
{
	long long n;

	if (config__ranged_duration(ld, k, v, exp, &n) < 0)
		return CP_FAILED;
	config__store_int(ld->c, k, (int)n);
	return CP_STORED;
}

static int config__parse_mb(struct config__load *ld, const struct config__key *k, const char *v,
			    const char *exp)
{
	long long n;
	int64_t bytes;

	if (config__ranged(ld, k, v, exp, &n) < 0)
		return CP_FAILED;
	bytes = (int64_t)n * 1024 * 1024;
	config__store(ld->c, k, &bytes, sizeof bytes);
	return CP_STORED;
}

/* One of k->names, any case; stored as its index. */
static int config__parse_enum(struct config__load *ld, const struct config__key *k, const char *v,
			      const char *exp)
{
	int i;

	for (i = 0; k->names[i]; i++)
		if (strcasecmp(v, k->names[i]) == 0) {
			config__store_int(ld->c, k, i);
			return CP_STORED;
		}
	return config__reject(ld, k, v, "not valid", exp);
}

static int config__parse_topic_level(struct config__load *ld, const struct config__key *k,
				     const char *v, const char *exp)
{
	if (strcasecmp(v, "off") == 0) {
		config__store_int(ld->c, k, -1);
		return CP_STORED;
	}
	return config__parse_int(ld, k, v, exp);
}

static int config__parse_mqtt_uri(struct config__load *ld, const struct config__key *k,
				  const char *v, const char *exp)
{
	return mqtt_uri_valid(v) ? CP_TEXT : config__reject(ld, k, v, "not valid", exp);
}

static int config__parse_topic_filters(struct config__load *ld, const struct config__key *k,
				       const char *v, const char *exp)
{
	return config__store_list(ld, k, v, exp, mqtt_filter_valid);
}

static int config__parse_pub_topic(struct config__load *ld, const struct config__key *k,
				   const char *v, const char *exp)
{
	return mqtt_pub_topic_valid(v) ? CP_TEXT : config__reject(ld, k, v, "not valid", exp);
}

static int config__parse_brokers(struct config__load *ld, const struct config__key *k,
				 const char *v, const char *exp)
{
	return config__store_list(ld, k, v, exp, config__valid_broker);
}

static int config__parse_kafka_topic(struct config__load *ld, const struct config__key *k,
				     const char *v, const char *exp)
{
	return kafka_topic_valid(v) ? CP_TEXT : config__reject(ld, k, v, "not valid", exp);
}

/* Credentials in the URL get their own message: they belong in their own keys. */
static int config__parse_url(struct config__load *ld, const struct config__key *k, const char *v,
			     const char *exp)
{
	const char *why;

	if (config__valid_url(v, &why))
		return CP_TEXT;
	if (!why)
		return config__reject(ld, k, v, "not valid", exp);
	config__key_fail(ld, ld->lineno, k->section, k->name,
			 "%s (expected username and password_file or api_key_file)", why);
	return CP_FAILED;
}

static int config__parse_es_index(struct config__load *ld, const struct config__key *k,
				  const char *v, const char *exp)
{
	return es_index_valid(v) ? CP_TEXT : config__reject(ld, k, v, "not valid", exp);
}

/* host:port, or "" to disable. */
static int config__parse_listen(struct config__load *ld, const struct config__key *k, const char *v,
				const char *exp)
{
	if (*v && !config__valid_hostport(v, strlen(v), 1))
		return config__reject(ld, k, v, "not valid", exp);
	return CP_TEXT;
}

/* ---- the value types: the "(expected ...)" texts that use min and max -- */

static const char *config__expected_int(const struct config__key *k, char *buf, size_t len)
{
	snprintf(buf, len, "an integer from %lld to %lld", k->min, k->max);
	return buf;
}

static const char *config__expected_mb(const struct config__key *k, char *buf, size_t len)
{
	snprintf(buf, len, "a size in MiB from %lld to %lld", k->min, k->max);
	return buf;
}

static const char *config__expected_rate(const struct config__key *k, char *buf, size_t len)
{
	snprintf(buf, len, "a number greater than 0, at most %lld", k->max);
	return buf;
}

static const char *config__expected_duration(const struct config__key *k, char *buf, size_t len)
{
	snprintf(buf, len, "a duration such as 30s, 15m, 12h or 7d, at most %lldd", k->max / 86400);
	return buf;
}

/* ---- the value types: format (the syntax config_load() reads) --------- */

/* A duration in its largest whole unit: 7d, 12h, 15m, 30s. */
static void config__format_duration(char *buf, size_t len, long long s)
{
	if (s != 0 && s % 86400 == 0)
		snprintf(buf, len, "%lldd", s / 86400);
	else if (s != 0 && s % 3600 == 0)
		snprintf(buf, len, "%lldh", s / 3600);
	else if (s != 0 && s % 60 == 0)
		snprintf(buf, len, "%lldm", s / 60);
	else
		snprintf(buf, len, "%llds", s);
}

/* Every type stored as text (as normalised by its parse function). */
static const char *config__format_string(const struct config *c, const struct config__key *k,
					 char *buf, size_t len)
{
	(void)buf, (void)len;
	return (const char *)c + k->off;
}

static const char *config__format_bool(const struct config *c, const struct config__key *k,
				       char *buf, size_t len)
{
	(void)buf, (void)len;
	return config__load_int(c, k) ? "true" : "false";
}

static const char *config__format_int(const struct config *c, const struct config__key *k,
				      char *buf, size_t len)
{
	snprintf(buf, len, "%d", config__load_int(c, k));
	return buf;
}

static const char *config__format_uint(const struct config *c, const struct config__key *k,
				       char *buf, size_t len)
{
	unsigned u;

	memcpy(&u, (const char *)c + k->off, sizeof u);
	snprintf(buf, len, "%u", u);
	return buf;
}

static const char *config__format_u64(const struct config *c, const struct config__key *k,
				      char *buf, size_t len)
{
	uint64_t u;

	memcpy(&u, (const char *)c + k->off, sizeof u);
	snprintf(buf, len, "%" PRIu64, u);
	return buf;
}

static const char *config__format_rate(const struct config *c, const struct config__key *k,
				       char *buf, size_t len)
{
	double d;

	memcpy(&d, (const char *)c + k->off, sizeof d);
	snprintf(buf, len, "%.17g", d);
	return buf;
}

static const char *config__format_duration_ms(const struct config *c, const struct config__key *k,
					      char *buf, size_t len)
{
	int64_t ms;

	memcpy(&ms, (const char *)c + k->off, sizeof ms);
	config__format_duration(buf, len, (long long)(ms / 1000));
	return buf;
}

static const char *config__format_duration_s(const struct config *c, const struct config__key *k,
					     char *buf, size_t len)
{
	config__format_duration(buf, len, config__load_int(c, k));
	return buf;
}

static const char *config__format_mb(const struct config *c, const struct config__key *k,
				     char *buf, size_t len)
{
	int64_t bytes;

	memcpy(&bytes, (const char *)c + k->off, sizeof bytes);
	snprintf(buf, len, "%" PRId64, bytes / (1024 * 1024));
	return buf;
}

static const char *config__format_enum(const struct config *c, const struct config__key *k,
				       char *buf, size_t len)
{
	int v = config__load_int(c, k);

	(void)buf, (void)len;
	assert(v >= 0);
	return k->names[v];
}

static const char *config__format_topic_level(const struct config *c, const struct config__key *k,
					      char *buf, size_t len)
{
	if (config__load_int(c, k) < 0)
		return "off";
	return config__format_int(c, k, buf, len);
}

/* ---- the value types: the table ---------------------------------------- */

/* How values of one type are parsed, described in errors and printed. */
struct config__type_ops {
	int (*parse)(struct config__load *ld, const struct config__key *k, const char *v,
		     const char *exp);  /* check, convert, store: CP_STORED, CP_TEXT or CP_FAILED */
	const char *expected;     /* the "(expected ...)" text; NULL = expected_fn's */
	const char *(*expected_fn)(const struct config__key *k, char *buf,
				   size_t len); /* the text for types whose range is per key */
	const char *(*format)(const struct config *c, const struct config__key *k, char *buf,
			      size_t len); /* the value as config_load() reads it, for config_print() */
	int empty_ok;             /* 1: "" is a value (none, disabled), not an error */
};

/* Indexed by enum config__type. A key's own expected text overrides its type's. */
static const struct config__type_ops config__types[CT_COUNT] = {
	[CT_ID] = { config__parse_id, "1 to 128 characters from A-Z a-z 0-9 . _ -", NULL,
		    config__format_string, 0 },
	[CT_TEXT] = { config__parse_text, "text", NULL, config__format_string, 0 },
	[CT_OPT_TEXT] = { config__parse_text, "text", NULL, config__format_string, 1 },
	[CT_PATH] = { config__parse_text, "a path, relative to data_dir or absolute", NULL,
		      config__format_string, 0 },
	[CT_OPT_PATH] = { config__parse_text, "a path, relative to data_dir or absolute", NULL,
			  config__format_string, 1 },
	[CT_BOOL] = { config__parse_bool, "true or false, yes or no, on or off, 1 or 0", NULL,
		      config__format_bool, 0 },
	[CT_INT] = { config__parse_int, NULL, config__expected_int, config__format_int, 0 },
	[CT_UINT] = { config__parse_uint, NULL, config__expected_int, config__format_uint, 0 },
	[CT_U64] = { config__parse_u64, "an integer from 0 to 18446744073709551615", NULL,
		     config__format_u64, 0 },
	[CT_RATE] = { config__parse_rate, NULL, config__expected_rate, config__format_rate, 0 },
	[CT_DURATION_MS] = { config__parse_duration_ms, NULL, config__expected_duration,
			     config__format_duration_ms, 0 },
	[CT_DURATION_S] = { config__parse_duration_s, NULL, config__expected_duration,
			    config__format_duration_s, 0 },
	[CT_MB] = { config__parse_mb, NULL, config__expected_mb, config__format_mb, 0 },
	/* Keys of these two types name their values themselves (config__key.expected). */
	[CT_ENUM] = { config__parse_enum, "a valid value", NULL, config__format_enum, 0 },
	[CT_TOPIC_LEVEL] = { config__parse_topic_level, "a valid value", NULL,
			     config__format_topic_level, 0 },
	[CT_MQTT_URI] = { config__parse_mqtt_uri,
			  "tcp://, ssl://, mqtt://, mqtts://, ws:// or wss:// then host:port", NULL,
			  config__format_string, 0 },
	[CT_TOPIC_FILTERS] = { config__parse_topic_filters, "MQTT topic filters separated by commas",
			       NULL, config__format_string, 0 },
	[CT_PUB_TOPIC] = { config__parse_pub_topic, "an MQTT topic without + or #", NULL,
			   config__format_string, 0 },
	[CT_BROKERS] = { config__parse_brokers, "host:port[,host:port]", NULL, config__format_string,
			 0 },
	[CT_KAFKA_TOPIC] = { config__parse_kafka_topic, "1 to 249 characters from A-Z a-z 0-9 . _ -",
			     NULL, config__format_string, 0 },
	[CT_URL] = { config__parse_url, "http://host[:port][/path] or https://host[:port][/path]",
		     NULL, config__format_string, 0 },
	[CT_ES_INDEX] = { config__parse_es_index,
			  "a lowercase index name without spaces or \\ / * ? \" < > | , # : "
			  "and not starting with - _ +", NULL, config__format_string, 0 },
	[CT_LISTEN] = { config__parse_listen, "host:port, or empty to disable", NULL,
			config__format_string, 1 },
};

/* The "(expected ...)" text of key k: its own, or its type's. */
static const char *config__expected(const struct config__key *k, char *buf, size_t len)
{
	const struct config__type_ops *t = &config__types[k->type];

	if (k->expected)
		return k->expected;
	return t->expected_fn ? t->expected_fn(k, buf, len) : t->expected;
}

/* Parse, check and store value v for key k (set on the current line). */
static void config__set(struct config__load *ld, const struct config__key *k, const char *v)
{
	const struct config__type_ops *t = &config__types[k->type];
	char ebuf[160];
	const char *exp = config__expected(k, ebuf, sizeof ebuf);
	size_t n = strlen(v);

	assert(t->parse && t->format);
	if (n == 0 && !t->empty_ok) {
		config__key_fail(ld, ld->lineno, k->section, k->name, "empty value (expected %s)", exp);
		return;
	}
	if (t->parse(ld, k, v, exp) != CP_TEXT)
		return;
	if (n >= k->size) {
		config__key_fail(ld, ld->lineno, k->section, k->name,
				 "value too long (expected at most %zu bytes)", k->size - 1);
		return;
	}
	memcpy((char *)ld->c + k->off, v, n + 1);
}

/* [kafka] property.NAME = VALUE */
static void config__set_property(struct config__load *ld, const char *key, const char *v)
{
	struct config *c = ld->c;
	const char *name = key + strlen(CONFIG__PROPERTY);
	struct kafka_property *p;
	char why[512];
	size_t i;

	if (*name == '\0' || strpbrk(name, " \t")) {
		config__key_fail(ld, ld->lineno, "kafka", key,
				 "invalid property name (expected property.NAME = VALUE, "
				 "NAME a librdkafka property)");
		return;
	}
	for (i = 0; i < c->kafka_nprops; i++) {
		if (strcmp(c->kafka_props[i].name, name) == 0) {
			config__key_fail(ld, ld->lineno, "kafka", key,
					 "duplicate key (first set on line %d)", c->kafka_props[i].line);
			return;
		}
	}
	if (*v == '\0') {
		config__key_fail(ld, ld->lineno, "kafka", key,
				 "empty value (expected a librdkafka property value)");
		return;
	}
	if (kafka_check_property(name, v, why, sizeof why) < 0) {
		config__key_fail(ld, ld->lineno, "kafka", key, "%s", why);
		return;
	}
	if (c->kafka_nprops == CONFIG_KAFKA_PROPS_MAX) {
		config__key_fail(ld, ld->lineno, "kafka", key,
				 "too many properties (expected at most %d)", CONFIG_KAFKA_PROPS_MAX);
		return;
	}
	p = &c->kafka_props[c->kafka_nprops];
	if (config__copy(p->name, sizeof p->name, name) < 0 ||
	    config__copy(p->value, sizeof p->value, v) < 0) {
		config__key_fail(ld, ld->lineno, "kafka", key,
				 "value too long (expected at most %zu bytes)", sizeof p->value - 1);
		return;
	}
	p->line = ld->lineno;
	c->kafka_nprops++;
}

/* ---- inih callbacks -------------------------------------------------- */

/* inih handler: one key = value of the line the reader returned last. */
static int config__on_key(void *user, const char *section, const char *name, const char *value)
{
	struct config__load *ld = user;
	char list[512];
	const char *names[CONFIG__NKEYS];
	size_t n = 0, i;
	int idx;

	if (ld->failed)
		return 1;
	if (ld->section < 0) {
		config__fail(ld, ld->lineno, "%s: key outside any section (expected a [section] line first)",
			     name);
		return 1;
	}
	assert(strcmp(section, config__sections[ld->section]) == 0);
	section = config__sections[ld->section];
	if (!value) {
		config__fail(ld, ld->lineno, "syntax error (expected key = value or [section])");
		return 1;
	}
	if (strcmp(section, "kafka") == 0 &&
	    strncmp(name, CONFIG__PROPERTY, strlen(CONFIG__PROPERTY)) == 0) {
		config__set_property(ld, name, value);
		return 1;
	}
	idx = config__key_index(section, name);
	if (idx < 0) {
		for (i = 0; i < CONFIG__NKEYS; i++)
			if (strcmp(config__keys[i].section, section) == 0)
				names[n++] = config__keys[i].name;
		config__join(list, sizeof list, names, n);
		config__key_fail(ld, ld->lineno, section, name, "unknown key (expected one of %s%s)", list,
				 strcmp(section, "kafka") == 0 ? ", property.NAME" : "");
		return 1;
	}
	if (ld->line_of[idx]) {
		config__key_fail(ld, ld->lineno, section, name, "duplicate key (first set on line %d)",
				 ld->line_of[idx]);
		return 1;
	}
	ld->line_of[idx] = ld->lineno;
	config__set(ld, &config__keys[idx], value);
	return 1;
}

/*
 * inih reader: the next line, with comments and surrounding blanks removed
 * (so the line length limit applies to content only, and an indented line
 * is never taken as a continuation). Checks section headers and the
 * key = value shape itself, so syntax errors carry our message and line.
 * Returns NULL at the end, on a read error and after the first error.
 */
static char *config__read_line(char *str, int num, void *stream)
{
	struct config__load *ld = stream;
	char *p, *q, *end;
	size_t len;
	ssize_t n;

	if (ld->failed)
		return NULL;
	errno = 0;
	n = getline(&ld->line, &ld->linecap, ld->fp);
	if (n < 0) {
		if (ferror(ld->fp))
			ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ld->lineno++;
	p = ld->line;
	if ((size_t)n != strlen(p)) {
		config__fail(ld, ld->lineno, "NUL byte in line (expected text)");
		return NULL;
	}
	if (ld->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* UTF-8 byte order mark */
	while (isspace((unsigned char)*p))
		p++;
	if (*p == ';' || *p == '#')
		*p = '\0';
	for (q = p; *q; q++) {
		if (*q == ';' && q > p && isspace((unsigned char)q[-1])) {
			*q = '\0'; /* inline comment, as inih defines it */
			break;
		}
	}
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';

	if (*p == '[') {
		char *name = p + 1, *close = strchr(p, ']');
		int idx;

		if (!close || close[1] != '\0') {
			config__fail(ld, ld->lineno, "syntax error (expected key = value or [section])");
			return NULL;
		}
		while (isspace((unsigned char)*name))
			name++;
		while (close > name && isspace((unsigned char)close[-1]))
			close--;
		*close = '\0';
		idx = config__section_index(name);
		if (idx < 0) {
			char list[256];
			size_t nsec = sizeof config__sections / sizeof config__sections[0] - 1;

			config__fail(ld, ld->lineno, "unknown section [%s] (expected one of %s)", name,
				     config__join(list, sizeof list, config__sections, nsec));
			return NULL;
		}
		ld->section = idx;
		snprintf(str, (size_t)num, "[%s]\n", config__sections[idx]);
		return str;
	}
	if (*p) {
		q = strpbrk(p, "=:");
		if (!q || *q != '=' || q == p) {
			config__fail(ld, ld->lineno, "syntax error (expected key = value or [section])");
			return NULL;
		}
	}
	len = strlen(p);
	if (num < 3 || len + 2 > (size_t)num) {
		config__fail(ld, ld->lineno,
			     "line too long (expected at most %d characters, not counting comments)",
			     num < 3 ? 0 : num - 2);
		return NULL;
	}
	memcpy(str, p, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* ---- after parsing ----------------------------------------------------- */

/* Remove "." components, doubled and trailing slashes of an absolute path. */
static void config__clean_path(char *path)
{
	char *r = path, *w = path;

	assert(path[0] == '/');
	while (*r) {
		if (r[0] == '/' && (r[1] == '/' || r[1] == '\0')) {
			r++;
			continue;
		}
		if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			r += 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w == path)
		*w++ = '/';
	*w = '\0';
}

/* dir + "/" + rel into out[size]; -1 if it does not fit. */
static int config__join_path(char *out, size_t size, const char *dir, const char *rel)
{
	char tmp[2 * CONFIG_PATH_MAX + 2];
	int k = snprintf(tmp, sizeof tmp, "%s/%s", dir, rel);

	if (k < 0 || (size_t)k >= sizeof tmp)
		return -1;
	config__clean_path(tmp);
	return config__copy(out, size, tmp);
}

/*
 * Fill the derived defaults, make paths absolute and check settings against
 * each other. Goes on after an error (config_defaults() wants every field),
 * keeping the first one.
 */
static void config__finish(struct config__load *ld)
{
	struct config *c = ld->c;
	char cwd[CONFIG_PATH_MAX], tmp[CONFIG_PATH_MAX];
	int line, l2;
	size_t i;

	if (!config__line(ld, "agent", "site") && !config__valid_id(c->site))
		config__fail(ld, 0, "site name derived from the file name is invalid; set [agent] site");
	if (!config__line(ld, "agent", "gateway_id") && !config__valid_id(c->gateway_id))
		config__fail(ld, 0, "host name '%s' is not a valid gateway_id; set [agent] gateway_id",
			     c->gateway_id);

	line = config__line(ld, "agent", "data_dir");
	c->data_dir_line = line;
	if (!line) {
		snprintf(c->data_dir, sizeof c->data_dir, "%s%s", CONFIG_DEFAULT_DATA_ROOT, c->site);
	} else if (c->data_dir[0] != '/') {
		if (!getcwd(cwd, sizeof cwd))
			config__key_fail(ld, line, "agent", "data_dir",
					 "cannot resolve '%s' against the current directory: %s",
					 c->data_dir, strerror(errno));
		else if (config__copy(tmp, sizeof tmp, c->data_dir) < 0 ||
			 config__join_path(c->data_dir, sizeof c->data_dir, cwd, tmp) < 0)
			config__key_fail(ld, line, "agent", "data_dir",
					 "path too long after resolving (expected at most %d bytes)",
					 CONFIG_PATH_MAX - 1);
	} else {
		config__clean_path(c->data_dir);
	}

	if (!config__line(ld, "mqtt", "client_id"))
		snprintf(c->mqtt_client_id, sizeof c->mqtt_client_id, "fieldgate-%.*s",
			 CONFIG_ID_MAX, c->site);

	for (i = 0; i < CONFIG__NKEYS; i++) {
		const struct config__key *k = &config__keys[i];
		char *field = (char *)c + k->off;

		if ((k->type != CT_PATH && k->type != CT_OPT_PATH) || field == c->data_dir)
			continue;
		if (field[0] == '\0')
			continue;
		if (field[0] == '/') {
			config__clean_path(field);
			continue;
		}
		if (config__copy(tmp, sizeof tmp, field) < 0 ||
		    config__join_path(field, k->size, c->data_dir, tmp) < 0)
			config__key_fail(ld, ld->line_of[i], k->section, k->name,
					 "path too long after resolving against data_dir "
					 "(expected at most %zu bytes)", k->size - 1);
	}

	/* Settings that are wrong together: name the line of the later key. */
	if (c->models_shadow_in_events && !c->models_shadow_dir[0])
		config__key_fail(ld, config__line(ld, "models", "shadow_in_events"), "models",
				 "shadow_in_events", "true without shadow_dir (expected shadow_dir = the "
				 "directory of the candidate set)");
	if (c->mqtt_cert_file[0] && !c->mqtt_key_file[0])
		config__key_fail(ld, config__line(ld, "mqtt", "cert_file"), "mqtt", "cert_file",
				 "set without key_file (expected both cert_file and key_file, or neither)");
	if (c->mqtt_key_file[0] && !c->mqtt_cert_file[0])
		config__key_fail(ld, config__line(ld, "mqtt", "key_file"), "mqtt", "key_file",
				 "set without cert_file (expected both cert_file and key_file, or neither)");
	if (!mqtt_uri_is_tls(c->mqtt_uri)) {
		const char *tls_keys[] = { "ca_file", "cert_file", "key_file" };
		const char *tls_values[] = { c->mqtt_ca_file, c->mqtt_cert_file, c->mqtt_key_file };

		for (i = 0; i < sizeof tls_keys / sizeof tls_keys[0]; i++)
			if (tls_values[i][0])
				config__key_fail(ld, config__line(ld, "mqtt", tls_keys[i]), "mqtt",
						 tls_keys[i], "set but uri %s does not use TLS "
						 "(expected an ssl://, mqtts:// or wss:// uri)", c->mqtt_uri);
	}
	if (c->mqtt_password_file[0] && !c->mqtt_username[0])
		config__key_fail(ld, config__line(ld, "mqtt", "password_file"), "mqtt", "password_file",
				 "set without username (expected username as well)");

	if (c->kafka_enabled && (!c->kafka_brokers[0] || !c->kafka_topic[0]))
		config__key_fail(ld, config__line(ld, "kafka", "enabled"), "kafka", "enabled",
				 "no brokers or topic (expected brokers and topic to be set)");

	line = config__line(ld, "elasticsearch", "api_key_file");
	l2 = config__line(ld, "elasticsearch", "username");
	if (c->es_api_key_file[0] && c->es_username[0]) {
		if (line > l2)
			config__key_fail(ld, line, "elasticsearch", "api_key_file",
					 "cannot be combined with username "
					 "(expected either api_key_file, or username and password_file)");
		else
			config__key_fail(ld, l2, "elasticsearch", "username",
					 "cannot be combined with api_key_file "
					 "(expected either api_key_file, or username and password_file)");
	}
	if (c->es_username[0] && !c->es_password_file[0])
		config__key_fail(ld, l2, "elasticsearch", "username",
				 "set without password_file (expected password_file as well)");
	if (c->es_password_file[0] && !c->es_username[0])
		config__key_fail(ld, config__line(ld, "elasticsearch", "password_file"),
				 "elasticsearch", "password_file",
				 "set without username (expected username as well)");
	if (c->es_ca_file[0] && strncmp(c->es_url, "https://", 8) != 0)
		config__key_fail(ld, config__line(ld, "elasticsearch", "ca_file"), "elasticsearch",
				 "ca_file", "set but url %s does not use TLS (expected an https:// url)",
				 c->es_url);
}

/* The defaults before the derived ones: data_dir and client_id stay empty. */
static void config__raw_defaults(struct config *c, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	memset(c, 0, sizeof *c);
	config__copy(c->file, sizeof c->file, path);

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	if (n < sizeof c->site) {
		memcpy(c->site, base, n);
		c->site[n] = '\0';
	}
	if (gethostname(c->gateway_id, sizeof c->gateway_id) < 0)
		c->gateway_id[0] = '\0';
	c->gateway_id[sizeof c->gateway_id - 1] = '\0';

	c->log_level = LOG_INFO;
	c->source = SOURCE_MQTT;
	c->sim_sensors = 100;
	c->sim_rate = 1.0;
	c->sim_seed = 42;
	c->sim_time_scale = 1.0;
	c->models_input_drift_window_ms = (int64_t)86400 * 1000;
	c->models_max_sensors = FEATURES_MAX_SENSORS_DEFAULT;
	c->models_sensor_idle_timeout_ms = 0;
	config__copy(c->mqtt_uri, sizeof c->mqtt_uri, "tcp://127.0.0.1:1883");
	config__copy(c->mqtt_topic, sizeof c->mqtt_topic, "sensors/+/reading");
	c->mqtt_qos = 1;
	c->mqtt_clean_session = 0;
	c->mqtt_keepalive = 30;
	c->mqtt_sensor_id_topic_level = -1;
	config__copy(c->models_dir, sizeof c->models_dir, "/usr/share/fieldgate/models");
	config__copy(c->buffer_path, sizeof c->buffer_path, "buffer.db");
	c->buffer_max_bytes = (int64_t)1024 * 1024 * 1024;
	c->buffer_retention_ms = (int64_t)7 * 86400 * 1000;
	c->buffer_sync_full = 0;
	c->buffer_commit_ms = 10;
	c->kafka_enabled = 0;
	config__copy(c->kafka_brokers, sizeof c->kafka_brokers, "127.0.0.1:9092");
	config__copy(c->kafka_topic, sizeof c->kafka_topic, "sensor-scored");
	c->es_enabled = 0;
	config__copy(c->es_url, sizeof c->es_url, "http://127.0.0.1:9200");
	config__copy(c->es_index, sizeof c->es_index, "sensors-scored");
	config__copy(c->http_listen, sizeof c->http_listen, "127.0.0.1:9108");
	c->alerts_enabled = 0;
	config__copy(c->alerts_topic, sizeof c->alerts_topic, "alerts/{sensor_id}");
	c->alerts_min_interval_s = 60;
}

void config_defaults(struct config *c, const char *path)
{
	struct config__load ld;

	assert(c && path);
	memset(&ld, 0, sizeof ld);
	ld.c = c;
	ld.path = path;
	ld.section = -1;
	config__raw_defaults(c, path);
	config__finish(&ld); /* errors are config_load()'s to report */
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config__load ld;
	int rc;

	assert(c && path);
	memset(&ld, 0, sizeof ld);
	ld.c = c;
	ld.path = path;
	ld.section = -1;
	ld.err = err;
	ld.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	config__raw_defaults(c, path);
	if (strlen(path) >= sizeof c->file) {
		config__fail(&ld, 0, "file name too long (expected at most %zu bytes)", sizeof c->file - 1);
		goto fail;
	}
	ld.fp = fopen(path, "r");
	if (!ld.fp) {
		config__fail(&ld, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	rc = ini_parse_stream(config__read_line, &ld, config__on_key, &ld);
	if (ld.read_errno) {
		ld.failed = 0;
		config__fail(&ld, 0, "cannot read: %s", strerror(ld.read_errno));
	} else if (rc == -2) {
		ld.failed = 0;
		config__fail(&ld, 0, "out of memory");
	} else if (rc > 0 && (!ld.failed || rc < ld.fail_line)) {
		/* inih saw a syntax error that our reader let through. */
		ld.failed = 0;
		config__fail(&ld, rc, "syntax error (expected key = value or [section])");
	}
	if (ld.failed)
		goto fail;
	config__finish(&ld);
fail:
	if (ld.fp)
		fclose(ld.fp);
	free(ld.line);
	return ld.failed ? 2 : 0;
}

/* ---- printing -------------------------------------------------------- */

/*
 * librdkafka properties that hold a secret rather than point to one
 * (sasl.password, ssl.key.password, sasl.oauthbearer.client.secret,
 * ssl.key.pem): printed as "(redacted)", since check-config output ends up
 * in terminals, tickets and logs.
 */
static int config__secret_property(const char *name)
{
	return strstr(name, "password") || strstr(name, "secret") || strstr(name, ".pem");
}

/* What goes between "key =" and a printed value: a space, except before an
 * empty value or one that starts with ';' (which "key =;x" gave: inih takes
 * ';' as a comment only after whitespace, so "key = ;x" would read back as
 * an empty value). */
static const char *config__print_gap(const char *v)
{
	return *v && *v != ';' ? " " : "";
}

int config_print(const struct config *c, FILE *out)
{
	char buf[64];
	int bad = 0;
	size_t s, i;

	assert(c && out);
	if (fprintf(out, "; effective settings of site %s\n", c->site) < 0)
		bad = 1;
	for (s = 0; config__sections[s]; s++) {
		if (fprintf(out, "\n[%s]\n", config__sections[s]) < 0)
			bad = 1;
		for (i = 0; i < CONFIG__NKEYS; i++) {
			const struct config__key *k = &config__keys[i];
			const char *v;

			if (strcmp(k->section, config__sections[s]) != 0)
				continue;
			v = config__types[k->type].format(c, k, buf, sizeof buf);
			if (fprintf(out, "%s =%s%s\n", k->name, config__print_gap(v), v) < 0)
				bad = 1;
		}
		if (strcmp(config__sections[s], "kafka") == 0)
			for (i = 0; i < c->kafka_nprops; i++) {
				const char *pv = config__secret_property(c->kafka_props[i].name) ?
						 "(redacted)" : c->kafka_props[i].value;

				if (fprintf(out, "%s%s =%s%s\n", CONFIG__PROPERTY, c->kafka_props[i].name,
					    config__print_gap(pv), pv) < 0)
					bad = 1;
			}
	}
	if (ferror(out))
		bad = 1;
	return bad ? -1 : 0;
}
