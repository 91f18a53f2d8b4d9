/*
 * cmd_run.c - `fieldgate run -c FILE`: the agent's top level.
 *
 * It owns everything: config, models, buffer, pipeline, the source (the
 * simulator thread, or the MQTT input on Paho's threads) and alerts. The
 * main thread blocks SIGINT/SIGTERM/SIGHUP before starting any thread and
 * takes them synchronously with sigtimedwait(), so there are no signal
 * handlers at all; between signals it prints the status line (every second
 * on a terminal, every minute otherwise, e.g. under systemd) and rewrites
 * the live-state file that `fieldgate status` reads (state.h).
 *
 * Shutdown order: stop the source (no new readings; MQTT finishes the
 * message in hand), commit the queue, close the buffer.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/alerts.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/drift.h"
#include "agent/forward.h"
#include "agent/http.h"
#include "agent/ingest.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/notify.h"
#include "agent/pipeline.h"
#include "agent/scorer.h"
#include "agent/sink_setup.h"
#include "agent/source_mqtt.h"
#include "agent/source_sim.h"
#include "agent/state.h"
#include "sensors/mqtt.h"
#include "sinks/es.h"
#include "store/store.h"

#define DRAIN_MS 10000 /* how long a stop may spend committing the queue */
#define CHECKPOINT_EVERY_MS 200 /* WAL checkpoints from the main thread */
#define SINK_FLUSH_MS 5000 /* how long a stop may spend delivering what is in flight */

static void status_line(const struct ingest_counters *c, struct store *ro,
			struct pipeline *pipe, uint64_t prev[4], double secs)
{
	uint64_t now[4] = { atomic_load(&c->received), atomic_load(&c->warnings),
			    atomic_load(&c->faults), atomic_load(&c->anomalies) };
	struct store_stats st;
	struct pipeline_stats ps;
	char err[256];

	char sinks[256] = "";
	size_t used = 0;

	pipeline_get_stats(pipe, &ps);
	if (store_stats(ro, &st, err, sizeof err) < 0)
		memset(&st, 0, sizeof st);
	/* The sinks' backlogs: the one number that says a sink is falling behind. */
	for (size_t i = 0; i < st.nsinks && used < sizeof sinks; i++) {
		int n = snprintf(sinks + used, sizeof sinks - used, " | %s backlog %llu",
				 st.sinks[i].name, (unsigned long long)st.sinks[i].backlog);
		if (n > 0)
			used += (size_t)n;
	}
	log_info("agent", "%.0f readings/s | predicted: %llu warnings, %llu faults, "
		 "%llu anomalies | buffer: %llu events, %.1f MB, last seq %llu | rejected %llu%s%s",
		 (double)(now[0] - prev[0]) / secs,
		 (unsigned long long)(now[1] - prev[1]), (unsigned long long)(now[2] - prev[2]),
		 (unsigned long long)(now[3] - prev[3]), (unsigned long long)st.events,
		 (double)st.bytes / 1e6, (unsigned long long)ps.last_seq,
		 (unsigned long long)atomic_load(&c->rejected), sinks,
		 ps.healthy ? "" : " | BUFFER NOT WRITABLE");
	memcpy(prev, now, sizeof now);
}

/* drift.MODEL_labelled, drift.MODEL_accuracy (when any), drift.MODEL_accuracy_trained. */
static void drift_accuracy(struct state *s, const char *model, uint64_t labelled, double acc,
			   double trained)
{
	char k[48];

	snprintf(k, sizeof k, "drift.%s_labelled", model);
	state_set(s, k, "%llu", (unsigned long long)labelled);
	snprintf(k, sizeof k, "drift.%s_accuracy", model);
	if (labelled)
		state_set(s, k, "%.4f", acc);
	snprintf(k, sizeof k, "drift.%s_accuracy_trained", model);
	if (!isnan(trained))
		state_set(s, k, "%.4f", trained);
}

/* Write the drift keys: what the models did over the window, beside what
 * they did on their training data. */
