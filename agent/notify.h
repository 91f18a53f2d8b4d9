/*
 * notify.h - telling systemd how the agent is doing (sd_notify(3)), for a
 * Type=notify unit with WatchdogSec= such as fieldgate@.service: READY=1
 * once the source runs, RELOADING=1/READY=1 around a SIGHUP reload,
 * STOPPING=1 on the way out, WATCHDOG=1 pings from the main loop, and a
 * one-line STATUS= that `systemctl status` shows.
 *
 * Every call is a cheap no-op when the agent was not started by systemd
 * (NOTIFY_SOCKET unset), so `fieldgate run` behaves the same in a terminal.
 * Call these from the main thread only: the watchdog keeps its last-ping
 * time in a static, and a ping proves that the main loop still turns.
 */
#ifndef FIELDGATE_AGENT_NOTIFY_H
#define FIELDGATE_AGENT_NOTIFY_H

/* READY=1: startup is done (also ends a reload begun by notify_reloading()). */
void notify_ready(void);

/* WATCHDOG=1, at most once per notify_watchdog_interval_ms(): call it on
 * every turn of the main loop; it sends only when a ping is due. Does
 * nothing when the unit has no WatchdogSec= or NOTIFY_SOCKET is unset. */
void notify_watchdog(void);

/* RELOADING=1 (with MONOTONIC_USEC=, as systemd >= 253 wants): a reload
 * has begun; follow it with notify_ready() whether it worked or not. */
void notify_reloading(void);

/* STOPPING=1: shutdown has begun (the drain may take a few seconds). */
void notify_stopping(void);

/* EXTEND_TIMEOUT_USEC=: the start (or stop) takes another ms milliseconds
 * from now, so systemd does not time it out while the agent waits. */
void notify_extend_timeout(int ms);

/* STATUS=...: one line for `systemctl status` (printf-style; newlines
 * become spaces; cut at 512 bytes). */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Half of the unit's WatchdogSec= in milliseconds (how often to ping), or 0
 * when the watchdog is off for this process. Read once and cached. */
int notify_watchdog_interval_ms(void);

#endif
