/*
 * sensor_map.c - the per-sensor hash table (see sensor_map.h). A slot is
 * the NUL-terminated id, then the value at an aligned offset, padded to 16
 * bytes; an empty id marks a free slot.
 */
#include "agent/sensor_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/reading.h"

#define ID_BYTES (READING_ID_MAX + 1)
#define VALUE_OFF ((ID_BYTES + 15) & ~15) /* values start 16-byte aligned */

struct sensor_map {
	unsigned char *slots; /* capacity slots of slot_size bytes */
	size_t slot_size;     /* VALUE_OFF + value, rounded up to 16 */
	size_t value_size;    /* bytes of a value */
	size_t capacity;      /* a power of two */
	size_t used;          /* occupied slots */
};

static uint64_t sensor_map__hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static unsigned char *sensor_map__probe(unsigned char *slots, size_t slot_size, size_t cap, const char *id)
{
	size_t i = sensor_map__hash_id(id) & (cap - 1);
	while (slots[i * slot_size] && strcmp((char *)slots + i * slot_size, id) != 0)
		i = (i + 1) & (cap - 1);
	return slots + i * slot_size;
}

int sensor_map_create(struct sensor_map **out, size_t value_size)
{
	struct sensor_map *m = calloc(1, sizeof *m);
	if (!m)
		return -1;
	m->value_size = value_size;
	m->slot_size = (VALUE_OFF + value_size + 15) & ~(size_t)15;
	m->capacity = 64;
	m->slots = calloc(m->capacity, m->slot_size);
	if (!m->slots) {
		free(m);
		return -1;
	}
	*out = m;
	return 0;
}

void sensor_map_free(struct sensor_map **m)
{
	if (!m || !*m)
		return;
	free((*m)->slots);
	free(*m);
	*m = NULL;
}

size_t sensor_map_count(const struct sensor_map *m)
{
	return m->used;
}

static int sensor_map__grow(struct sensor_map *m)
{
	size_t cap = m->capacity * 2;
	unsigned char *slots = calloc(cap, m->slot_size);
	if (!slots)
		return -1;
	for (size_t i = 0; i < m->capacity; i++) {
		unsigned char *s = m->slots + i * m->slot_size;
		if (*s)
			memcpy(sensor_map__probe(slots, m->slot_size, cap, (char *)s), s, m->slot_size);
	}
	free(m->slots);
	m->slots = slots;
	m->capacity = cap;
	return 0;
}

void *sensor_map_get(struct sensor_map *m, const char *id, int create, int *created)
{
	size_t n = strlen(id);
	unsigned char *s;

	if (created)
		*created = 0;
	if (n == 0 || n >= ID_BYTES)
		return NULL;
	s = sensor_map__probe(m->slots, m->slot_size, m->capacity, id);
	if (*s)
		return s + VALUE_OFF;
	if (!create)
		return NULL;
	if ((m->used + 1) * 2 > m->capacity) {
		if (sensor_map__grow(m) < 0)
			return NULL;
		s = sensor_map__probe(m->slots, m->slot_size, m->capacity, id);
	}
	memcpy(s, id, n + 1);
	m->used++;
	if (created)
		*created = 1;
	return s + VALUE_OFF;
}
