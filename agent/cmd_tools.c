/*
 * cmd_tools.c - the operator's small commands: `simulate`, `check-config`,
 * `status`, `version` (`replay` is in cmd_replay.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/datadir.h"
#include "agent/drift.h"
#include "agent/log.h"
#include "agent/scorer.h"
#include "agent/sink_setup.h"
#include "agent/source_mqtt.h"
#include "agent/state.h"
#include "sensors/mqtt.h"
#include "sensors/event.h"
#include "sensors/reading.h"
#include "sensors/sim.h"
#include "sinks/es.h"
#include "sinks/kafka.h"
#include "store/store.h"

/* ---- simulate ---- */

/* What the publisher's state callback saw last, for the error message. */
struct sim_pub {
	char last_error[512]; /* last failure detail */
};

static void simulate__pub_state(void *ctx, enum mqtt_state st, const char *detail)
{
	struct sim_pub *p = ctx;
	if (st == MQTT_DISCONNECTED) {
		snprintf(p->last_error, sizeof p->last_error, "%s", detail);
		fprintf(stderr, "fieldgate simulate: %s; reconnecting\n", detail);
	}
}

/*
 * Publish `count` readings (0 = no end) at `per_s` messages a second to uri,
 * surviving broker restarts: QoS >= 1 uses a persistent session, so Paho
 * resends what the broker had not acknowledged. Exits 0 once every message
 * is acknowledged (QoS >= 1) or written (QoS 0).
 */
