/*
 * notify.c - sd_notify(3) messages to systemd (see notify.h). The only
 * file that includes libsystemd's headers. The watchdog interval is read
 * once from WATCHDOG_USEC/WATCHDOG_PID (sd_watchdog_enabled) and cached, so
 * notify_watchdog() on every 100 ms turn of the main loop costs one clock
 * read until a ping is due.
 */
#include "agent/notify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

/* -1 until read; then 0 (no watchdog) or the ping interval in ms. */
static int watchdog_interval_ms = -1;
/* Monotonic time of the last WATCHDOG=1, in ms (0 = never). */
static int64_t watchdog_last_ms;

static int64_t notify__mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* systemd not around: skip the formatting and the syscall entirely. */
static int notify__enabled(void)
{
	return getenv("NOTIFY_SOCKET") != NULL;
}

void notify_ready(void)
{
	if (notify__enabled())
		sd_notify(0, "READY=1");
}

int notify_watchdog_interval_ms(void)
{
	if (watchdog_interval_ms < 0) {
		uint64_t usec = 0;
		/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is us. */
		if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
			uint64_t half_ms = usec / 2000;
			watchdog_interval_ms = half_ms == 0 ? 1 : half_ms > 3600000 ? 3600000 : (int)half_ms;
		} else {
			watchdog_interval_ms = 0;
		}
	}
	return watchdog_interval_ms;
}

void notify_watchdog(void)
{
	int interval = notify_watchdog_interval_ms();
	int64_t now;

	if (interval == 0 || !notify__enabled())
		return;
	now = notify__mono_us() / 1000;
	if (watchdog_last_ms != 0 && now - watchdog_last_ms < interval)
		return;
	sd_notify(0, "WATCHDOG=1");
	watchdog_last_ms = now;
}

void notify_reloading(void)
{
	if (notify__enabled())
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)notify__mono_us());
}

void notify_stopping(void)
{
	if (notify__enabled())
		sd_notify(0, "STOPPING=1");
}

void notify_extend_timeout(int ms)
{
	if (notify__enabled())
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%lld", (long long)ms * 1000);
}

void notify_status(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!notify__enabled())
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	sd_notifyf(0, "STATUS=%s", line);
}
