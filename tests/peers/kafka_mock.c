/*
 * kafka_mock - a Kafka cluster for the integration tests, built on
 * librdkafka's mock cluster (rdkafka_mock.h), since no JVM Kafka runs here.
 * It starts N brokers on 127.0.0.1 (random free ports), creates the topics
 * named on the command line, prints one line "BOOTSTRAP host:port,..." on
 * stdout and then obeys one command per line on stdin, answering each with
 * one line, "ok" or "error: ...": take brokers down and up, inject Produce
 * errors, add latency, create topics, move partition leaders. EOF on stdin,
 * "quit", SIGTERM or SIGINT end it cleanly with exit status 0.
 * tests/integration/kafka_lib.sh drives it; "kafka_mock --help" lists the
 * commands.
 *
 * librdkafka 2.0.2's mock broker accepts connections with plain accept(2)
 * and never sets TCP_NODELAY, so with Nagle on both ends every request/
 * response round trip can stall for the 40 ms delayed-ACK timer. This file
 * defines accept() and accept4() itself: the executable's definitions come
 * first in symbol lookup, so librdkafka's calls land here, and we set
 * TCP_NODELAY on each accepted socket before handing it back.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define KAFKA_MOCK_MAX_BROKERS 16
#define KAFKA_MOCK_MAX_ERRS 64
#define KAFKA_MOCK_LINE_MAX 4096

/* ---- TCP_NODELAY on accepted sockets (interposed accept/accept4) ---- */

typedef int (*accept_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict);
typedef int (*accept4_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict, int);

static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static accept_fn real_accept;     /* libc's accept, found with RTLD_NEXT */
static accept4_fn real_accept4;   /* libc's accept4 */
static atomic_int nodelay_set;    /* accepted sockets given TCP_NODELAY */
static atomic_int nodelay_failed; /* accepted sockets where setsockopt failed */

static void real_resolve(void)
{
	/* POSIX guarantees a dlsym() result converts to a function pointer. */
	real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
	real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
}

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		atomic_fetch_add(&nodelay_set, 1);
	else
		atomic_fetch_add(&nodelay_failed, 1); /* e.g. not a TCP socket */
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	int s;

	pthread_once(&real_once, real_resolve);
	if (!real_accept) {
		errno = ENOSYS;
		return -1;
	}
	s = real_accept(fd, addr, len);
	if (s >= 0)
		nodelay(s);
	return s;
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
	int s;

	pthread_once(&real_once, real_resolve);
	if (!real_accept4) {
		errno = ENOSYS;
		return -1;
	}
	s = real_accept4(fd, addr, len, flags);
	if (s >= 0)
		nodelay(s);
	return s;
}

/* ---- the cluster and its commands ---- */

struct mock {
	rd_kafka_t *rk;                    /* handle the mock cluster lives in */
	rd_kafka_mock_cluster_t *mcluster; /* the brokers */
	int brokers;                       /* broker count; ids are 1..brokers */
	int replication;                   /* replication factor for new topics */
};

static volatile sig_atomic_t stop_signal; /* SIGTERM/SIGINT seen */

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Parses a whole decimal integer in [lo, hi]; returns 0 or -1. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* ApiKeys the "error" and "clear" commands accept by name (Kafka protocol). */
static const struct {
	const char *name; /* lower case, as typed in a command */
	int16_t key;      /* the protocol ApiKey */
} api_keys[] = {
    {"produce", 0},     {"fetch", 1},           {"listoffsets", 2},
    {"metadata", 3},    {"offsetcommit", 8},    {"offsetfetch", 9},
    {"findcoordinator", 10}, {"apiversions", 18}, {"initproducerid", 22},
};

/* An ApiKey by name or number; -1 when unknown. */
static int api_key(const char *s)
{
	long v;
	size_t i;

	for (i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++)
		if (!strcasecmp(s, api_keys[i].name))
			return api_keys[i].key;
	if (parse_int(s, 0, 100, &v) == 0)
		return (int)v;
	return -1;
}

/* An error code by number, or by librdkafka's name with or without the
 * RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION, MSG_SIZE_TOO_LARGE,
 * ...). Returns 0 and sets *err, or -1. */
