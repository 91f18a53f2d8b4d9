/*
 * main.c - `fieldgate COMMAND ...`: dispatch to the subcommands (cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "agent/cli.h"

static const struct {
	const char *name;                 /* as typed */
	int (*fn)(int argc, char **argv); /* cmd_* */
	const char *summary;              /* one line for `fieldgate help` */
} commands[] = {
	{ "run", cmd_run, "run the agent in the foreground (-c FILE)" },
	{ "check-config", cmd_check_config, "validate a config and print the effective settings" },
	{ "status", cmd_status, "buffer size, oldest/newest event, per-sink backlog (--json)" },
	{ "simulate", cmd_simulate, "emit simulated sensor readings as JSON lines" },
	{ "score", cmd_score, "score readings from stdin, write events to stdout" },
	{ "train", cmd_train, "train the three models from labelled readings" },
	{ "eval", cmd_eval, "accuracy, confusion matrices, RMSE of models on labelled readings" },
	{ "replay", cmd_replay, "resend buffered events to the sinks" },
	{ "models", cmd_models, "the model lifecycle: features, check, swap model sets" },
	{ "version", cmd_version, "versions of fieldgate and its libraries" },
};

static void main__help(FILE *f)
{
	fprintf(f, "usage: fieldgate COMMAND [OPTIONS]   (fieldgate COMMAND --help for details)\n\n"
		"fieldgate reads sensor readings (MQTT or the built-in simulator), scores each\n"
		"with three models, buffers every event in SQLite and forwards it to Kafka and\n"
		"Elasticsearch.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-13s %s\n", "help", "this text");
	fprintf(f, "\nexit status: 0 success, 1 runtime failure, 2 usage or configuration error\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main__help(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || cli_is_help(argv[1])) {
		main__help(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "fieldgate: unknown command '%s' (try 'fieldgate help')\n", argv[1]);
	return EXIT_USAGE;
}
