/*
 * cli.h - the subcommands of `fieldgate` (SPEC §1). Each takes the
 * arguments after its name (argv[0] is the command name) and returns the
 * process exit status: 0 success, 1 runtime failure, 2 usage or
 * configuration error.
 */
#ifndef FIELDGATE_AGENT_CLI_H
#define FIELDGATE_AGENT_CLI_H

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_models(int argc, char **argv);

/* True if arg is -h or --help. */
int cli_is_help(const char *arg);

/* Parse a non-negative decimal integer / a finite double; 0 or -1. */
int cli_parse_u64(const char *s, unsigned long long *out);
int cli_parse_double(const char *s, double *out);

/* Create a directory and its parents (mode 0750). 0, or -1 with errno. */
int cli_mkdirs(const char *path);

#endif