static int simulate__mqtt(struct sim *sim, unsigned long long count, double per_s,
			  const char *uri, const char *topic_tpl, int qos)
{
	struct sim_pub sp = { "" };
	struct mqtt_client *c = NULL;
	struct mqtt_client_stats cs;
	char id[64], err[512], topic[512], line[2048];
	struct reading r;
	struct mqtt_options mo = {
		.uri = uri, .client_id = id, .clean_session = qos == 0, .keepalive_s = 30,
		/* QoS 2 needs a small window: mosquitto cuts off a client with
		 * more incoming QoS 2 messages in flight than max_inflight_messages. */
		.max_inflight = qos == 2 ? 10 : 1000, .seed = (uint64_t)getpid(),
	};
	int64_t t0;
	unsigned long long i;
	long left;
	int rc = EXIT_RUNTIME;

	snprintf(id, sizeof id, "fieldgate-simulate-%ld", (long)getpid());
	if (mqtt_client_start(&c, &mo, NULL, simulate__pub_state, &sp, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate simulate: %s\n", err);
		return EXIT_USAGE;
	}
	if (mqtt_client_wait_connected(c, 10000) < 0) {
		fprintf(stderr, "fieldgate simulate: cannot connect to %s within 10 s: %s\n", uri,
			sp.last_error[0] ? sp.last_error : "no answer");
		goto out;
	}
	t0 = clock_mono_ms();
	for (i = 0; count == 0 || i < count; i++) {
		int64_t due = t0 + (int64_t)((double)i * 1000.0 / per_s), now = clock_mono_ms();
		int n;
		if (due > now + 1) {
			struct timespec ts = { (due - now) / 1000, (long)((due - now) % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		sim_next(sim, &r);
		n = reading_encode(&r, line, sizeof line);
		if (n < 0 || mqtt_topic_expand(topic_tpl, r.sensor_id, topic, sizeof topic) < 0) {
			fprintf(stderr, "fieldgate simulate: topic or reading too long\n");
			goto out;
		}
		/* Broker away: wait for the reconnection and publish again. */
		while (mqtt_client_publish(c, topic, line, (size_t)n, qos, 30000, err, sizeof err) < 0) {
			if (mqtt_client_wait_connected(c, 60000) < 0) {
				fprintf(stderr, "fieldgate simulate: %s; gave up after 60 s\n", err);
				goto out;
			}
		}
	}
	left = mqtt_client_flush(c, 60000);
	mqtt_client_get_stats(c, &cs);
	if (left > 0 || cs.failed > 0) {
		fprintf(stderr, "fieldgate simulate: %ld messages not acknowledged by %s after 60 s, "
			"%llu failed\n", left, uri, (unsigned long long)cs.failed);
		goto out;
	}
	fprintf(stderr, "fieldgate simulate: published %llu readings to %s at QoS %d in %.1f s (%.0f/s)\n",
		i, uri, qos, (double)(clock_mono_ms() - t0) / 1000.0,
		(double)i * 1000.0 / (double)(clock_mono_ms() - t0 + 1));
	rc = 0;
out:
	mqtt_client_stop(&c, 2000);
	return rc;
}

static void simulate__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate simulate [--sensors N] [--rate HZ] [--count N] [--seed S]\n"
		"                          [--start TIME] [--realtime] --out FILE|-\n"
		"Emit simulated sensor readings as JSON lines (sensors/SIMULATOR.md describes them).\n"
		"  --sensors N   sensors (100)            --rate HZ   readings/s per sensor (1)\n"
		"  --count N     readings, 0 = no end (0) --seed S    random seed (42)\n"
		"  --start TIME  first timestamp, RFC 3339 or epoch ms (now)\n"
		"  --drift-after N  from the N-th reading on, every other sensor reads 10 °C warmer\n"
		"                (input drift, for testing drift detection; 0 = never, the default)\n"
		"  --realtime    pace output at the given rate (default: as fast as possible,\n"
		"                with simulated timestamps)\n"
		"  --out FILE    write to FILE, - for stdout\n"
		"  --mqtt URI --topic T --qos Q   publish to an MQTT broker instead\n");
}

int cmd_simulate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sensors", required_argument, NULL, 'n' }, { "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' }, { "seed", required_argument, NULL, 's' },
		{ "start", required_argument, NULL, 'S' }, { "realtime", no_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' }, { "mqtt", required_argument, NULL, 'm' },
		{ "topic", required_argument, NULL, 't' }, { "qos", required_argument, NULL, 'q' },
		{ "drift-after", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	struct sim_options so = { .sensors = 100, .rate = 1, .seed = 42, .start_ms = clock_wall_ms() };
	unsigned long long count = 0, u;
	const char *out = NULL, *mqtt = NULL, *topic = "sensors/{sensor_id}/reading";
	int c, c2, realtime = 0, rc = 0, qos = 1;
	struct sim *sim = NULL;
	struct reading r;
	char err[512], line[2048];
	FILE *f;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': if (cli_parse_u64(optarg, &u) < 0 || u < 1 || u > 1000000) goto bad;
			so.sensors = (unsigned)u; break;
		case 'r': if (cli_parse_double(optarg, &so.rate) < 0 || so.rate <= 0 || so.rate > 1e6) goto bad; break;
		case 'c': if (cli_parse_u64(optarg, &count) < 0) goto bad; break;
		case 's': if (cli_parse_u64(optarg, &u) < 0) goto bad; so.seed = u; break;
		case 'S': if (reading_parse_time(optarg, &so.start_ms) < 0) goto bad; break;
		case 'R': realtime = 1; break;
		case 'D': if (cli_parse_u64(optarg, &u) < 0) goto bad; so.drift_after = u; break;
		case 'o': out = optarg; break;
		case 'm': mqtt = optarg; break;
		case 't': topic = optarg; break;
		case 'q': if (cli_parse_u64(optarg, &u) < 0 || u > 2) goto bad; qos = (int)u; break;
		case 'h': simulate__usage(stdout); return 0;
		default: simulate__usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (!out && !mqtt) || (out && mqtt)) {
		simulate__usage(stderr);
		return EXIT_USAGE;
	}
	if (mqtt) {
		if (qos < 0 || qos > 2) {
			fprintf(stderr, "fieldgate simulate: --qos must be 0, 1 or 2\n");
			return EXIT_USAGE;
		}
		if (sim_create(&sim, &so, err, sizeof err) < 0) {
			fprintf(stderr, "fieldgate simulate: %s\n", err);
			return EXIT_USAGE;
		}
		rc = simulate__mqtt(sim, count, (double)so.sensors * so.rate, mqtt, topic, qos);
		sim_free(&sim);
		return rc;
	}
	if (strcmp(out, "-") == 0)
		f = stdout;
	else if (!(f = fopen(out, "w"))) {
		fprintf(stderr, "%s: cannot create: %s\n", out, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (sim_create(&sim, &so, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate simulate: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	for (unsigned long long i = 0; count == 0 || i < count; i++) {
		int n;
		if (realtime) {
			int64_t due = sim_next_time(sim), now = clock_wall_ms();
			if (due > now) {
				struct timespec ts = { (due - now) / 1000, (long)((due - now) % 1000) * 1000000L };
				fflush(f);
				nanosleep(&ts, NULL);
			}
		}
		sim_next(sim, &r);
		n = reading_encode(&r, line, sizeof line - 1);
		if (n < 0)
			continue; /* cannot happen: simulated readings are short */
		line[n++] = '\n';
		if (fwrite(line, 1, (size_t)n, f) != (size_t)n)
			break;
	}
out:
	if (f == stdout ? fflush(f) != 0 : fclose(f) != 0) {
		fprintf(stderr, "%s: write error: %s\n", out, strerror(errno));
		rc = EXIT_RUNTIME;
	}
	sim_free(&sim);
	return rc;
bad:
	for (c2 = 0; opts[c2].name && opts[c2].val != c; c2++)
		;
	fprintf(stderr, "fieldgate simulate: bad value '%s' for --%s (see fieldgate simulate --help)\n",
		optarg, opts[c2].name ? opts[c2].name : "?");
	return EXIT_USAGE;
}

/* ---- check-config ---- */

/* Parse "-c FILE [--json] [--user NAME]" for the config commands (json and
 * user NULL: not taken). 0, or an exit status. */
static int tools__config_args_user(int argc, char **argv, const char *usage, const char **path,
				   int *json, const char **user)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	*path = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *path = optarg; break;
		case 'u': if (user) { *user = optarg; break; }
			fprintf(stderr, "%s", usage); return EXIT_USAGE;
		case 'j': if (json) { *json = 1; break; } /* fall through */
		default: fprintf(stderr, "%s", usage); return EXIT_USAGE;
		case 'h': printf("%s", usage); return -1;
		}
	}
	if (!*path || optind != argc) {
		fprintf(stderr, "%s", usage);
		return EXIT_USAGE;
	}
	return 0;
}

static int tools__config_args(int argc, char **argv, const char *usage, const char **path, int *json)
{
	return tools__config_args_user(argc, argv, usage, path, json, NULL);
}

int cmd_check_config(int argc, char **argv)
{
	const char *path, *user = NULL;
	struct config *cfg;
	struct scorer *sc = NULL;
	char err[1024];
	int rc = tools__config_args_user(argc, argv,
				    "usage: fieldgate check-config -c FILE [--user NAME]\n"
				    "Parse and validate a site config, its models and shadow set, and that\n"
				    "data_dir can hold the buffer for the user the agent runs as (--user; by\n"
				    "default, run as root: " DATADIR_SERVICE_USER " if that user exists, else you);\n"
				    "print the effective settings (secrets are never printed). Exit 0 if valid,\n"
				    "2 if not.\n",
				    &path, NULL, &user);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config(path, &cfg)) != 0)
		return rc;
	/* Whether the service user can keep its buffer there: `run` would
	 * otherwise fail with only SQLite's "unable to open database file". */
	{
		struct datadir_user u;
		if (datadir_user(user, &u, err, sizeof err) < 0) {
			fprintf(stderr, "fieldgate check-config: %s %s: %s\n",
				user ? "--user" : "FIELDGATE_SERVICE_USER", user ? user : getenv("FIELDGATE_SERVICE_USER"), err);
			free(cfg);
			return EXIT_USAGE;
		}
		if (datadir_check(cfg->data_dir, cfg->buffer_path, &u, !cfg->data_dir_line, err,
				  sizeof err) < 0) {
			if (cfg->data_dir_line)
				fprintf(stderr, "%s:%d: [agent] data_dir: %s\n", path, cfg->data_dir_line, err);
			else
				fprintf(stderr, "%s: [agent] data_dir (default): %s\n", path, err);
			free(cfg);
			return EXIT_USAGE;
		}
	}
	if (scorer_load(&sc, cfg->models_dir, err, sizeof err) < 0) {
		fprintf(stderr, "%s: [models] dir: %s\n", path, err);
		free(cfg);
		return EXIT_USAGE;
	}
	scorer_free(&sc);
	/* The agent runs without a shadow set that does not load; check-config says so. */
	if (cfg->models_shadow_dir[0] &&
	    scorer_load(&sc, cfg->models_shadow_dir, err, sizeof err) < 0) {
		fprintf(stderr, "%s: [models] shadow_dir: %s\n", path, err);
		free(cfg);
		return EXIT_USAGE;
	}
	scorer_free(&sc);
	rc = config_print(cfg, stdout) < 0 ? EXIT_RUNTIME : 0;
	free(cfg);
	return rc;
}

/* ---- status ---- */

static void status__print_time(const char *label, int64_t ms)
{
	char t[READING_TIME_LEN];
	if (ms <= 0) {
		printf("%s -\n", label);
		return;
	}
	reading_format_time(ms, t);
	printf("%s %s\n", label, t);
}

/* One live value of a sink from the agent's state file ("0" when absent). */
static const char *status__sink(const struct state *st, const char *sink, const char *field)
{
	char k[96];

	snprintf(k, sizeof k, "sink.%s.%s", sink, field);
	return state_value(st, k, "0");
}

static void status__live_sink_json(const struct state *st, const char *sink)
{
	printf(",\"state\":\"%s\",\"delivered\":%s,\"rejected\":%s,\"retried\":%s,\"inflight\":%s,"
	       "\"latency_ms\":{\"p50\":%s,\"p99\":%s,\"max\":%s}",
	       status__sink(st, sink, "state"), status__sink(st, sink, "delivered"),
	       status__sink(st, sink, "rejected"), status__sink(st, sink, "retried"),
	       status__sink(st, sink, "inflight"), status__sink(st, sink, "latency_p50_ms"),
	       status__sink(st, sink, "latency_p99_ms"), status__sink(st, sink, "latency_max_ms"));
}

static void status__live_sink_text(const struct state *st, const char *sink)
{
	printf("  now: %s; since start %s delivered, %s rejected, %s retries; "
	       "delivery latency p50 %s ms, p99 %s ms\n",
	       status__sink(st, sink, "state"), status__sink(st, sink, "delivered"),
	       status__sink(st, sink, "rejected"), status__sink(st, sink, "retried"),
	       status__sink(st, sink, "latency_p50_ms"), status__sink(st, sink, "latency_p99_ms"));
}

/* A number from the state file as JSON (null when absent). */
static const char *status__num(const struct state *st, const char *key)
{
	const char *v = state_get(st, key);
	return v && *v ? v : "null";
}

/* A text from the state file as a JSON string into q (null when absent or empty). */
static const char *status__str(const struct state *st, const char *key, char *q, size_t cap)
{
	const char *v = state_get(st, key);
	return v && *v && event_json_string(v, q, cap) >= 0 ? q : "null";
}

static void status__models_drift_json(const struct state *st)
{
	char dir[1200], why[1200];

	printf(",\"models\":{\"status\":\"%s\",\"anomaly\":\"%s\",\"humidity\":\"%s\",\"dir\":%s,"
	       "\"reloads\":%s,\"reloads_refused\":%s,\"reload_error\":%s}",
	       state_value(st, "models.status", ""), state_value(st, "models.anomaly", ""),
	       state_value(st, "models.humidity", ""), status__str(st, "models.dir", dir, sizeof dir),
	       status__num(st, "models.reloads"), status__num(st, "models.reloads_refused"),
	       status__str(st, "models.reload_error", why, sizeof why));
	printf(",\"drift\":{\"window_s\":%s,\"readings\":%s,\"humidity_rmse\":%s,"
	       "\"humidity_rmse_trained\":%s,\"status_labelled\":%s,\"status_accuracy\":%s,"
	       "\"status_accuracy_trained\":%s,\"anomaly_labelled\":%s,\"anomaly_accuracy\":%s,"
	       "\"anomaly_accuracy_trained\":%s}",
	       status__num(st, "drift.window_s"), status__num(st, "drift.readings"),
	       status__num(st, "drift.humidity_rmse"), status__num(st, "drift.humidity_rmse_trained"),
	       status__num(st, "drift.status_labelled"), status__num(st, "drift.status_accuracy"),
	       status__num(st, "drift.status_accuracy_trained"), status__num(st, "drift.anomaly_labelled"),
	       status__num(st, "drift.anomaly_accuracy"), status__num(st, "drift.anomaly_accuracy_trained"));
}

/* "input_drift":{...}: the window and each watched feature's PSI. */
static void status__input_drift_json(const struct state *st)
{
	const char *d = state_value(st, "input_drift.drifting", "");
	int first = 1;

	printf(",\"input_drift\":{\"window_s\":%s,\"covered_s\":%s,\"full\":%s,\"readings\":%s,"
	       "\"drifting\":[", status__num(st, "input_drift.window_s"),
	       status__num(st, "input_drift.covered_s"),
	       strcmp(state_value(st, "input_drift.full", "0"), "1") == 0 ? "true" : "false",
	       status__num(st, "input_drift.readings"));
	for (const char *p = d; *p;) {
		size_t n = strcspn(p, ",");
		printf("%s\"%.*s\"", p == d ? "" : ",", (int)n, p);
		p += n + (p[n] == ',');
	}
	printf("],\"psi\":{");
	for (size_t i = 0; i < st->n; i++) {
		const char *k = st->kv[i].key;
		if (strncmp(k, "input_drift.psi.", 16) != 0)
			continue;
		printf("%s\"%s\":%s", first ? "" : ",", k + 16, st->kv[i].value);
		first = 0;
	}
	printf("}}");
}

/* "input drift: ..." line: each watched feature's PSI, the drifting ones marked. */
static void status__input_drift_text(const struct state *st)
{
	const char *d = state_value(st, "input_drift.drifting", "");
	int full = strcmp(state_value(st, "input_drift.full", "0"), "1") == 0;
	char span[32], window[32];

	drift_format_span(strtoll(state_value(st, "input_drift.covered_s", "0"), NULL, 10) * 1000,
			  span, sizeof span);
	drift_format_span(strtoll(state_value(st, "input_drift.window_s", "0"), NULL, 10) * 1000,
			  window, sizeof window);
	if (full)
		printf("input drift: PSI over the last %s, %s readings (0.25 and above: drifting):", span,
		       state_value(st, "input_drift.readings", "0"));
	else
		printf("input drift: warming up, %s of the %s window seen (no verdict before it is "
		       "full), %s readings:", span, window, state_value(st, "input_drift.readings", "0"));
	for (size_t i = 0; i < st->n; i++) {
		const char *k = st->kv[i].key, *name = k + 16;
		size_t n = strlen(name);
		const char *hit = strstr(d, name);
		int drifting = hit && (hit == d || hit[-1] == ',') && (hit[n] == ',' || !hit[n]);
		if (strncmp(k, "input_drift.psi.", 16) == 0)
			printf(" %s %s%s", name, st->kv[i].value, drifting ? " DRIFTING" : "");
	}
	printf("\n");
}

/* "shadow":{...} when the agent scores with a shadow set. */
static void status__shadow_json(const struct state *st)
{
	static const char *const keys[] = {
		"window_s", "readings", "status_agreement", "anomaly_agreement", "humidity_rms_diff",
		"humidity_rmse", "humidity_rmse_trained", "status_labelled", "status_accuracy",
		"status_accuracy_trained", "anomaly_labelled", "anomaly_accuracy",
		"anomaly_accuracy_trained", "reloads", "reloads_refused",
	};
	char dir[1200], why[1200], sm[160], am[160], hm[160], k[64];

	if (!state_get(st, "shadow.dir"))
		return;
	printf(",\"shadow\":{\"status\":%s,\"anomaly\":%s,\"humidity\":%s,\"dir\":%s,\"reload_error\":%s",
	       status__str(st, "shadow.status", sm, sizeof sm),
	       status__str(st, "shadow.anomaly", am, sizeof am),
	       status__str(st, "shadow.humidity", hm, sizeof hm),
	       status__str(st, "shadow.dir", dir, sizeof dir),
	       status__str(st, "shadow.reload_error", why, sizeof why));
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(k, sizeof k, "shadow.%s", keys[i]);
		printf(",\"%s\":%s", keys[i], status__num(st, k));
	}
	printf("}");
}

