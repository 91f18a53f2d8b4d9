/*
 * agent.h - the running agent as one context. `fieldgate run` (cmd_run.c)
 * builds it in stages: open the buffer, start the HTTP listener and the
 * store writer, start the sinks, start the source; then its main thread
 * loops (signals, checkpoints, the status line) and finally stops it all in
 * reverse. Once a second the reports read it: state_report.c writes the
 * live-state file for `fieldgate status`, metrics_report.c renders
 * /metrics and /healthz.
 *
 * Only the main thread touches the struct itself; the parts that other
 * threads update (counters, stats) are atomic or locked inside their modules.
 */
#ifndef FIELDGATE_AGENT_AGENT_H
#define FIELDGATE_AGENT_AGENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/alerts.h"
#include "agent/config.h"
#include "agent/drift.h"
#include "agent/forward.h"
#include "agent/http.h"
#include "agent/ingest.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/modelset.h"
#include "agent/pipeline.h"
#include "agent/scorer.h"
#include "agent/sink_setup.h"
#include "agent/source_mqtt.h"
#include "agent/source_sim.h"
#include "sensors/mqtt.h"
#include "store/store.h"

/* What the reports say about the models in use (copied at load and reload). */
struct agent_models {
	char label[SCORER_NMODELS][METRICS_NAME_MAX]; /* "status_predictor@1" */
	double trained[SCORER_NMODELS];               /* training accuracy / RMSE, NAN = unknown */
};

/* One model set as the main thread loads, watches and reports it: the live
 * set ([models] dir) and the shadow set ([models] shadow_dir). */
struct agent_set {
	const char *name;                   /* "live", "shadow": for messages */
	const char *dir;                    /* where it is loaded from; NULL: not configured */
	int loaded;                         /* 1 once a set was loaded and offered */
	struct agent_models models;         /* the set in use (when loaded) */
	struct modelset_sig sig;            /* the set on disk as last loaded or refused */
	struct modelset_sig seen;           /* as the watch last saw it */
	int64_t seen_ms;                    /* when the watch saw it change (monotonic) */
	uint64_t reloads;                   /* sets loaded since start, after the first */
	uint64_t refused;                   /* sets refused since start */
	char error[1024];                   /* why the last load was refused, "" if it loaded */
};

struct bufcheck;

struct agent {
	const struct config *cfg;           /* the site's settings (not owned) */
	int64_t started_ms;                 /* wall clock when the loop began */
	sigset_t signals;                   /* SIGINT, SIGTERM, SIGHUP: taken by the main thread */
	int curl_ready;                     /* libcurl's global state is set up */

	/* The buffer: three handles on one file. */
	struct store *st;                   /* the writer's (the pipeline commits on it) */
	struct store *ck;                   /* the main thread's, for WAL checkpoints */
	struct store *ro;                   /* read-only, for the figures in the reports */
	struct store_recovery rec;          /* what opening found (a damaged file moved aside) */
	struct bufcheck *bufcheck;          /* the whole-file check in the background, or NULL */
	int restarted;                      /* this start is a restart in place (damage found) */
	const char *sink_names[SINK_SETUP_MAX]; /* the enabled sinks, in a fixed order */
	size_t nsinks;                      /* entries in sink_names */

	struct pipeline *pipe;              /* queue + store writer */
	struct forward *fws[SINK_SETUP_MAX];/* one forwarder per enabled sink */
	size_t nfw;                         /* forwarders started */
	struct http *http;                  /* /metrics and /healthz, or NULL */

	/* The source: exactly one of msrc and sim once started. */
	struct scorer *scorer;              /* loaded models, until the source takes them */
	struct mqtt_source *msrc;           /* [source] type = mqtt */
	struct sim_source *sim;             /* [source] type = simulator */
	struct alerts *alerts;              /* [alerts] enabled, or NULL */
	struct mqtt_client *alert_client;   /* simulator source: alerts' own connection */
	struct ingest_counters ctr;         /* the sources' counters */

	/* The model sets (INGEST_LIVE, INGEST_SHADOW): loaded at start, again
	 * on SIGHUP or when [models] watch sees them change. */
	struct agent_set set[INGEST_NSETS];
	struct scorer *shadow;              /* the shadow set, until the source takes it */

	/* For the reports. */
	struct drift_window drift_window;   /* the drift window's memory */
	struct drift_report drift;          /* the latest drift figures */
	struct drift_input input_drift;     /* input drift (PSI) of the live set's features */
	int have_drift;                     /* drift holds a report */
	struct log_ratelimit state_rl;      /* "cannot write the state file" at most every 10 min */
};

/* Write DATA_DIR/agent.state for `fieldgate status` (state.h) from a; a
 * failure is logged (rate-limited) and otherwise ignored: the agent runs on. */
void state_report_write(struct agent *a);

/* Render /metrics and /healthz from one snapshot of a and hand them to the
 * HTTP server (a->http must be set). Out of memory: this second is skipped. */
void metrics_report_publish(struct agent *a);

#endif
