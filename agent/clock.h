/*
 * clock.h - the agent's two clocks in milliseconds: wall time for what is
 * shown or stored (arrival times, state file stamps), monotonic time for
 * intervals and deadlines, which must not jump when the clock is set.
 */
#ifndef FIELDGATE_AGENT_CLOCK_H
#define FIELDGATE_AGENT_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
int64_t clock_mono_ms(void);

#endif