/* "shadow: ..." lines: the candidate set beside the live one. */
void status_print_shadow(const struct state *st)
{
	const char *v;

	if (!state_get(st, "shadow.dir"))
		return;
	if (!state_get(st, "shadow.status")) {
		printf("shadow:     not loaded from %s: %s\n", state_get(st, "shadow.dir"),
		       state_value(st, "shadow.reload_error", "?"));
		return;
	}
	printf("shadow:     %s, %s, %s from %s\n", state_get(st, "shadow.status"),
	       state_get(st, "shadow.anomaly"), state_get(st, "shadow.humidity"),
	       state_get(st, "shadow.dir"));
	printf("            last %s s, %s readings: agrees with the live set on status %s, anomaly %s; "
	       "humidity differs by %s %% RH (RMS)\n", state_value(st, "shadow.window_s", "0"),
	       state_value(st, "shadow.readings", "0"), state_value(st, "shadow.status_agreement", "-"),
	       state_value(st, "shadow.anomaly_agreement", "-"),
	       state_value(st, "shadow.humidity_rms_diff", "-"));
	printf("            humidity residual RMSE %s (live %s)",
	       state_value(st, "shadow.humidity_rmse", "-"), state_value(st, "drift.humidity_rmse", "-"));
	if ((v = state_get(st, "shadow.status_accuracy")))
		printf("; status accuracy %s (live %s)", v, state_value(st, "drift.status_accuracy", "-"));
	if ((v = state_get(st, "shadow.anomaly_accuracy")))
		printf("; anomaly accuracy %s (live %s)", v, state_value(st, "drift.anomaly_accuracy", "-"));
	printf("\n");
	if ((v = state_get(st, "shadow.reload_error")))
		printf("            the last shadow reload was refused: %s\n", v);
}

