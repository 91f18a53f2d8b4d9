/*
 * cmd_run.c - `fieldgate run -c FILE`: the agent's top level.
 *
 * It builds one struct agent (agent.h) in stages, each a function below
 * that logs its own failure and returns the exit status: load the models,
 * open the buffer, start the HTTP listener, the store writer, the sinks and
 * the source (the simulator thread, or the MQTT input on Paho's threads).
 * The main thread blocks SIGINT/SIGTERM/SIGHUP before starting any thread
 * and takes them synchronously with sigtimedwait(), so there are no signal
 * handlers at all; between signals it checkpoints the WAL, prints the
 * status line (every second on a terminal, every minute otherwise, e.g.
 * under systemd) and rewrites the live-state file and the metrics.
 *
 * Shutdown order (run__stop): stop the source (no new readings; MQTT
 * finishes the message in hand), commit the queue, let the sinks deliver
 * for a bounded time, close the buffer.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/bufcheck.h"
#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/datadir.h"
#include "agent/notify.h"
#include "agent/state.h"
#include "sinks/es.h"

#define DRAIN_MS 10000 /* how long a stop may spend committing the queue */
#define RUN__STOPPED (-1) /* a stage was told to stop before the main loop: exit 0 */
#define RUN__RESTART (-2) /* the buffer is damaged: stop, then start again in place */
/* WAL checkpoints from the main thread: every CHECKPOINT_EVERY_MS, or as
 * soon as CHECKPOINT_WAL_FRAMES frames (16 MiB) were committed since the
 * last (looked at every CHECKPOINT_LOOK_MS). A checkpoint writes each page
 * the WAL changed once more, to the database file; the partly filled pages
 * at the ends of the table and its index are rewritten by every checkpoint,
 * so checkpointing every 2 s rather than every 200 ms cuts what the buffer
 * writes to flash at a few thousand events/s (tests/bench/RESULTS.md, flash
 * wear). The frame trigger keeps a flat-out WAL as small as before. */
#define CHECKPOINT_EVERY_MS 2000
#define CHECKPOINT_LOOK_MS 200
#define CHECKPOINT_WAL_FRAMES 4096
#define SINK_FLUSH_MS 5000 /* how long a stop may spend delivering what is in flight */
#define REPORT_EVERY_MS 1000 /* the state file, drift and /metrics */
#define ALERT_CLIENT_STOP_MS 2000 /* time given to the alerts' own MQTT disconnect */
#define WATCH_EVERY_MS 250 /* [models] watch: how often the set on disk is looked at */
#define WATCH_SETTLE_MS 1000 /* ... and how long it must be still before it is loaded */
#define LOAD_NICE 10 /* the priority model sets are loaded at (nice) */

/* One status line: readings/s and predictions since the last one, the buffer, the sinks. */
static void run__status_line(struct agent *a, uint64_t prev[4], double secs)
{
	const struct ingest_counters *c = &a->ctr;
	uint64_t now[4] = { atomic_load(&c->received), atomic_load(&c->warnings),
			    atomic_load(&c->faults), atomic_load(&c->anomalies) };
	struct store_stats st;
	struct pipeline_stats ps;
	char err[256], sinks[256] = "";
	size_t used = 0;

	pipeline_get_stats(a->pipe, &ps);
	if (store_stats(a->ro, &st, err, sizeof err) < 0)
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

/* Copy the scorer's model names and training figures for the reports. */
static void run__take_models(struct agent_models *m, const struct scorer *s)
{
	for (int i = 0; i < SCORER_NMODELS; i++) {
		snprintf(m->label[i], sizeof m->label[i], "%s", s->label[i]);
		m->trained[i] = s->trained[i];
	}
}

/* Load set st from its directory into *out; why is NULL at start (the
 * error is then the start's), else the reload's reason for the log line.
 * Returns 0, or -1 (logged, st->error set). */
/* One load on a thread of its own, at a low priority: on a gateway's few
 * cores, parsing a model set must not take CPU from the thread that
 * receives and scores readings (the main thread cannot lower its own
 * priority and raise it again without privileges; a thread can drop its
 * own and then end). */
struct run__load {
	const char *dir;          /* the set */
	struct scorer *out;       /* loaded, or NULL */
	char err[1024];           /* why not */
	int rc;                   /* scorer_load()'s */
};

static void *run__load_thread(void *arg)
{
	struct run__load *l = arg;

	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), LOAD_NICE);
	l->rc = scorer_load(&l->out, l->dir, l->err, sizeof l->err);
	return NULL;
}

