/*
 * clockshift.so - an LD_PRELOAD shim for the chaos test (tests/chaos/chaos.py):
 * steps the wall clock of one process (the agent) without touching the
 * machine's clock. Every CLOCK_REALTIME read (clock_gettime with
 * CLOCK_REALTIME or CLOCK_REALTIME_COARSE, gettimeofday, time, C11
 * timespec_get) gets an offset in seconds added; the offset is read from
 * the file named by $FG_CLOCK_OFFSET_FILE (one integer, e.g. -3600), at
 * most every 100 ms, so the driver steps the clock by rewriting that file.
 * A missing or unreadable file means offset 0. CLOCK_MONOTONIC and the
 * other clocks are not changed, as with a real NTP step.
 *
 * The kernel keeps the real clock, so the waits with an absolute
 * CLOCK_REALTIME deadline (pthread_cond_timedwait on a condition variable
 * without a monotonic clock attribute, C11 cnd_timedwait: the agent, Paho
 * and librdkafka use them) are made to see the stepped clock too: they
 * wait in slices of at most 100 ms of real time and end with a timeout
 * once the stepped clock has passed the deadline. So a step back during a
 * wait lengthens it by the step, as it does on a machine whose clock is
 * really stepped, and a deadline computed from the stepped clock is not
 * taken as long past by the kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *restrict, pthread_mutex_t *restrict,
				 const struct timespec *restrict);
typedef int (*cnd_timedwait_fn)(cnd_t *restrict, mtx_t *restrict,
				const struct timespec *restrict);

static pthread_once_t clockshift_once = PTHREAD_ONCE_INIT;
static clock_gettime_fn clockshift_real; /* libc's clock_gettime */
static cond_timedwait_fn clockshift_real_cond; /* libc's pthread_cond_timedwait */
static cnd_timedwait_fn clockshift_real_cnd;   /* libc's cnd_timedwait */
static atomic_llong clockshift_offset;   /* seconds added to CLOCK_REALTIME */
static atomic_llong clockshift_checked;  /* CLOCK_MONOTONIC ms of the last file read */

static void clockshift__resolve(void)
{
	/* POSIX guarantees a dlsym() result converts to a function pointer. */
	clockshift_real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
	clockshift_real_cond = (cond_timedwait_fn)dlvsym(RTLD_NEXT, "pthread_cond_timedwait",
							 "GLIBC_2.3.2");
	if (!clockshift_real_cond)
		clockshift_real_cond = (cond_timedwait_fn)dlsym(RTLD_NEXT, "pthread_cond_timedwait");
	clockshift_real_cnd = (cnd_timedwait_fn)dlsym(RTLD_NEXT, "cnd_timedwait");
}

/* The offset, re-read from the file when the last read is 100 ms old. */
static long long clockshift__offset(void)
{
	struct timespec m;
	long long now_ms, last;
	const char *path;
	char buf[32];
	ssize_t n;
	int fd;

	pthread_once(&clockshift_once, clockshift__resolve);
	if (!clockshift_real || clockshift_real(CLOCK_MONOTONIC, &m) != 0)
		return 0;
	now_ms = (long long)m.tv_sec * 1000 + m.tv_nsec / 1000000;
	last = atomic_load(&clockshift_checked);
	if (last != 0 && now_ms - last < 100)
		return atomic_load(&clockshift_offset);
	atomic_store(&clockshift_checked, now_ms);
	path = getenv("FG_CLOCK_OFFSET_FILE");
	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		atomic_store(&clockshift_offset, 0);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		atomic_store(&clockshift_offset, strtoll(buf, NULL, 10));
	}
	return atomic_load(&clockshift_offset);
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	int rc;

	pthread_once(&clockshift_once, clockshift__resolve);
	if (!clockshift_real)
		return -1;
	rc = clockshift_real(clk, ts);
	if (rc == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t)clockshift__offset();
	return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec; /* declared nonnull by glibc */
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t)-1;
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base)
{
	if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0)
		return 0;
	return base;
}

/* The real-clock deadline of the next slice of a wait for the stepped-clock
 * deadline *abs: 1 and *slice set, or 0 when the stepped clock is past it. */
static int clockshift__slice(const struct timespec *abs, struct timespec *slice)
{
	struct timespec real_now;
	long long off, now_ns, abs_ns, end_ns;

	off = clockshift__offset();
	if (!clockshift_real || clockshift_real(CLOCK_REALTIME, &real_now) != 0)
		return 0;
	now_ns = (long long)real_now.tv_sec * 1000000000LL + real_now.tv_nsec;
	abs_ns = ((long long)abs->tv_sec - off) * 1000000000LL + abs->tv_nsec;
	if (now_ns >= abs_ns)
		return 0;
	end_ns = now_ns + 100000000LL;
	if (abs_ns < end_ns)
		end_ns = abs_ns;
	slice->tv_sec = (time_t)(end_ns / 1000000000LL);
	slice->tv_nsec = (long)(end_ns % 1000000000LL);
	return 1;
}

int pthread_cond_timedwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mu,
			   const struct timespec *restrict abs)
{
	struct timespec slice;
	int rc;

	pthread_once(&clockshift_once, clockshift__resolve);
	if (!clockshift_real_cond)
		return ENOSYS;
	/* glibc keeps the condition variable's clock in bit 1 of __wrefs:
	 * a CLOCK_MONOTONIC deadline is not the wall clock's business. */
	if (cond->__data.__wrefs & 2)
		return clockshift_real_cond(cond, mu, abs);
	while (clockshift__slice(abs, &slice)) {
		rc = clockshift_real_cond(cond, mu, &slice);
		if (rc != ETIMEDOUT)
			return rc;
	}
	return ETIMEDOUT;
}

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mu, const struct timespec *restrict abs)
{
	struct timespec slice;
	int rc;

	pthread_once(&clockshift_once, clockshift__resolve);
	if (!clockshift_real_cnd)
		return thrd_error;
	while (clockshift__slice(abs, &slice)) {
		rc = clockshift_real_cnd(cond, mu, &slice);
		if (rc != thrd_timedout)
			return rc;
	}
	return thrd_timedout;
}