/* "models: ..." and "drift: ..." lines: what the models did on the last
 * minutes' readings beside what they did on their training data. */
static void status__models_drift_text(const struct state *st)
{
	const char *rmse = state_get(st, "drift.humidity_rmse");

	printf("models:     %s, %s, %s from %s (reloaded %s times, %s refused)\n",
	       state_value(st, "models.status", "?"), state_value(st, "models.anomaly", "?"),
	       state_value(st, "models.humidity", "?"), state_value(st, "models.dir", "?"),
	       state_value(st, "models.reloads", "0"), state_value(st, "models.reloads_refused", "0"));
	if (state_get(st, "models.reload_error"))
		printf("            the last reload was refused: %s\n", state_get(st, "models.reload_error"));
	printf("drift:      last %s s, %s readings: humidity residual RMSE %s %% RH (trained %s)",
	       state_value(st, "drift.window_s", "0"), state_value(st, "drift.readings", "0"),
	       rmse ? rmse : "-", state_value(st, "drift.humidity_rmse_trained", "-"));
	if (state_get(st, "drift.status_accuracy"))
		printf("; status accuracy %s on %s labelled (trained %s)",
		       state_get(st, "drift.status_accuracy"), state_value(st, "drift.status_labelled", "0"),
		       state_value(st, "drift.status_accuracy_trained", "-"));
	if (state_get(st, "drift.anomaly_accuracy"))
		printf("; anomaly accuracy %s (trained %s)", state_get(st, "drift.anomaly_accuracy"),
		       state_value(st, "drift.anomaly_accuracy_trained", "-"));
	printf("\n");
}