static void drift_state(struct state *s, const struct drift_report *d,
			const double trained[SCORER_NMODELS])
{
	state_set(s, "drift.window_s", "%lld", (long long)d->window_s);
	state_set(s, "drift.readings", "%llu", (unsigned long long)d->readings);
	if (d->readings)
		state_set(s, "drift.humidity_rmse", "%.3f", d->now[SCORER_HUMIDITY]);
	if (!isnan(trained[SCORER_HUMIDITY]))
		state_set(s, "drift.humidity_rmse_trained", "%.3f", trained[SCORER_HUMIDITY]);
	drift_accuracy(s, "status", d->labelled[SCORER_STATUS], d->now[SCORER_STATUS],
		       trained[SCORER_STATUS]);
	drift_accuracy(s, "anomaly", d->labelled[SCORER_ANOMALY], d->now[SCORER_ANOMALY],
		       trained[SCORER_ANOMALY]);
}

/* The live-state file for `fieldgate status` (state.h). */
static void write_state(const struct config *cfg, struct mqtt_source *msrc,
			const struct ingest_counters *c, struct pipeline *pipe,
			struct alerts *alerts, struct forward *const *fws, size_t nfw,
			int64_t started_ms, char models[SCORER_NMODELS][METRICS_NAME_MAX],
			const double trained[SCORER_NMODELS], const struct drift_report *drift,
			const struct store_recovery *rec)
{
	static struct log_ratelimit rl = { .interval_ms = 600000 };
	struct state s = { 0 };
	struct pipeline_stats ps;

	pipeline_get_stats(pipe, &ps);
	state_set(&s, "pid", "%ld", (long)getpid());
	state_set(&s, "updated_ms", "%lld", (long long)clock_wall_ms());
	state_set(&s, "started_ms", "%lld", (long long)started_ms);
	if (msrc)
		mqtt_source_state(msrc, &s);
	else
		state_set(&s, "source_type", "simulator");
	state_set(&s, "received", "%llu", (unsigned long long)atomic_load(&c->received));
	state_set(&s, "accepted", "%llu", (unsigned long long)atomic_load(&c->accepted));
	state_set(&s, "rejected", "%llu", (unsigned long long)atomic_load(&c->rejected));
	state_set(&s, "duplicates", "%llu", (unsigned long long)ps.duplicates);
	state_set(&s, "buffer_writable", "%d", ps.healthy);
	if (rec->recovered)
		state_set(&s, "buffer_recovered_from", "%s", rec->moved_to);
	state_set(&s, "models.status", "%s", models[SCORER_STATUS]);
	state_set(&s, "models.anomaly", "%s", models[SCORER_ANOMALY]);
	state_set(&s, "models.humidity", "%s", models[SCORER_HUMIDITY]);
	drift_state(&s, drift, trained);
	if (alerts) {
		struct alerts_stats as;
		alerts_get_stats(alerts, &as);
		state_set(&s, "alerts_sent", "%llu", (unsigned long long)as.sent);
		state_set(&s, "alerts_limited", "%llu", (unsigned long long)as.limited);
		state_set(&s, "alerts_failed", "%llu", (unsigned long long)as.failed);
	}
	for (size_t i = 0; i < nfw; i++) {
		struct forward_stats fs;
		const char *n = forward_name(fws[i]);
		char k[64];
		forward_get_stats(fws[i], &fs);
		snprintf(k, sizeof k, "sink.%s.state", n);
		state_set(&s, k, "%s", fs.up == 1 ? "delivering" : fs.up == 0 ? "down" : "connecting");
		snprintf(k, sizeof k, "sink.%s.delivered", n);
		state_set(&s, k, "%llu", (unsigned long long)fs.delivered);
		snprintf(k, sizeof k, "sink.%s.rejected", n);
		state_set(&s, k, "%llu", (unsigned long long)fs.rejected);
		snprintf(k, sizeof k, "sink.%s.retried", n);
		state_set(&s, k, "%llu", (unsigned long long)fs.retried);
		snprintf(k, sizeof k, "sink.%s.inflight", n);
		state_set(&s, k, "%llu", (unsigned long long)fs.inflight);
		{
			struct forward_latency fl;
			forward_latency(fws[i], &fl);
			snprintf(k, sizeof k, "sink.%s.latency_p50_ms", n);
			state_set(&s, k, "%d", fl.p50_ms);
			snprintf(k, sizeof k, "sink.%s.latency_p99_ms", n);
			state_set(&s, k, "%d", fl.p99_ms);
			snprintf(k, sizeof k, "sink.%s.latency_max_ms", n);
			state_set(&s, k, "%d", fl.max_ms);
		}
	}
	if (state_write(&s, cfg->data_dir) < 0 && log_ratelimit(&rl, clock_mono_ms(), NULL))
		log_warn("agent", "cannot write %s/%s for fieldgate status: %s", cfg->data_dir,
			 STATE_FILE, strerror(errno));
}

