/*
 * sensor_map.h - per-sensor state keyed by sensor_id: an open-addressing
 * hash table (linear probing, FNV-1a, doubling at 50% load) holding a
 * fixed-size value per sensor. Used by the feature catalogue (rolling
 * windows) and the alert rate limiter. One thread at a time.
 */
#ifndef FIELDGATE_AGENT_SENSOR_MAP_H
#define FIELDGATE_AGENT_SENSOR_MAP_H

#include <stddef.h>

struct sensor_map;

/* Create an empty map whose values are value_size bytes. 0, or -1 (out of memory). */
int sensor_map_create(struct sensor_map **out, size_t value_size);

/* Free and clear; accepts NULL. */
void sensor_map_free(struct sensor_map **m);

/*
 * The value of sensor id (at most 128 bytes), created zero-filled when absent
 * and `create` is set. NULL when absent (and not created) or out of memory.
 * The pointer is valid until the next sensor_map_get() that creates.
 * *created (may be NULL) tells whether it was just created.
 */
void *sensor_map_get(struct sensor_map *m, const char *id, int create, int *created);

/* Number of sensors in the map. */
size_t sensor_map_count(const struct sensor_map *m);

#endif