/* The live part of `status --json`: only while the agent runs. */
static void status__live_json(const struct state *ast)
{
	const char *v;
	char q[600];

	printf(",\"running\":true,\"pid\":%s,\"source\":{\"type\":\"%s\"",
	       state_get(ast, "pid"), state_value(ast, "source_type", "?"));
	if ((v = state_get(ast, "source_state")))
		printf(",\"state\":\"%s\"", v);
	if ((v = state_get(ast, "source_uri")) && event_json_string(v, q, sizeof q) >= 0)
		printf(",\"uri\":%s", q);
	if ((v = state_get(ast, "source_since_ms")))
		printf(",\"since_ms\":%s", v);
	if ((v = state_get(ast, "source_state"))) {
		v = state_get(ast, "source_last_error");
		if (v && *v && event_json_string(v, q, sizeof q) >= 0)
			printf(",\"last_error\":%s", q);
		else
			printf(",\"last_error\":null");
	}
	printf("},\"since_start\":{\"received\":%s,\"accepted\":%s,\"rejected\":%s,"
	       "\"duplicates\":%s},\"buffer_writable\":%s",
	       state_value(ast, "received", "0"),
	       state_value(ast, "accepted", "0"),
	       state_value(ast, "rejected", "0"),
	       state_value(ast, "duplicates", "0"),
	       strcmp(state_value(ast, "buffer_writable", "0"), "1") == 0
	       ? "true" : "false");
	status__models_drift_json(ast);
	status__input_drift_json(ast);
	status__shadow_json(ast);
	if ((v = state_get(ast, "buffer_recovered_from")) &&
	    event_json_string(v, q, sizeof q) >= 0)
		printf(",\"buffer_recovered_from\":%s", q);
	if ((v = state_get(ast, "buffer_salvaged")) && *v && strspn(v, "0123456789") == strlen(v) &&
	    strspn(state_value(ast, "buffer_lost", "0"), "0123456789") ==
	    strlen(state_value(ast, "buffer_lost", "0")))
		printf(",\"buffer_salvaged\":%s,\"buffer_lost\":%s",
		       v, state_value(ast, "buffer_lost", "0"));
	if ((v = state_get(ast, "buffer_lost_ranges")) &&
	    event_json_string(v, q, sizeof q) >= 0)
		printf(",\"buffer_lost_ranges\":%s", q);
}