static int run__scorer_load(struct scorer **out, const char *dir, char *err, size_t errlen)
{
	struct run__load l = { .dir = dir, .rc = -1 };
	pthread_t t;

	if (pthread_create(&t, NULL, run__load_thread, &l) != 0)
		return scorer_load(out, dir, err, errlen); /* then on this thread */
	pthread_join(t, NULL);
	snprintf(err, errlen, "%s", l.err);
	*out = l.out;
	return l.rc;
}

static int run__load_set(struct agent_set *st, struct scorer **out, const char *why)
{
	const struct agent_models *m = &st->models;
	char err[1024];

	/* The signature before loading: a change while it loads is seen again. */
	modelset_signature(st->dir, &st->sig);
	st->seen = st->sig;
	if (run__scorer_load(out, st->dir, err, sizeof err) < 0) {
		snprintf(st->error, sizeof st->error, "%s", err);
		if (!why && !strcmp(st->name, "live"))
			log_error("models", "%s", err);
		else if (!why)
			log_error("models", "shadow set not loaded, the live set serves alone: %s", err);
		else
			log_error("models", "%sreload failed, keeping the current models: %s (%s; still "
				  "serving %s, %s, %s)", strcmp(st->name, "live") ? "shadow " : "", err,
				  why, m->label[SCORER_STATUS], m->label[SCORER_ANOMALY],
				  m->label[SCORER_HUMIDITY]);
		if (why)
			st->refused++;
		return -1;
	}
	if (why) {
		log_info("models", "%sreloaded: %s, %s, %s from %s (%s; were %s, %s, %s)",
			 strcmp(st->name, "live") ? "shadow " : "", (*out)->names.status,
			 (*out)->names.anomaly, (*out)->names.humidity, st->dir, why,
			 m->label[SCORER_STATUS], m->label[SCORER_ANOMALY], m->label[SCORER_HUMIDITY]);
		st->reloads++;
	}
	st->error[0] = '\0';
	st->loaded = 1;
	run__take_models(&st->models, *out);
	return 0;
}