/* Render /metrics and /healthz from one snapshot and hand them to the HTTP
 * server (once a second: store_stats() counts rows in SQL). */
static void publish_metrics(struct http *http, const struct config *cfg,
			    struct mqtt_source *msrc, const struct ingest_counters *c,
			    struct pipeline *pipe, struct store *ro, struct alerts *alerts,
			    struct forward *const *fws, size_t nfw, int64_t started_ms,
			    char models[SCORER_NMODELS][METRICS_NAME_MAX],
			    const struct store_recovery *rec, const struct drift_report *drift,
			    const double trained[SCORER_NMODELS])
{
	struct metrics_snapshot *m = calloc(1, sizeof *m);
	char *mt = NULL, *ht = NULL, err[256];
	size_t mlen = 0, hlen = 0;
	int code;

	if (!m)
		return;
	m->version = FIELDGATE_VERSION;
	m->gateway_id = cfg->gateway_id;
	m->site = cfg->site;
	m->started_ms = started_ms;
	m->max_bytes = cfg->buffer_max_bytes;
	m->recovered_from = rec->recovered ? rec->moved_to : NULL;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		m->drift_now[i] = drift ? drift->now[i] : NAN;
		m->drift_trained[i] = trained[i];
	}
	memcpy(m->model, models, sizeof m->model);
	metrics_take_ingest(m, c);
	pipeline_get_stats(pipe, &m->pipe);
	m->have_store = store_stats(ro, &m->store, err, sizeof err) == 0;
	if (msrc) {
		struct state s = { 0 };
		mqtt_source_state(msrc, &s);
		m->mqtt = 1;
		snprintf(m->source_state, sizeof m->source_state, "%s",
			 state_value(&s, "source_state", ""));
		snprintf(m->source_last_error, sizeof m->source_last_error, "%s",
			 state_value(&s, "source_last_error", ""));
	}
	if (alerts) {
		m->have_alerts = 1;
		alerts_get_stats(alerts, &m->alerts);
	}
	for (size_t i = 0; i < nfw && i < METRICS_SINKS_MAX; i++) {
		struct metrics_sink *k = &m->sinks[m->nsinks++];
		snprintf(k->name, sizeof k->name, "%s", forward_name(fws[i]));
		forward_get_stats(fws[i], &k->fw);
		forward_latency(fws[i], &k->latency);
		for (size_t j = 0; m->have_store && j < m->store.nsinks; j++) {
			if (strcmp(m->store.sinks[j].name, k->name) == 0) {
				k->backlog = m->store.sinks[j].backlog;
				k->oldest_pending_ms = m->store.sinks[j].oldest_pending_ms;
			}
		}
	}
	if (metrics_render(m, &mt, &mlen) == 0 && (code = metrics_health(m, &ht, &hlen)) > 0)
		http_publish(http, mt, mlen, ht, hlen, code);
	else
		free(mt);
	free(m);
}