static int error_code(const char *s, rd_kafka_resp_err_t *err)
{
	const struct rd_kafka_err_desc *descs;
	size_t n, i;
	long v;

	if (parse_int(s, -200, 1000, &v) == 0) {
		*err = (rd_kafka_resp_err_t)v;
		return 0;
	}
	if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
		s += 18;
	if (!strcasecmp(s, "NOT_LEADER_OR_FOLLOWER")) { /* the KIP-392 name */
		*err = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
		return 0;
	}
	rd_kafka_get_err_descs(&descs, &n);
	for (i = 0; i < n; i++) {
		if (descs[i].name && !strcasecmp(s, descs[i].name)) {
			*err = descs[i].code;
			return 0;
		}
	}
	return -1;
}

/* "down ID|all", "up ID|all", "rtt ID|all MS": one broker or each. */
static void cmd_broker(struct mock *m, const char *verb, const char *id_s, const char *ms_s)
{
	long id = 0, ms = 0;
	int first, last, i;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (!id_s) {
		reply("error: %s needs a broker id (1..%d) or 'all'", verb, m->brokers);
		return;
	}
	if (!strcmp(id_s, "all")) {
		first = 1;
		last = m->brokers;
	} else if (parse_int(id_s, 1, m->brokers, &id) == 0) {
		first = last = (int)id;
	} else {
		reply("error: no broker '%s' (ids are 1..%d, or 'all')", id_s, m->brokers);
		return;
	}
	if (!strcmp(verb, "rtt") && parse_int(ms_s, 0, 3600000, &ms) != 0) {
		reply("error: rtt needs milliseconds (0..3600000), got '%s'", ms_s ? ms_s : "");
		return;
	}
	for (i = first; i <= last && !err; i++) {
		if (!strcmp(verb, "down"))
			err = rd_kafka_mock_broker_set_down(m->mcluster, i);
		else if (!strcmp(verb, "up"))
			err = rd_kafka_mock_broker_set_up(m->mcluster, i);
		else
			err = rd_kafka_mock_broker_set_rtt(m->mcluster, i, (int)ms);
	}
	if (err)
		reply("error: %s broker %d: %s", verb, i - 1, rd_kafka_err2str(err));
	else
		reply("ok");
}

/* "error API CODE[,CODE...]": the next requests of that ApiKey, on any
 * broker, fail with these codes in order, one code per request. */
static void cmd_error(struct mock *m, const char *api_s, char *codes)
{
	rd_kafka_resp_err_t errs[KAFKA_MOCK_MAX_ERRS];
	size_t cnt = 0;
	char *save = NULL, *tok;
	int key;

	if (!api_s || !codes) {
		reply("error: usage: error API CODE[,CODE...] (e.g. error produce NOT_LEADER_FOR_PARTITION,7)");
		return;
	}
	if ((key = api_key(api_s)) < 0) {
		reply("error: unknown API '%s' (produce, fetch, metadata, initproducerid, ... or a number)", api_s);
		return;
	}
	for (tok = strtok_r(codes, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cnt == KAFKA_MOCK_MAX_ERRS) {
			reply("error: at most %d codes per command", KAFKA_MOCK_MAX_ERRS);
			return;
		}
		if (error_code(tok, &errs[cnt]) != 0) {
			reply("error: unknown error code '%s' (a number or a name like MSG_SIZE_TOO_LARGE)", tok);
			return;
		}
		cnt++;
	}
	if (!cnt) {
		reply("error: no error codes given");
		return;
	}
	rd_kafka_mock_push_request_errors_array(m->mcluster, (int16_t)key, cnt, errs);
	reply("ok");
}

/* "clear API": drop the errors still queued for that ApiKey. */
static void cmd_clear(struct mock *m, const char *api_s)
{
	int key;

	if (!api_s || (key = api_key(api_s)) < 0) {
		reply("error: usage: clear API (e.g. clear produce)");
		return;
	}
	rd_kafka_mock_clear_request_errors(m->mcluster, (int16_t)key);
	reply("ok");
}

