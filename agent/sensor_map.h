/*
 * sensor_map.h - per-sensor state keyed by sensor_id, with bounded memory: a
 * fixed-size value per sensor, at most `max` sensors, the least recently
 * used one evicted to make room for a new one, and optionally every sensor
 * not seen for `idle_ms` evicted as well. Used by the feature catalogue
 * (rolling windows) and the alert rate limiter. One thread at a time.
 *
 * Every operation is O(1): an open-addressing index (linear probing, FNV-1a,
 * at most half full, backward-shift deletion, so no tombstones) points into
 * a pool of entries that never moves an entry except when the pool grows;
 * the entries form a doubly linked list in order of use, the least recently
 * used at the tail, so the sensor to evict and the idle ones are found
 * there. The pool grows by doubling up to `max` entries and never shrinks:
 * memory is bounded by max * sensor_map_entry_bytes() plus the index.
 */
#ifndef FIELDGATE_AGENT_SENSOR_MAP_H
#define FIELDGATE_AGENT_SENSOR_MAP_H

#include <stddef.h>
#include <stdint.h>

#define SENSOR_MAP_MAX ((size_t)1 << 30) /* the largest max (entries are 32-bit indices) */

struct sensor_map;

/* What a map holds and has let go of since it was created. */
struct sensor_map_stats {
	size_t count;            /* sensors held now (<= max) */
	uint64_t evicted_lru;    /* evicted to make room for a new sensor (the cap) */
	uint64_t evicted_idle;   /* evicted because not seen for idle_ms */
};

/* Create an empty map whose values are value_size bytes, holding at most
 * max sensors (1..SENSOR_MAP_MAX) and, when idle_ms > 0, evicting a sensor
 * idle_ms after it was last looked up. 0, or -1 (bad limit, out of memory). */
int sensor_map_create(struct sensor_map **out, size_t value_size, size_t max, int64_t idle_ms);

/* Free and clear; accepts NULL. */
void sensor_map_free(struct sensor_map **m);

/* Change the limits (as at create); a smaller max evicts the least recently
 * used sensors at once. 0, or -1 for a bad max (nothing changed). */
int sensor_map_set_limits(struct sensor_map *m, size_t max, int64_t idle_ms);

/*
 * The value of sensor id (at most 128 bytes) at time now_ms, which makes it
 * the most recently used. First, with an idle timeout, sensors last looked
 * up idle_ms or more before now_ms are evicted (id among them: it is then
 * absent). An absent sensor is created zero-filled when `create` is set,
 * evicting the least recently used one when the map holds max already.
 * NULL when absent (and not created) or out of memory. The pointer is valid
 * until the next sensor_map_get() or sensor_map_set_limits().
 * *created (may be NULL) tells whether it was just created.
 */
void *sensor_map_get(struct sensor_map *m, const char *id, int64_t now_ms, int create,
		     int *created);

/* Number of sensors in the map. */
size_t sensor_map_count(const struct sensor_map *m);

/* Counts and evictions so far. */
void sensor_map_stats(const struct sensor_map *m, struct sensor_map_stats *out);

/* Bytes one sensor takes in a map of values of value_size bytes (its entry
 * and its link in the list of use; the index adds 8 to 16 bytes a sensor),
 * for sizing the cap. */
size_t sensor_map_entry_bytes(size_t value_size);

#endif