/* `status --json`: the buffer's figures, and the agent's when live. */
static void status__json(const struct config *cfg, const struct store_stats *s,
			 const struct state *ast, int live)
{
	char q[600];

	printf("{\"gateway_id\":");
	event_json_string(cfg->gateway_id, q, sizeof q);
	printf("%s,\"site\":", q);
	event_json_string(cfg->site, q, sizeof q);
	printf("%s,\"accepted\":%llu,\"rejected\":%llu,\"buffered\":%llu,\"newest_seq\":%llu,"
	       "\"oldest_seq\":%llu,\"oldest_ms\":%lld,\"newest_ms\":%lld,\"bytes\":%lld,"
	       "\"quarantine\":%llu,\"dead_letters\":%llu,"
	       "\"dropped\":{\"expired\":%llu,\"delivered\":%llu,\"undelivered\":%llu},\"sinks\":{",
	       q, (unsigned long long)s->accepted, (unsigned long long)s->quarantined,
	       (unsigned long long)s->events, (unsigned long long)s->newest_seq,
	       (unsigned long long)s->oldest_seq, (long long)s->oldest_ms, (long long)s->newest_ms,
	       (long long)s->bytes, (unsigned long long)s->quarantine_rows,
	       (unsigned long long)s->dead_letters, (unsigned long long)s->drops.expired,
	       (unsigned long long)s->drops.delivered, (unsigned long long)s->drops.undelivered);
	for (size_t i = 0; i < s->nsinks; i++) {
		event_json_string(s->sinks[i].last_error, q, sizeof q);
		printf("%s\"%s\":{\"position\":%llu,\"backlog\":%llu,\"oldest_pending_ms\":%lld,"
		       "\"last_error\":%s", i ? "," : "", s->sinks[i].name,
		       (unsigned long long)s->sinks[i].position, (unsigned long long)s->sinks[i].backlog,
		       (long long)s->sinks[i].oldest_pending_ms, s->sinks[i].last_error[0] ? q : "null");
		if (live)
			status__live_sink_json(ast, s->sinks[i].name);
		printf("}");
	}
	printf("}");
	if (live)
		status__live_json(ast);
	else
		printf(",\"running\":false");
	printf("}\n");
}

