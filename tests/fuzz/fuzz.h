/*
 * fuzz.h - the entry points of the fuzz targets (tests/fuzz/README.md).
 *
 * Each target is one function that takes an input of any bytes, feeds it to
 * one parser of the library and checks what the parser promises (a status
 * from its list, a NUL-terminated reason, every event one outcome, a
 * decoded reading that encodes and decodes to itself). A broken promise
 * aborts with one line on stderr, so libFuzzer records the input as a
 * crash. Built with clang into libFuzzer binaries (make fuzz, build/fuzz/),
 * and with gcc into the unit test that replays tests/data/fuzz/ (test_fuzz),
 * so the same code checks the regressions under both compilers. The targets
 * write nothing to disk and leak nothing.
 */
#ifndef FIELDGATE_TESTS_FUZZ_H
#define FIELDGATE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Each returns 0 (libFuzzer's convention) or aborts. */
int fuzz_reading(const uint8_t *data, size_t size);  /* reading_decode*(), reading_parse_time() */
int fuzz_config(const uint8_t *data, size_t size);   /* config_load() of the input as a file */
int fuzz_model(const uint8_t *data, size_t size);    /* model_parse(), then predict */
int fuzz_es_bulk(const uint8_t *data, size_t size);  /* es__bulk_outcomes(): "N\n" then a body */

/* A broken promise: say which and abort (libFuzzer saves the input). */
#define FUZZ_FAIL(...) do { \
	fprintf(stderr, "%s:%d: fuzz check failed: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	abort(); \
} while (0)

#define FUZZ_ASSERT(cond, ...) do { if (!(cond)) FUZZ_FAIL(__VA_ARGS__); } while (0)

/* 1 when err[0..errlen) holds a non-empty NUL-terminated one-line text. */
static inline int fuzz_one_line(const char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < errlen && err[i]; i++)
		if (err[i] == '\n')
			return 0;
	return i > 0 && i < errlen;
}

/* The libFuzzer entry point of a target whose entry function is fn (only
 * in the fuzz build; test_fuzz calls fn itself). */
#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(fn)                                                     \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);       \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)        \
	{                                                                   \
		return fn(data, size);                                      \
	}
#else
#define FUZZ_TARGET(fn)
#endif

#endif