/* Creates NAME with PARTITIONS; returns 0, or -1 with a message in err. */
static int topic_create(struct mock *m, const char *name, long parts, char *err, size_t errlen)
{
	rd_kafka_resp_err_t e;

	e = rd_kafka_mock_topic_create(m->mcluster, name, (int)parts, m->replication);
	if (e) {
		snprintf(err, errlen, "create topic %s (%ld partitions): %s", name, parts,
			 rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

/* "topic NAME PARTITIONS" */
static void cmd_topic(struct mock *m, const char *name, const char *parts_s)
{
	long parts;
	char err[256];

	if (!name || parse_int(parts_s, 1, 10000, &parts) != 0) {
		reply("error: usage: topic NAME PARTITIONS (1..10000)");
		return;
	}
	if (topic_create(m, name, parts, err, sizeof(err)) != 0)
		reply("error: %s", err);
	else
		reply("ok");
}

/* "leader TOPIC PARTITION ID": move a partition's leadership (failover). */
static void cmd_leader(struct mock *m, const char *topic, const char *part_s, const char *id_s)
{
	long part, id;
	rd_kafka_resp_err_t e;

	if (!topic || parse_int(part_s, 0, 10000, &part) != 0 ||
	    parse_int(id_s, 1, m->brokers, &id) != 0) {
		reply("error: usage: leader TOPIC PARTITION BROKER-ID (1..%d)", m->brokers);
		return;
	}
	e = rd_kafka_mock_partition_set_leader(m->mcluster, topic, (int32_t)part, (int32_t)id);
	if (e)
		reply("error: leader %s [%ld] -> %ld: %s", topic, part, id, rd_kafka_err2str(e));
	else
		reply("ok");
}

/* "topic-error TOPIC CODE": metadata for TOPIC reports CODE (0 clears). */
static void cmd_topic_error(struct mock *m, const char *topic, const char *code_s)
{
	rd_kafka_resp_err_t e;

	if (!topic || !code_s || error_code(code_s, &e) != 0) {
		reply("error: usage: topic-error TOPIC CODE (0 clears)");
		return;
	}
	rd_kafka_mock_topic_set_error(m->mcluster, topic, e);
	reply("ok");
}

/* Runs one command line; returns 1 on "quit", else 0. */
static int command(struct mock *m, char *line)
{
	char *argv[5] = {0};
	char *save = NULL, *tok;
	int argc = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok && argc < 5; tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (tok) {
		reply("error: too many arguments");
		return 0;
	}
	if (!argc)
		return 0; /* blank lines get no answer */
	if (!strcmp(argv[0], "quit")) {
		reply("ok");
		return 1;
	} else if (!strcmp(argv[0], "ping")) {
		reply("ok");
	} else if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up") || !strcmp(argv[0], "rtt")) {
		cmd_broker(m, argv[0], argv[1], argv[2]);
	} else if (!strcmp(argv[0], "error")) {
		cmd_error(m, argv[1], argv[2]);
	} else if (!strcmp(argv[0], "clear")) {
		cmd_clear(m, argv[1]);
	} else if (!strcmp(argv[0], "topic")) {
		cmd_topic(m, argv[1], argv[2]);
	} else if (!strcmp(argv[0], "leader")) {
		cmd_leader(m, argv[1], argv[2], argv[3]);
	} else if (!strcmp(argv[0], "topic-error")) {
		cmd_topic_error(m, argv[1], argv[2]);
	} else if (!strcmp(argv[0], "nodelay")) {
		reply("ok %d %d", atomic_load(&nodelay_set), atomic_load(&nodelay_failed));
	} else {
		reply("error: unknown command '%s' (see kafka_mock --help)", argv[0]);
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: kafka_mock [--brokers N] [--topic NAME[:PARTITIONS]]...\n"
	      "Starts N (default 3) mock Kafka brokers on 127.0.0.1, creates the topics\n"
	      "(4 partitions unless given), prints 'BOOTSTRAP host:port,...' and then\n"
	      "answers each command on stdin with one line, 'ok' or 'error: ...':\n"
	      "  down ID|all, up ID|all      take brokers down / bring them back (ids 1..N)\n"
	      "  rtt ID|all MS               delay every response of the broker(s) by MS\n"
	      "  error API CODE[,CODE...]    the next API requests (produce, fetch, metadata,\n"
	      "                              initproducerid, ... or an ApiKey number) fail with\n"
	      "                              these codes, one per request; CODE is a number or\n"
	      "                              a name (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT,\n"
	      "                              MSG_SIZE_TOO_LARGE, NOT_ENOUGH_REPLICAS, ...)\n"
	      "  clear API                   drop the errors still queued for API\n"
	      "  topic NAME PARTITIONS       create a topic\n"
	      "  leader TOPIC PARTITION ID   make broker ID the partition's leader\n"
	      "  topic-error TOPIC CODE      metadata reports CODE for TOPIC (0 clears)\n"
	      "  nodelay                     'ok SET FAILED': sockets given TCP_NODELAY\n"
	      "  ping                        'ok'\n"
	      "  quit                        exit 0 (so do EOF, SIGTERM and SIGINT)\n",
	      f);
}

/* Reads stdin line by line until EOF, quit or a signal. Returns 0 or -1. */
static int command_loop(struct mock *m, const sigset_t *waitmask)
{
	static char buf[KAFKA_MOCK_LINE_MAX];
	size_t len = 0;
	int discarding = 0; /* inside an over-long line */

	for (;;) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		char *nl;
		ssize_t r;

		if (stop_signal)
			return 0;
		/* Signals are blocked everywhere but here, so they cannot be
		 * lost between the check above and the wait. */
		if (ppoll(&pfd, 1, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kafka_mock: poll on stdin: %s\n", strerror(errno));
			return -1;
		}
		r = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "kafka_mock: read stdin: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0; /* EOF: whoever drove us is gone */
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len))) {
			size_t used = (size_t)(nl - buf) + 1;

			*nl = '\0';
			if (discarding) {
				discarding = 0;
				reply("error: command longer than %d bytes", KAFKA_MOCK_LINE_MAX - 2);
			} else if (command(m, buf)) {
				return 0;
			}
			memmove(buf, buf + used, len - used);
			len -= used;
			buf[len] = '\0';
		}
		if (len == sizeof(buf) - 1) {
			discarding = 1;
			len = 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct mock m = {.brokers = 3};
	char errstr[512];
	rd_kafka_conf_t *conf;
	sigset_t block, waitmask;
	struct sigaction sa;
	const char *topics[64];
	int ntopics = 0, i, rc = 1;

	for (i = 1; i < argc; i++) {
		long v;

		if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
			if (parse_int(argv[++i], 1, KAFKA_MOCK_MAX_BROKERS, &v) != 0) {
				fprintf(stderr, "kafka_mock: --brokers '%s': expected 1..%d\n", argv[i],
					KAFKA_MOCK_MAX_BROKERS);
				return 2;
			}
			m.brokers = (int)v;
		} else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
			if (ntopics == (int)(sizeof(topics) / sizeof(topics[0]))) {
				fprintf(stderr, "kafka_mock: too many --topic options\n");
				return 2;
			}
			topics[ntopics++] = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "kafka_mock: unknown or incomplete option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	m.replication = m.brokers < 3 ? m.brokers : 3;

	/* Block the stop signals in every thread (librdkafka's inherit this
	 * mask); the command loop unblocks them only inside ppoll(). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a reader gone: write fails, we do not die */

	conf = rd_kafka_conf_new();
	/* log_level 4: keep warnings and errors, drop the notice that this
	 * handle has no bootstrap.servers (it is only the mock's host). */
	if (rd_kafka_conf_set(conf, "log.connection.close", "false", errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	m.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!m.rk) {
		fprintf(stderr, "kafka_mock: cannot create the librdkafka handle: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	m.mcluster = rd_kafka_mock_cluster_new(m.rk, m.brokers);
	if (!m.mcluster) {
		fprintf(stderr, "kafka_mock: cannot start %d mock brokers on 127.0.0.1 "
				"(see librdkafka's messages above)\n", m.brokers);
		goto done;
	}
	for (i = 0; i < ntopics; i++) {
		char name[256];
		const char *colon = strchr(topics[i], ':');
		long parts = 4;
		size_t nlen = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);

		if (nlen == 0 || nlen >= sizeof(name) ||
		    (colon && parse_int(colon + 1, 1, 10000, &parts) != 0)) {
			fprintf(stderr, "kafka_mock: --topic '%s': expected NAME[:PARTITIONS]\n",
				topics[i]);
			rc = 2;
			goto done;
		}
		memcpy(name, topics[i], nlen);
		name[nlen] = '\0';
		if (topic_create(&m, name, parts, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "kafka_mock: %s\n", errstr);
			goto done;
		}
	}
	reply("BOOTSTRAP %s", rd_kafka_mock_cluster_bootstraps(m.mcluster));
	rc = command_loop(&m, &waitmask) == 0 ? 0 : 1;

done:
	if (m.mcluster)
		rd_kafka_mock_cluster_destroy(m.mcluster);
	rd_kafka_destroy(m.rk);
	return rc;
}
