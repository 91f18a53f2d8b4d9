/*
 * fuzz_es_bulk.c - how the Elasticsearch forwarder reads a 200 `_bulk`
 * response (es__bulk_outcomes(), sinks/sinks_int.h) on any bytes.
 *
 * Input: an optional first line with the number of documents the request
 * carried ("3\n"; 1..ES_FUZZ_MAX_EVENTS, default 1), then the response
 * body. The body is copied with a NUL after it, as es.c keeps it. What is
 * checked is the sink contract (sink.h): every event gets exactly one
 * outcome, delivered without a reason, retried or rejected with a one-line
 * reason, and a retry carries the Retry-After it was given.
 */
#include <string.h>

#include "sinks/sinks_int.h"
#include "tests/fuzz/fuzz.h"

#define ES_FUZZ_MAX_EVENTS 256
#define ES_FUZZ_RETRY_AFTER_MS 7000 /* as if the response had Retry-After: 7 */

struct fuzz__tally {
	size_t n;                           /* events sent */
	unsigned seen[ES_FUZZ_MAX_EVENTS];  /* outcomes per event */
};

static void fuzz__on_outcome(void *ctx, uint64_t seq, enum sink_outcome o, const char *reason,
			     int64_t retry_after_ms)
{
	struct fuzz__tally *t = ctx;

	FUZZ_ASSERT(seq >= 1000 && seq - 1000 < t->n, "an outcome for seq %llu, never sent",
		    (unsigned long long)seq);
	t->seen[seq - 1000]++;
	switch (o) {
	case SINK_DELIVERED:
		FUZZ_ASSERT(!reason, "delivered with a reason: %s", reason);
		break;
	case SINK_RETRY:
	case SINK_REJECTED:
		FUZZ_ASSERT(reason && fuzz_one_line(reason, strlen(reason) + 1),
			    "outcome %d without a one-line reason: \"%s\"", (int)o,
			    reason ? reason : "(null)");
		FUZZ_ASSERT(retry_after_ms == 0 || retry_after_ms == ES_FUZZ_RETRY_AFTER_MS,
			    "retry after %lld ms, not as given", (long long)retry_after_ms);
		break;
	default:
		FUZZ_FAIL("outcome %d is not one of the three", (int)o);
	}
}

int fuzz_es_bulk(const uint8_t *data, size_t size)
{
	struct sink_event ev[ES_FUZZ_MAX_EVENTS];
	struct fuzz__tally t;
	size_t n = 0, i = 0;
	char *body;

	while (i < size && i < 4 && data[i] >= '0' && data[i] <= '9')
		n = n * 10 + (size_t)(data[i++] - '0');
	if (i > 0 && i < size && data[i] == '\n' && n >= 1 && n <= ES_FUZZ_MAX_EVENTS)
		i++;
	else
		n = 1, i = 0; /* no count line: the whole input is the body */
	body = malloc(size - i + 1);
	FUZZ_ASSERT(body, "out of memory");
	memcpy(body, data + i, size - i);
	body[size - i] = '\0';

	memset(ev, 0, sizeof ev);
	memset(&t, 0, sizeof t);
	t.n = n;
	for (size_t k = 0; k < n; k++)
		ev[k].seq = 1000 + k;
	es__bulk_outcomes(body, size - i, ev, n, ES_FUZZ_RETRY_AFTER_MS, fuzz__on_outcome, &t);
	for (size_t k = 0; k < n; k++)
		FUZZ_ASSERT(t.seen[k] == 1, "event %zu of %zu got %u outcomes", k, n, t.seen[k]);
	free(body);
	return 0;
}

FUZZ_TARGET(fuzz_es_bulk)
