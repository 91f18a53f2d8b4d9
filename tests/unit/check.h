/*
 * check.h - the unit tests' few assertion macros. A failed check prints
 * file:line and the expression, counts, and the test goes on; check_done()
 * prints "N passed, N failed" and gives the exit status.
 */
#ifndef FIELDGATE_TESTS_CHECK_H
#define FIELDGATE_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check__passed, check__failed;

#ifdef FIELDGATE_SRCDIR
/* The fixtures are named relative to tests/unit/ ("../data/config/..."), so
 * every test starts there, wherever it was run from (the Makefile passes
 * the source tree's path). */
__attribute__((constructor)) static void check__to_srcdir(void)
{
	if (chdir(FIELDGATE_SRCDIR "/tests/unit") != 0) {
		perror(FIELDGATE_SRCDIR "/tests/unit");
		exit(2);
	}
}
#endif

#define CHECK(cond) do { \
	if (cond) check__passed++; \
	else { check__failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_INT(a, b) do { \
	long long check__a = (long long)(a), check__b = (long long)(b); \
	if (check__a == check__b) check__passed++; \
	else { check__failed++; fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
		__FILE__, __LINE__, #a, #b, check__a, check__b); } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check__a = (a), *check__b = (b); \
	if (check__a && check__b && strcmp(check__a, check__b) == 0) check__passed++; \
	else { check__failed++; fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
		__FILE__, __LINE__, #a, #b, check__a ? check__a : "(null)", check__b ? check__b : "(null)"); } \
} while (0)

#define CHECK_NEAR(a, b, eps) do { \
	double check__a = (a), check__b = (b); \
	if (fabs(check__a - check__b) <= (eps)) check__passed++; \
	else { check__failed++; fprintf(stderr, "%s:%d: CHECK failed: %s ~= %s (%.17g != %.17g)\n", \
		__FILE__, __LINE__, #a, #b, check__a, check__b); } \
} while (0)

/* Print the tally ("test_store: 12 passed, 0 failed") and return the exit status. */
static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check__passed, check__failed);
	return check__failed ? 1 : 0;
}

#endif