/* Copy the scorer's model names for the metrics. */
static void model_names(char out[SCORER_NMODELS][METRICS_NAME_MAX], double trained[SCORER_NMODELS],
			const struct scorer *s)
{
	for (int i = 0; i < SCORER_NMODELS; i++) {
		snprintf(out[i], METRICS_NAME_MAX, "%s", s->label[i]);
		trained[i] = s->trained[i];
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fieldgate run -c FILE\n"
		"Run the agent in the foreground until SIGTERM or SIGINT (Ctrl-C).\n"
		"SIGHUP reloads the models from [models] dir.\n"
		"  -c, --config FILE   site config (e.g. /etc/fieldgate/plant-a.conf)\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct config *cfg = NULL;
	struct scorer *scorer = NULL;
	struct store *st = NULL, *ro = NULL, *ck = NULL;
	struct pipeline *pipe = NULL;
	struct sim_source *sim = NULL;
	struct mqtt_source *msrc = NULL;
	struct mqtt_client *alert_client = NULL;
	struct alerts *alerts = NULL;
	struct forward *fws[SINK_SETUP_MAX] = { NULL };
	struct http *http = NULL;
	char models[SCORER_NMODELS][METRICS_NAME_MAX];
	double trained[SCORER_NMODELS];
	struct drift_window drift_window = { 0 };
	struct drift_report drift;
	struct store_recovery *rec = NULL; /* ~4 KiB: not on the stack */
	int curl_ready = 0;
	size_t nfw = 0;
	const char *sink_names[SINK_SETUP_MAX];
	struct ingest_counters ctr = { 0 };
	const char *cfgpath = NULL;
	char err[1024], models_label[512];
	int c, rc = EXIT_RUNTIME;
	sigset_t sigs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (!cfgpath || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(cfgpath, &cfg)) != 0)
		return rc;
	rc = EXIT_RUNTIME;
	log_set_level(cfg->log_level);
	if (!(rec = calloc(1, sizeof *rec))) {
		log_error("agent", "out of memory");
		goto out;
	}
	if (cfg->es_enabled) {
		/* libcurl's global state: once, before any thread. */
		if (es_global_init(err, sizeof err) < 0) {
			log_error("elasticsearch", "%s", err);
			goto out;
		}
		curl_ready = 1;
	}

	if (cli_mkdirs(cfg->data_dir) < 0) {
		log_error("agent", "cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
		goto out;
	}
	if (scorer_load(&scorer, cfg->models_dir, err, sizeof err) < 0) {
		log_error("models", "%s", err);
		goto out;
	}
	model_names(models, trained, scorer);
	{
		struct store_options so = {
			.path = cfg->buffer_path, .sync_full = cfg->buffer_sync_full,
			.max_bytes = cfg->buffer_max_bytes, .retention_ms = cfg->buffer_retention_ms,
			.sinks = sink_names, .nsinks = sink_setup_enabled(cfg, sink_names),
		};
		/* The writer never checkpoints: the main thread does, on its own
		 * handle, so the fsyncs stay off the path that acks MQTT readings. */
		so.manual_checkpoint = 1;
		/* A damaged buffer is moved aside (kept) and replaced, with seqs
		 * that cannot repeat: ingestion goes on, the operator is told. */
		int opened = store_open_recover(&st, &so, 0, rec, err, sizeof err) == 0;
		/* st steps aside between groups while ck restarts the WAL. */
		so.checkpoints_for = st;
		if (!opened || store_open(&ck, &so, err, sizeof err) < 0) {
			log_error("store", "%s", err);
			goto out;
		}
		if (rec->recovered) {
			log_error("store", "buffer %s was damaged (%s): moved it to %s (kept, not deleted) "
				  "and started a new buffer at seq %llu; events in the old file that the "
				  "sinks had not received are only there now", cfg->buffer_path, rec->cause,
				  rec->moved_to, (unsigned long long)rec->seq_floor);
			if (rec->seq_floor_unsafe)
				log_error("store", "the clock is before 2024 and no seq could be read from "
					  "%s: seq restarts at 1 and event_ids may repeat; set the clock "
					  "and restart", rec->moved_to);
		}
		so.readonly = 1;
		if (store_open(&ro, &so, err, sizeof err) < 0) {
			log_error("store", "%s", err);
			goto out;
		}
	}
	/* Signals are taken by this thread only, synchronously. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Metrics: a port in use stops the start, like any listener would; an
	 * agent nobody can see is the worse failure (README, Metrics and health). */
	if (cfg->http_listen[0]) {
		if (http_start(&http, cfg->http_listen, err, sizeof err) < 0) {
			log_error("http", "%s: [http] listen %s", cfg->file, err);
			goto out;
		}
		log_info("http", "serving /metrics and /healthz on %s", cfg->http_listen);
	}

	{
		struct pipeline_options po = {
			.store = st, .gateway_id = cfg->gateway_id, .site = cfg->site,
			.commit_ms = cfg->buffer_commit_ms, .max_bytes = cfg->buffer_max_bytes,
		};
		if (pipeline_start(&pipe, &po, err, sizeof err) < 0) {
			log_error("agent", "%s", err);
			goto out;
		}
	}
	/* The sinks: one forwarder each, with its own buffer handle. */
	{
		struct forward_options fo = {
			.store = { .path = cfg->buffer_path, .sync_full = cfg->buffer_sync_full,
				   .sinks = sink_names, .nsinks = sink_setup_enabled(cfg, sink_names) },
			.pipe = pipe,
		};
		for (size_t i = 0; i < fo.store.nsinks; i++) {
			enum sink_setup_rc r = sink_setup_start(&fws[nfw], sink_names[i], cfg, &fo, err, sizeof err);
			if (r != SINK_SETUP_OK) {
				log_error(sink_names[i], "%s: %s", cfg->file, err);
				if (r == SINK_SETUP_BAD_FILE)
					rc = EXIT_USAGE;
				goto out;
			}
			nfw++;
		}
	}
	if (cfg->alerts_enabled) {
		struct alerts_options ao = {
			.topic = cfg->alerts_topic, .min_interval_ms = (int64_t)cfg->alerts_min_interval_s * 1000,
			.gateway_id = cfg->gateway_id, .site = cfg->site,
		};
		if (alerts_create(&alerts, &ao) < 0) {
			log_error("agent", "out of memory");
			goto out;
		}
	}
	snprintf(models_label, sizeof models_label, "%s, %s, %s", scorer->names.status,
		 scorer->names.anomaly, scorer->names.humidity);
	if (cfg->source == SOURCE_MQTT) {
		if (mqtt_source_start(&msrc, cfg, pipe, scorer, &ctr, alerts, err, sizeof err) < 0) {
			log_error("mqtt", "%s: %s", cfg->file, err);
			rc = EXIT_USAGE;
			goto out;
		}
		scorer = NULL; /* owned by the source now */
		log_info("agent", "started: gateway %s, site %s, MQTT %s topics %s QoS %d, models %s, "
			 "buffer %s (next seq %llu)", cfg->gateway_id, cfg->site, cfg->mqtt_uri,
			 cfg->mqtt_topic, cfg->mqtt_qos, models_label, cfg->buffer_path,
			 (unsigned long long)store_next_seq(st));
	} else {
		if (sim_source_start(&sim, cfg, pipe, scorer, &ctr, alerts, err, sizeof err) < 0) {
			log_error("simulator", "%s", err);
			goto out;
		}
		scorer = NULL;
		log_info("agent", "started: gateway %s, site %s, simulator with %u sensors at %g Hz, "
			 "models %s, buffer %s (next seq %llu)",
			 cfg->gateway_id, cfg->site, cfg->sim_sensors, cfg->sim_rate, models_label,
			 cfg->buffer_path, (unsigned long long)store_next_seq(st));
		/* With the simulator source, alerts need a publish-only connection. */
		if (alerts) {
			if (mqtt_source_client(&alert_client, cfg, 0, NULL, NULL, NULL, err, sizeof err) < 0) {
				log_error("alerts", "%s: %s", cfg->file, err);
				rc = EXIT_USAGE;
				goto out;
			}
			alerts_set_client(alerts, alert_client);
		}
	}

	notify_ready();
	notify_status("running: site %s, gateway %s", cfg->site, cfg->gateway_id);
	{
		int interval_ms = isatty(STDERR_FILENO) ? 1000 : 60000;
		int64_t last = clock_mono_ms(), started = clock_wall_ms(), last_state = 0, last_ckpt = 0;
		struct log_ratelimit ckpt_rl = { .interval_ms = 60000 };
		uint64_t prev[4] = { 0 };
		if (http)
			publish_metrics(http, cfg, msrc, &ctr, pipe, ro, alerts, fws, nfw, started, models,
					rec, NULL, trained);
		for (;;) {
			struct timespec ts = { 0, 100 * 1000000L };
			int sig = sigtimedwait(&sigs, NULL, &ts);
			int64_t now = clock_mono_ms();
			notify_watchdog();
			if (sig == SIGINT || sig == SIGTERM) {
				log_info("agent", "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
				notify_stopping();
				break;
			}
			if (sig == SIGHUP) {
				struct scorer *fresh = NULL;
				notify_reloading();
				if (scorer_load(&fresh, cfg->models_dir, err, sizeof err) < 0)
					log_error("models", "reload failed, keeping the current models: %s", err);
				else {
					log_info("models", "reloaded: %s, %s, %s", fresh->names.status,
						 fresh->names.anomaly, fresh->names.humidity);
					model_names(models, trained, fresh);
					if (msrc)
						mqtt_source_offer_scorer(msrc, fresh);
					else
						sim_source_offer_scorer(sim, fresh);
				}
				notify_ready();
			}
			if (now - last >= interval_ms) {
				status_line(&ctr, ro, pipe, prev, (double)(now - last) / 1000.0);
				last = now;
			}
			if (now - last_ckpt >= CHECKPOINT_EVERY_MS) {
				if (store_checkpoint(ck, NULL, err, sizeof err) < 0 &&
				    log_ratelimit(&ckpt_rl, now, NULL))
					log_warn("store", "checkpoint failed (the WAL file grows until one "
						 "succeeds): %s", err);
				last_ckpt = now;
			}
			if (now - last_state >= 1000) {
				drift_update(&drift_window, &ctr.drift, now, &drift);
				write_state(cfg, msrc, &ctr, pipe, alerts, fws, nfw, started, models, trained,
					    &drift, rec);
				if (http)
					publish_metrics(http, cfg, msrc, &ctr, pipe, ro, alerts, fws,
							nfw, started, models, rec, &drift, trained);
				last_state = now;
			}
		}
	}
	rc = 0;
out:
	/* No more scrapes: what they would show is about to be torn down. */
	http_stop(&http);
	/* Sources first (no new readings; MQTT finishes the message in hand),
	 * then the queue is committed, then the buffer is closed. */
	mqtt_source_stop(&msrc);
	sim_source_stop(&sim, DRAIN_MS);
	mqtt_client_stop(&alert_client, 2000);
	if (pipe)
		pipeline_drain(pipe, DRAIN_MS);
	/* The sinks next: they deliver what the queue just committed, for a
	 * bounded time; the rest waits in the buffer. */
	for (size_t i = 0; i < nfw; i++)
		forward_request_stop(fws[i], SINK_FLUSH_MS);
	for (size_t i = 0; i < nfw; i++)
		forward_stop(&fws[i], SINK_FLUSH_MS);
	pipeline_stop(&pipe, DRAIN_MS);
	if (rc == 0) {
		log_info("agent", "stopped: %llu readings received, %llu accepted, %llu rejected; "
			 "buffer closed at seq %llu",
			 (unsigned long long)atomic_load(&ctr.received),
			 (unsigned long long)atomic_load(&ctr.accepted),
			 (unsigned long long)atomic_load(&ctr.rejected),
			 (unsigned long long)(st ? store_next_seq(st) - 1 : 0));
	}
	if (cfg) {
		char path[CONFIG_PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/%s", cfg->data_dir, STATE_FILE);
		unlink(path);
	}
	alerts_free(&alerts);
	scorer_free(&scorer);
	store_close(&ro);
	store_close(&ck);
	store_close(&st);
	if (curl_ready)
		es_global_cleanup();
	free(rec);
	free(cfg);
	return rc;
}