/* Stage 1: libcurl's global state, data_dir, the models. */
static int run__prepare(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char err[1024];

	if (cfg->es_enabled) {
		/* libcurl's global state: once, before any thread. */
		if (es_global_init(err, sizeof err) < 0) {
			log_error("elasticsearch", "%s", err);
			return EXIT_RUNTIME;
		}
		a->curl_ready = 1;
	}
	/* As the user this process is: the cause and the fix, before SQLite
	 * says only "unable to open database file". */
	struct datadir_user self;
	datadir_self(&self);
	if (datadir_check(cfg->data_dir, cfg->buffer_path, &self, 0, err, sizeof err) < 0) {
		/* A configuration error (exit 2): systemd does not restart it
		 * in a loop (RestartPreventExitStatus=2). */
		log_error("agent", "data_dir: %s", err);
		return EXIT_USAGE;
	}
	if (cli_mkdirs(cfg->data_dir) < 0) {
		log_error("agent", "cannot create data_dir %s: %s", cfg->data_dir, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (run__load_set(&a->set[INGEST_LIVE], &a->scorer, NULL) < 0)
		return EXIT_RUNTIME;
	if (drift_input_init(&a->input_drift, cfg->models_input_drift_window_ms, a->scorer,
			     clock_mono_ms()) < 0) {
		log_error("agent", "out of memory");
		return EXIT_RUNTIME;
	}
	/* A shadow set that does not load leaves the live one serving alone. */
	if (a->set[INGEST_SHADOW].dir && run__load_set(&a->set[INGEST_SHADOW], &a->shadow, NULL) == 0)
		log_info("models", "shadow set %s, %s, %s from %s: every reading is scored by it too",
			 a->shadow->names.status, a->shadow->names.anomaly, a->shadow->names.humidity,
			 a->set[INGEST_SHADOW].dir);
	return 0;
}

/* Whether SIGTERM or SIGINT came within ms, for a stage that waits before
 * the main loop runs (a SIGHUP ends the wait early and is dropped: no
 * model set is live yet). */
static int run__stop_asked(struct agent *a, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	int sig = sigtimedwait(&a->signals, NULL, &ts);

	return sig == SIGTERM || sig == SIGINT;
}

/* A damaged buffer being salvaged (a minute per GB here): systemd is told
 * the start goes on, so TimeoutStartSec does not kill it half way. */
static void run__salvage_progress(void *ctx, uint64_t events)
{
	notify_status("salvaging the damaged buffer %s: %llu events so far",
		      (const char *)ctx, (unsigned long long)events);
	notify_extend_timeout(30000);
	notify_watchdog(); /* after a restart in place, the watchdog is armed */
}

/* Every second of the check of the whole buffer at start (half a minute
 * for a cold 2 GB file after a restart in place, which has no budget). */
static void run__check_progress(void *ctx)
{
	notify_status("checking the buffer %s", (const char *)ctx);
	notify_extend_timeout(30000);
	notify_watchdog();
}

/* FIELDGATE_BUFFER_CHECK_BUDGET_MS: the check at start's time budget (ms;
 * -1: none at start, all of it in the background), for tests and for a
 * gateway whose start must not wait even 2 s. */
static int64_t run__check_budget(void)
{
	const char *v = getenv("FIELDGATE_BUFFER_CHECK_BUDGET_MS");
	char *end;
	long long ms;

	if (!v || !*v)
		return 0;
	errno = 0;
	ms = strtoll(v, &end, 10);
	if (errno || *end || ms < -1 || ms > 3600000) {
		log_warn("store", "FIELDGATE_BUFFER_CHECK_BUDGET_MS=%s is not a number of ms "
			 "from -1 to 3600000: the check at start keeps its budget of %d ms",
			 v, STORE_CHECK_BUDGET_MS);
		return 0;
	}
	return ms;
}

/* Stage 2: the buffer's three handles (writer, checkpointer, reader). */
static int run__open_store(struct agent *a)
{
	const struct config *cfg = a->cfg;
	struct store_recovery *rec = &a->rec;
	struct store_options so = {
		.path = cfg->buffer_path, .sync_full = cfg->buffer_sync_full,
		.max_bytes = cfg->buffer_max_bytes, .retention_ms = cfg->buffer_retention_ms,
		.sinks = a->sink_names, .nsinks = a->nsinks,
	};
	char err[1024];
	int64_t full_since = 0;
	int code;

	/* The writer never checkpoints: the main thread does, on its own
	 * handle, so the fsyncs stay off the path that acks MQTT readings. */
	so.manual_checkpoint = 1;
	so.salvage_progress = run__salvage_progress;
	so.check_progress = run__check_progress;
	so.salvage_ctx = (void *)cfg->buffer_path;
	so.check_budget_ms = run__check_budget();
	for (;;) {
		/* A damaged buffer is moved aside (kept) and replaced, with seqs
		 * that cannot repeat: ingestion goes on, the operator is told. */
		so.checkpoints_for = NULL;
		code = store_open_recover(&a->st, &so, 0, rec, err, sizeof err);
		/* st steps aside between groups while ck restarts the WAL. */
		so.checkpoints_for = a->st;
		if (code == 0)
			code = store_open(&a->ck, &so, err, sizeof err);
		if (code != STORE_EFULL)
			break;
		/* A full disk at start (after a crash, SQLite must write the
		 * -shm to open the WAL): wait for space as a running agent
		 * does, instead of exiting into a restart loop that systemd's
		 * start limit ends. Nothing is received, so nothing is acked. */
		if (a->st)
			store_close(&a->st);
		if (!full_since) {
			full_since = clock_mono_ms();
			log_error("store", "%s: cannot open the buffer, the disk is full; retrying "
				  "every second (no reading is received meanwhile): free space on "
				  "the file system of %s", err, cfg->buffer_path);
		}
		notify_status("waiting for disk space to open the buffer %s", cfg->buffer_path);
		notify_extend_timeout(5000);
		if (run__stop_asked(a, 1000)) {
			log_info("agent", "stopped while waiting for disk space: nothing was received");
			return RUN__STOPPED;
		}
	}
	if (code != 0) {
		log_error("store", "%s", err);
		return EXIT_RUNTIME;
	}
	if (rec->check_partial)
		log_info("store", "the check of %s at start %s; the whole file is checked again "
			 "in the background", cfg->buffer_path, so.check_budget_ms < 0 ?
			 "was skipped (FIELDGATE_BUFFER_CHECK_BUDGET_MS=-1)" :
			 "stopped at its time budget");
	if (full_since)
		log_info("store", "opened the buffer after %lld s of full disk; nothing was lost",
			 (long long)((clock_mono_ms() - full_since) / 1000));
	if (rec->recovered && rec->resumed) {
		log_error("store", "resumed the salvage of the damaged buffer %s into %s (the last "
			  "one was cut short by a stop or a power cut): %llu events salvaged in all "
			  "(seqs kept, sink positions %s); %s%s; new events from seq %llu",
			  rec->moved_to, cfg->buffer_path, (unsigned long long)rec->salvaged,
			  rec->positions_salvaged ? "kept" : "unreadable: the sinks resend what was salvaged",
			  rec->lost_ranges[0] ? "lost (unreadable, still in the old file) seqs: " :
			  "no event lost", rec->lost_ranges, (unsigned long long)rec->seq_floor);
	} else if (rec->recovered) {
		/* One line: what was found, where the file is, what was saved. */
		log_error("store", "buffer %s was damaged (%s): moved it to %s (kept, not deleted); "
			  "salvaged %llu events into a new buffer (seqs kept, sink positions %s); "
			  "%s%s; new events from seq %llu", cfg->buffer_path, rec->cause,
			  rec->moved_to, (unsigned long long)rec->salvaged,
			  rec->positions_salvaged ? "kept" : "unreadable: the sinks resend what was salvaged",
			  rec->lost_ranges[0] ? "lost (unreadable, still in the old file) seqs: " :
			  "no event lost", rec->lost_ranges, (unsigned long long)rec->seq_floor);
		if (rec->seq_floor_unsafe)
			log_error("store", "the clock is before 2024 and no seq could be read from "
				  "%s: seq restarts at 1 and event_ids may repeat; set the clock "
				  "and restart", rec->moved_to);
	}
	so.readonly = 1;
	if (store_open(&a->ro, &so, err, sizeof err) < 0) {
		log_error("store", "%s", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* Stage 3: the /metrics listener. */
static int run__start_http(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char err[1024];

	/* Metrics: a port in use stops the start, like any listener would; an
	 * agent nobody can see is the worse failure (README, Metrics and health). */
	if (cfg->http_listen[0]) {
		if (http_start(&a->http, cfg->http_listen, err, sizeof err) < 0) {
			log_error("http", "%s: [http] listen %s", cfg->file, err);
			return EXIT_RUNTIME;
		}
		log_info("http", "serving /metrics and /healthz on %s", cfg->http_listen);
	}
	return 0;
}

/* Stage 4: the queue and its store writer. */
static int run__start_pipeline(struct agent *a)
{
	const struct config *cfg = a->cfg;
	struct pipeline_options po = {
		.store = a->st, .gateway_id = cfg->gateway_id, .site = cfg->site,
		.commit_ms = cfg->buffer_commit_ms, .max_bytes = cfg->buffer_max_bytes,
	};
	char err[1024];

	if (pipeline_start(&a->pipe, &po, err, sizeof err) < 0) {
		log_error("agent", "%s", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* Stage 5: the sinks, one forwarder each, with its own buffer handle. */
static int run__start_sinks(struct agent *a)
{
	const struct config *cfg = a->cfg;
	struct forward_options fo = {
		.store = { .path = cfg->buffer_path, .sync_full = cfg->buffer_sync_full,
			   .sinks = a->sink_names, .nsinks = a->nsinks },
		.pipe = a->pipe,
	};
	char err[1024];

	for (size_t i = 0; i < a->nsinks; i++) {
		enum sink_setup_rc r = sink_setup_start(&a->fws[a->nfw], a->sink_names[i], cfg, &fo,
							err, sizeof err);
		if (r != SINK_SETUP_OK) {
			log_error(a->sink_names[i], "%s: %s", cfg->file, err);
			return r == SINK_SETUP_BAD_FILE ? EXIT_USAGE : EXIT_RUNTIME;
		}
		a->nfw++;
	}
	return 0;
}

/* Stage 6: alerts, then the source, which takes the models. */
static int run__start_source(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char err[1024], models[512];
	/* Read before the source starts: from then on the store writer thread
	 * owns the store and advances next_seq. */
	unsigned long long next_seq = (unsigned long long)store_next_seq(a->st);

	if (cfg->alerts_enabled) {
		struct alerts_options ao = {
			.topic = cfg->alerts_topic, .min_interval_ms = (int64_t)cfg->alerts_min_interval_s * 1000,
			.gateway_id = cfg->gateway_id, .site = cfg->site,
			.max_sensors = cfg->models_max_sensors,
		};
		if (alerts_create(&a->alerts, &ao) < 0) {
			log_error("agent", "out of memory");
			return EXIT_RUNTIME;
		}
	}
	snprintf(models, sizeof models, "%s, %s, %s", a->scorer->names.status,
		 a->scorer->names.anomaly, a->scorer->names.humidity);
	if (cfg->source == SOURCE_MQTT) {
		if (mqtt_source_start(&a->msrc, cfg, a->pipe, a->scorer, a->shadow, &a->ctr, a->alerts,
				      err, sizeof err) < 0) {
			log_error("mqtt", "%s: %s", cfg->file, err);
			return EXIT_USAGE;
		}
		a->scorer = a->shadow = NULL; /* the source's now */
		log_info("agent", "started: gateway %s, site %s, MQTT %s topics %s QoS %d, models %s, "
			 "buffer %s (next seq %llu)", cfg->gateway_id, cfg->site, cfg->mqtt_uri,
			 cfg->mqtt_topic, cfg->mqtt_qos, models, cfg->buffer_path, next_seq);
		return 0;
	}
	if (sim_source_start(&a->sim, cfg, a->pipe, a->scorer, a->shadow, &a->ctr, a->alerts,
			     err, sizeof err) < 0) {
		log_error("simulator", "%s", err);
		return EXIT_RUNTIME;
	}
	a->scorer = a->shadow = NULL; /* the source's now */
	log_info("agent", "started: gateway %s, site %s, simulator with %u sensors at %g Hz, "
		 "models %s, buffer %s (next seq %llu)",
		 cfg->gateway_id, cfg->site, cfg->sim_sensors, cfg->sim_rate, models,
		 cfg->buffer_path, next_seq);
	/* With the simulator source, alerts need a publish-only connection. */
	if (a->alerts) {
		if (mqtt_source_client(&a->alert_client, cfg, 0, NULL, NULL, NULL, err, sizeof err) < 0) {
			log_error("alerts", "%s: %s", cfg->file, err);
			return EXIT_USAGE;
		}
		alerts_set_client(a->alerts, a->alert_client);
	}
	return 0;
}

/* The running source's ingest context. */
static struct ingest *run__ingest(struct agent *a)
{
	return a->msrc ? mqtt_source_ingest(a->msrc) : sim_source_ingest(a->sim);
}

/* Load set `which` again (SIGHUP, or the watch saw it change; `why` says
 * which) and offer it to the source, which swaps it in between two
 * readings. A set that does not load leaves the current one serving. */
static void run__reload_set(struct agent *a, enum ingest_set which, const char *why)
{
	struct scorer *fresh = NULL;

	if (run__load_set(&a->set[which], &fresh, why) < 0)
		return;
	if (which == INGEST_LIVE) {
		drift_input_offer(&a->input_drift, fresh);
		ingest_offer_scorer(run__ingest(a), fresh);
	} else {
		ingest_offer_shadow(run__ingest(a), fresh);
		drift_restart_shadow(&a->drift_window, &a->ctr.drift, clock_mono_ms());
	}
}

/* SIGHUP: both sets. */
static void run__reload_models(struct agent *a, const char *why)
{
	notify_reloading();
	for (int i = 0; i < INGEST_NSETS; i++)
		if (a->set[i].dir)
			run__reload_set(a, (enum ingest_set)i, why);
	notify_ready();
}

/* [models] watch: reload a set once it has changed on disk and then been
 * still for WATCH_SETTLE_MS (a copy in progress is not loaded half-way). */
static void run__watch_models(struct agent *a, int64_t now)
{
	for (int i = 0; i < INGEST_NSETS; i++) {
		struct agent_set *st = &a->set[i];
		struct modelset_sig sig;

		if (!st->dir)
			continue;
		modelset_signature(st->dir, &sig);
		if (!modelset_sig_equal(&sig, &st->seen)) {
			st->seen = sig;
			st->seen_ms = now;
		} else if (now - st->seen_ms >= WATCH_SETTLE_MS && !modelset_sig_equal(&sig, &st->sig)) {
			char why[CONFIG_PATH_MAX + 32];
			snprintf(why, sizeof why, "%s changed", st->dir);
			notify_reloading();
			run__reload_set(a, (enum ingest_set)i, why);
			notify_ready();
		}
	}
}

/* One line when a feature's input drift starts or ends, never one per reading. */
static void run__log_input_drift(const struct agent *a)
{
	const struct drift_input *di = &a->input_drift;
	char window[32];

	drift_format_span(di->covered_ms, window, sizeof window);
	for (size_t i = 0; i < di->n; i++) {
		const struct drift_input_feature *f = &di->f[i];
		if (f->change > 0)
			log_warn("models", "input drift: %s has moved away from the training data of %s: "
				 "PSI %.2f over the last %s (%llu readings), where %.2f counts as drifting; "
				 "predictions may be off: see fieldgate status, retrain on recent data",
				 features_name(f->id), f->model, f->psi, window,
				 (unsigned long long)di->readings, DRIFT_PSI_START);
		else if (f->change < 0)
			log_info("models", "input drift on %s is over: PSI %.2f over the last %s, below %.2f",
				 features_name(f->id), f->psi, window, DRIFT_PSI_END);
	}
	for (size_t i = 0; i < di->ended_n; i++)
		if (di->ended[i].change == -2)
			log_info("models", "input drift on %s: a new set is live, its window starts afresh",
				 features_name(di->ended[i].id));
}

/*
 * Whether the buffer turned out damaged while running: the background check
 * (bufcheck.h) found it, or a read by a sink or a write by the store writer
 * failed with SQLITE_CORRUPT. Each left the marker, so a start checks the
 * whole file and moves it aside; the agent restarts itself for that (in
 * place, the same process: systemd sees a service that carries on). Once
 * only: if the restart found the file sound after all (nothing was moved),
 * the next sign is logged and the agent runs on, rather than restarting in
 * a loop. *where gets who saw it.
 */
static int run__buffer_damaged(struct agent *a, char *cause, size_t causelen, const char **where)
{
	if (bufcheck_damaged(a->bufcheck, cause, causelen)) {
		*where = "the background check";
		return 1;
	}
	if (pipeline_buffer_damaged(a->pipe, cause, causelen)) {
		*where = "the store writer";
		return 1;
	}
	for (size_t i = 0; i < a->nfw; i++) {
		if (forward_buffer_damaged(a->fws[i], cause, causelen)) {
			*where = forward_name(a->fws[i]);
			return 1;
		}
	}
	return 0;
}

/* Stage 7: the main thread until SIGTERM or SIGINT (0), or until the buffer
 * turns out damaged (RUN__RESTART). */
static int run__loop(struct agent *a)
{
	int interval_ms = isatty(STDERR_FILENO) ? 1000 : 60000;
	struct log_ratelimit ckpt_rl = { .interval_ms = 60000 };
	int64_t last_line, last_report = 0, last_ckpt = 0, last_look = 0, last_watch = 0;
	long ckpt_frames = 0; /* WAL frames at the last checkpoint */
	uint64_t prev[4] = { 0 };
	int damage_seen = 0;
	char err[1024];

	/* The rest of the file that the check at start did not reach. */
	if (a->rec.check_partial) {
		struct store_options so = { .path = a->cfg->buffer_path, .readonly = 1,
					    .sinks = a->sink_names, .nsinks = a->nsinks };
		if (bufcheck_start(&a->bufcheck, &so, err, sizeof err) < 0)
			log_warn("store", "%s: damage beyond the check at start is found only when "
				 "it is read", err);
	}
	notify_ready();
	notify_status("running: site %s, gateway %s", a->cfg->site, a->cfg->gateway_id);
	last_line = clock_mono_ms();
	a->started_ms = clock_wall_ms();
	if (a->http)
		metrics_report_publish(a);
	for (;;) {
		struct timespec ts = { 0, 100 * 1000000L };
		int sig = sigtimedwait(&a->signals, NULL, &ts);
		int64_t now = clock_mono_ms();

		notify_watchdog();
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("agent", "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			notify_stopping();
			return 0;
		}
		if (sig == SIGHUP)
			run__reload_models(a, "SIGHUP");
		if (!damage_seen) {
			char cause[512];
			const char *where = "";

			if (run__buffer_damaged(a, cause, sizeof cause, &where)) {
				damage_seen = 1;
				if (!a->restarted || a->rec.recovered) {
					log_error("store", "the buffer %s is damaged (%s, found by %s): "
						  "restarting in place to move it aside and salvage "
						  "every readable event into a new buffer",
						  a->cfg->buffer_path, cause, where);
					notify_reloading();
					notify_status("restarting: the buffer %s is damaged",
						      a->cfg->buffer_path);
					return RUN__RESTART;
				}
				log_error("store", "the buffer %s still fails to read (%s, found by %s) "
					  "though the check after the last restart found it sound; "
					  "running on: stop the agent and check it with "
					  "sqlite3 %s 'PRAGMA integrity_check'", a->cfg->buffer_path,
					  cause, where, a->cfg->buffer_path);
			}
		}
		if (a->cfg->models_watch && now - last_watch >= WATCH_EVERY_MS) {
			run__watch_models(a, now);
			last_watch = now;
		}
		for (int i = 0; i < INGEST_NSETS; i++) {
			/* A set a reload replaced, freed here rather than on the hot path. */
			struct scorer *old = ingest_take_retired(run__ingest(a), (enum ingest_set)i);
			scorer_free(&old);
		}
		if (now - last_line >= interval_ms) {
			run__status_line(a, prev, (double)(now - last_line) / 1000.0);
			last_line = now;
		}
		if (now - last_look >= CHECKPOINT_LOOK_MS) {
			long frames = store_wal_frames(a->ck);

			/* Fewer frames than at the last one: the WAL started over. */
			last_look = now;
			if (now - last_ckpt >= CHECKPOINT_EVERY_MS ||
			    frames - (frames >= ckpt_frames ? ckpt_frames : 0) >=
			    CHECKPOINT_WAL_FRAMES) {
				if (store_checkpoint(a->ck, &ckpt_frames, err, sizeof err) < 0 &&
				    log_ratelimit(&ckpt_rl, now, NULL))
					log_warn("store", "checkpoint failed (the WAL file grows until "
						 "one succeeds): %s", err);
				last_ckpt = now;
			}
		}
		if (now - last_report >= REPORT_EVERY_MS) {
			drift_update(&a->drift_window, &a->ctr.drift, now, &a->drift);
			a->have_drift = 1;
			drift_input_update(&a->input_drift, &a->ctr, now);
			run__log_input_drift(a);
			state_report_write(a);
			if (a->http)
				metrics_report_publish(a);
			last_report = now;
		}
	}
}

/* Stage 8: stop and free everything that was started, in reverse; rc is
 * the exit status so far (0: a clean stop, which is logged). */
static void run__stop(struct agent *a, int rc)
{
	char path[CONFIG_PATH_MAX + 32];

	bufcheck_stop(&a->bufcheck);
	/* No more scrapes: what they would show is about to be torn down. */
	http_stop(&a->http);
	/* Sources first (no new readings; MQTT finishes the message in hand),
	 * then the queue is committed, then the buffer is closed. */
	mqtt_source_stop(&a->msrc);
	sim_source_stop(&a->sim, DRAIN_MS);
	mqtt_client_stop(&a->alert_client, ALERT_CLIENT_STOP_MS);
	if (a->pipe)
		pipeline_drain(a->pipe, DRAIN_MS);
	/* The sinks next: they deliver what the queue just committed, for a
	 * bounded time; the rest waits in the buffer. */
	for (size_t i = 0; i < a->nfw; i++)
		forward_request_stop(a->fws[i], SINK_FLUSH_MS);
	for (size_t i = 0; i < a->nfw; i++)
		forward_stop(&a->fws[i], SINK_FLUSH_MS);
	pipeline_stop(&a->pipe, DRAIN_MS);
	if (rc == 0 && a->st) {
		log_info("agent", "stopped: %llu readings received, %llu accepted, %llu rejected; "
			 "buffer closed at seq %llu",
			 (unsigned long long)atomic_load(&a->ctr.received),
			 (unsigned long long)atomic_load(&a->ctr.accepted),
			 (unsigned long long)atomic_load(&a->ctr.rejected),
			 (unsigned long long)(store_next_seq(a->st) - 1));
	}
	snprintf(path, sizeof path, "%s/%s", a->cfg->data_dir, STATE_FILE);
	unlink(path);
	alerts_free(&a->alerts);
	scorer_free(&a->scorer);
	scorer_free(&a->shadow);
	drift_input_cleanup(&a->input_drift);
	store_close(&a->ro);
	store_close(&a->ck);
	store_close(&a->st);
	if (a->curl_ready)
		es_global_cleanup();
}

static void run__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate run -c FILE\n"
		"Run the agent in the foreground until SIGTERM or SIGINT (Ctrl-C).\n"
		"SIGHUP reloads the models from [models] dir.\n"
		"  -c, --config FILE   site config (e.g. /etc/fieldgate/plant-a.conf)\n");
}

/* One agent from start to stop with cfg: 0, EXIT_*, or RUN__RESTART
 * (stopped cleanly because the buffer is damaged; start again). */
static int run__agent(const struct config *cfg, int restarted)
{
	struct agent *a = calloc(1, sizeof *a);
	int rc;

	if (!a) {
		log_error("agent", "out of memory");
		return EXIT_RUNTIME;
	}
	a->cfg = cfg;
	a->restarted = restarted;
	a->nsinks = sink_setup_enabled(cfg, a->sink_names);
	a->state_rl.interval_ms = 600000;
	a->set[INGEST_LIVE] = (struct agent_set){ .name = "live", .dir = cfg->models_dir };
	a->set[INGEST_SHADOW] = (struct agent_set){
		.name = "shadow", .dir = cfg->models_shadow_dir[0] ? cfg->models_shadow_dir : NULL };
	/* Signals are taken by this thread only, synchronously, from the
	 * start: before any thread starts, so that every thread inherits the
	 * mask, and before the first stage, so that a SIGTERM during the
	 * start (models loading, a wait for disk space) stops the agent the
	 * same graceful way, not by the default action. */
	sigemptyset(&a->signals);
	sigaddset(&a->signals, SIGINT);
	sigaddset(&a->signals, SIGTERM);
	sigaddset(&a->signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &a->signals, NULL);
	if ((rc = run__prepare(a)) == 0 && (rc = run__open_store(a)) == 0 &&
	    (rc = run__start_http(a)) == 0 && (rc = run__start_pipeline(a)) == 0 &&
	    (rc = run__start_sinks(a)) == 0 && (rc = run__start_source(a)) == 0)
		rc = run__loop(a);
	if (rc == RUN__STOPPED)
		rc = 0;
	run__stop(a, rc == RUN__RESTART ? 0 : rc);
	free(a);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct config *cfg = NULL;
	const char *cfgpath = NULL;
	int c, rc, restarted = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 'h': run__usage(stdout); return 0;
		default: run__usage(stderr); return EXIT_USAGE;
		}
	}
	if (!cfgpath || optind != argc) {
		run__usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(cfgpath, &cfg)) != 0)
		return rc;
	log_set_level(cfg->log_level);
	/* A restart in place: same config, same process; the start finds the
	 * marker, checks the whole file, moves it aside and salvages it. */
	while ((rc = run__agent(cfg, restarted)) == RUN__RESTART)
		restarted = 1;
	free(cfg);
	return rc;
}
