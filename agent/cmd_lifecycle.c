/*
 * cmd_lifecycle.c - `fieldgate models SUBCOMMAND`: the model lifecycle at
 * the edge, for operators who bring, check and swap model sets.
 *
 *   models features [--data FILE [--out FILE]]
 *       the feature catalogue; with --data, every catalogue feature of every
 *       reading as CSV, computed exactly as the agent does (file order, per
 *       sensor history), with the labels: what to train an external model on
 *   models seal DIR
 *       write DIR/SHA256SUMS for a set assembled or edited by hand
 *
 * The subcommands share cmd_models.c's view of readings: JSON lines, one
 * feature vector per reading through features_compute().
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/features.h"
#include "agent/scorer.h"
#include "sensors/reading.h"

/* ---- models features ---- */

/* One CSV export: the reader's state and where the rows go. */
struct features_csv {
	const char *file;       /* data file, for messages */
	FILE *out;              /* the CSV */
	struct features *feat;  /* rolling state */
	unsigned long rows;     /* rows written */
	unsigned long skipped;  /* invalid readings */
};

/* ",v" in the shortest of %.15g, %.16g, %.17g that reads back as v exactly:
 * 20.1, not 20.100000000000001. */
static void lifecycle__number(FILE *f, double v)
{
	char buf[32];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fprintf(f, ",%s", buf);
}

/* A label as a CSV cell: empty when the reading has none. */
static void lifecycle__label(FILE *f, int v)
{
	if (v >= 0)
		fprintf(f, ",%d", v);
	else
		fputc(',', f);
}

static int lifecycle__csv_line(void *vctx, char *line, size_t len, long lineno)
{
	struct features_csv *x = vctx;
	struct reading r;
	double f[FEATURE_COUNT];
	char why[256];

	if (reading_decode(line, len, 0, &r, why, sizeof why) != READING_OK) {
		if (x->skipped++ < 10)
			fprintf(stderr, "%s:%ld: skipped: %s\n", x->file, lineno, why);
		return 0;
	}
	(void)features_compute(x->feat, &r, f);
	/* sensor_id holds no comma or quote in practice; quote it anyway. */
	fputc('"', x->out);
	for (const char *p = r.sensor_id; *p; p++) {
		if (*p == '"')
			fputc('"', x->out);
		fputc(*p, x->out);
	}
	fprintf(x->out, "\",%lld", (long long)r.timestamp_ms);
	for (int i = 0; i < FEATURE_COUNT; i++)
		lifecycle__number(x->out, f[i]);
	lifecycle__label(x->out, r.status_flag);
	lifecycle__label(x->out, r.is_anomaly);
	if (fputc('\n', x->out) == EOF) {
		fprintf(stderr, "fieldgate models features: write error: %s\n", strerror(errno));
		return -1;
	}
	x->rows++;
	return 0;
}

static void lifecycle__features_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models features [--data FILE [--out FILE]]\n"
		"Without --data: the names of the features a model file may declare, one a line.\n"
		"With --data (labelled readings, JSON lines): one CSV row per valid reading with\n"
		"sensor_id, timestamp (epoch ms), every catalogue feature as the agent computes it\n"
		"(in file order, each sensor's history from its previous readings) and the labels\n"
		"status_flag and is_anomaly (empty when absent). Train an external model on these\n"
		"columns, under these names, and fieldgate computes the same numbers at the edge.\n"
		"  --out FILE   write the CSV there (default: stdout)\n");
}

static int lifecycle__features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	struct features_csv x = { 0 };
	const char *data = NULL, *out = NULL;
	FILE *in = NULL;
	int c, rc = EXIT_RUNTIME;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': out = optarg; break;
		case 'h': lifecycle__features_usage(stdout); return 0;
		default: lifecycle__features_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (out && !data)) {
		lifecycle__features_usage(stderr);
		return EXIT_USAGE;
	}
	if (!data) {
		for (int i = 0; i < FEATURE_COUNT; i++)
			printf("%s\n", features_name((enum feature_id)i));
		return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
	}
	if (!(in = fopen(data, "r"))) {
		fprintf(stderr, "%s: cannot open: %s\n", data, strerror(errno));
		return EXIT_RUNTIME;
	}
	x.file = data;
	x.out = stdout;
	if (out && !(x.out = fopen(out, "w"))) {
		fprintf(stderr, "%s: cannot create: %s\n", out, strerror(errno));
		goto done;
	}
	if (features_create(&x.feat) < 0) {
		fprintf(stderr, "fieldgate models features: out of memory\n");
		goto done;
	}
	fprintf(x.out, "sensor_id,timestamp");
	for (int i = 0; i < FEATURE_COUNT; i++)
		fprintf(x.out, ",%s", features_name((enum feature_id)i));
	fprintf(x.out, ",status_flag,is_anomaly\n");
	if (cli_foreach_line(in, data, lifecycle__csv_line, &x) != 0)
		goto done;
	if (x.skipped)
		fprintf(stderr, "%s: %lu lines skipped as invalid readings\n", data, x.skipped);
	rc = 0;
done:
	if (x.out && (x.out == stdout ? fflush(x.out) : fclose(x.out)) != 0 && rc == 0) {
		fprintf(stderr, "%s: write error: %s\n", out ? out : "stdout", strerror(errno));
		rc = EXIT_RUNTIME;
	}
	features_free(&x.feat);
	fclose(in);
	return rc;
}

/* ---- models seal ---- */

static int lifecycle__seal(int argc, char **argv)
{
	char err[1024];

	if (argc == 2 && cli_is_help(argv[1])) {
		printf("usage: fieldgate models seal DIR\n"
		       "Write DIR/SHA256SUMS with the SHA-256 of the set's three model files\n"
		       "(sha256sum -c SHA256SUMS checks it by hand). The agent refuses a sealed\n"
		       "set whose files do not match, so a half-copied set never goes live.\n"
		       "fieldgate train seals what it writes; seal a set you assembled yourself.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: fieldgate models seal DIR\n");
		return EXIT_USAGE;
	}
	if (scorer_seal(argv[1], err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models seal: %s\n", err);
		return EXIT_RUNTIME;
	}
	printf("sealed %s/%s\n", argv[1], SCORER_MANIFEST);
	return 0;
}

/* ---- the group ---- */

static const struct {
	const char *name;                  /* as typed after `models` */
	int (*fn)(int argc, char **argv);  /* argv[0] is the subcommand */
	const char *summary;               /* one line for `fieldgate models help` */
} lifecycle__commands[] = {
	{ "features", lifecycle__features, "the feature catalogue; --data: features as CSV" },
	{ "seal", lifecycle__seal, "write a set's SHA256SUMS (the agent refuses a set that does not match)" },
};

static void lifecycle__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models SUBCOMMAND [OPTIONS]   (SUBCOMMAND --help for details)\n"
		"The model lifecycle: bring, check and swap model sets.\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof lifecycle__commands / sizeof lifecycle__commands[0]; i++)
		fprintf(f, "  %-10s %s\n", lifecycle__commands[i].name, lifecycle__commands[i].summary);
}

int cmd_models(int argc, char **argv)
{
	if (argc < 2) {
		lifecycle__usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || cli_is_help(argv[1])) {
		lifecycle__usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof lifecycle__commands / sizeof lifecycle__commands[0]; i++)
		if (strcmp(argv[1], lifecycle__commands[i].name) == 0)
			return lifecycle__commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "fieldgate models: unknown subcommand '%s' (try 'fieldgate models help')\n",
		argv[1]);
	return EXIT_USAGE;
}