/* `status`: the same for a person. */
static void status__text(const struct config *cfg, const struct store_stats *s,
			 const struct state *ast, int live)
{
	if (!live)
		printf("agent:      not running\n");
	else {
		const char *sst = state_get(ast, "source_state"), *le = state_get(ast, "source_last_error");
		printf("agent:      running (pid %s), source %s", state_get(ast, "pid"),
		       state_value(ast, "source_type", "?"));
		if (sst)
			printf(" %s, %s", state_value(ast, "source_uri", ""),
			       sst);
		printf("\n");
		if (sst && le && *le)
			printf("            last source error: %s\n", le);
		status__models_drift_text(ast);
		status__input_drift_text(ast);
		status_print_shadow(ast);
		if (state_get(ast, "buffer_recovered_from"))
			printf("WARNING:    the buffer was damaged at start; the old file is kept as %s\n",
			       state_get(ast, "buffer_recovered_from"));
		if (state_get(ast, "buffer_salvaged"))
			printf("            salvaged %s events from it; lost (unreadable) seqs: %s\n",
			       state_get(ast, "buffer_salvaged"),
			       *state_value(ast, "buffer_lost_ranges", "") ?
			       state_value(ast, "buffer_lost_ranges", "") : "none");
	}
	printf("buffer:     %s (%.1f MB used)\n", cfg->buffer_path, (double)s->bytes / 1e6);
	printf("accepted:   %llu events ever, %llu buffered now (seq %llu..%llu)\n",
	       (unsigned long long)s->accepted, (unsigned long long)s->events,
	       (unsigned long long)s->oldest_seq, (unsigned long long)s->newest_seq);
	status__print_time("oldest:    ", s->oldest_ms);
	status__print_time("newest:    ", s->newest_ms);
	printf("rejected:   %llu readings (%llu in quarantine now)\n",
	       (unsigned long long)s->quarantined, (unsigned long long)s->quarantine_rows);
	printf("dropped:    %llu expired, %llu delivered and %llu undelivered over max_mb\n",
	       (unsigned long long)s->drops.expired, (unsigned long long)s->drops.delivered,
	       (unsigned long long)s->drops.undelivered);
	printf("dead letters: %llu\n", (unsigned long long)s->dead_letters);
	if (s->nsinks == 0)
		printf("sinks:      none enabled\n");
	for (size_t i = 0; i < s->nsinks; i++) {
		printf("sink %s: position %llu, backlog %llu, last error: %s\n", s->sinks[i].name,
		       (unsigned long long)s->sinks[i].position, (unsigned long long)s->sinks[i].backlog,
		       s->sinks[i].last_error[0] ? s->sinks[i].last_error : "none");
		status__print_time("  oldest pending:", s->sinks[i].oldest_pending_ms);
		if (live)
			status__live_sink_text(ast, s->sinks[i].name);
	}
}

int cmd_status(int argc, char **argv)
{
	const char *path;
	struct config *cfg;
	struct store *st = NULL;
	struct store_stats s;
	struct state ast;
	char err[1024];
	int live;
	int json = 0, rc = tools__config_args(argc, argv,
					      "usage: fieldgate status -c FILE [--json]\n"
					      "Show the buffer (events, oldest/newest, size) and each sink's backlog\n"
					      "and last error. Works while the agent runs.\n",
					      &path, &json);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config(path, &cfg)) != 0)
		return rc;
	live = state_read(&ast, cfg->data_dir) == 0 && state_is_live(&ast, clock_wall_ms(), 10000);
	{
		const char *sinks[SINK_SETUP_MAX];
		struct store_options so = { .path = cfg->buffer_path, .readonly = 1, .sinks = sinks,
					    .nsinks = sink_setup_enabled(cfg, sinks) };
		if (access(cfg->buffer_path, F_OK) < 0) {
			fprintf(stderr, "%s: no buffer yet (has the agent run with this config?)\n",
				cfg->buffer_path);
			free(cfg);
			return EXIT_RUNTIME;
		}
		if (store_open(&st, &so, err, sizeof err) < 0 || store_stats(st, &s, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			store_close(&st);
			free(cfg);
			return EXIT_RUNTIME;
		}
	}
	if (json)
		status__json(cfg, &s, &ast, live);
	else
		status__text(cfg, &s, &ast, live);
	store_close(&st);
	free(cfg);
	return 0;
}

/* ---- version ---- */

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("fieldgate %s\n", FIELDGATE_VERSION);
	printf("SQLite %s\ncJSON %s\nPaho MQTT C %s\nlibrdkafka %s\nlibcurl %s\n",
	       store_library_version(), reading_library_version(), mqtt_library_version(),
	       kafka_library_version(), es_library_version());
	return 0;
}
