/*
 * sensor_map.c - the bounded per-sensor table (see sensor_map.h). An entry
 * is a header (the id's hash, the time of its last use), the NUL-terminated
 * id, then the value at an 8-byte aligned offset. The list of use is kept
 * apart, in an array of {prev, next} indices beside the pool: moving a
 * sensor to the front then writes to that dense array rather than to three
 * entries (each a cache line of its own; with a small fleet the whole array
 * stays in L1). The index is an array of buckets {entry + 1, low 32 bits of
 * the hash}, 0 = empty; the hash in the bucket spares reading an entry whose
 * id cannot match and gives a bucket's home without reading the entry
 * (deletion, growth).
 */
#include "agent/sensor_map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/reading.h"

#define ID_BYTES (READING_ID_MAX + 1)
#define NIL UINT32_MAX          /* no entry (list ends, free list end) */
#define POOL_FIRST 64           /* entries allocated at first */
#define INDEX_FIRST 128         /* buckets at first (a power of two) */

struct sensor_map__entry {
	uint32_t hash;          /* low 32 bits of the id's hash */
	uint32_t used;          /* 1 while it holds a sensor */
	int64_t last_ms;        /* when it was last looked up */
	char id[ID_BYTES];      /* NUL-terminated */
};

#define VALUE_OFF ((sizeof(struct sensor_map__entry) + 7) & ~(size_t)7)

/* An entry's place in the list of use. */
struct sensor_map__link {
	uint32_t prev, next;    /* towards the most / least recently used; next links the free list */
};

struct sensor_map__bucket {
	uint32_t e;             /* entry index + 1, 0 = empty */
	uint32_t hash;          /* that entry's hash */
};

struct sensor_map {
	unsigned char *pool;    /* pool_cap entries of entry_size bytes */
	struct sensor_map__link *lru; /* pool_cap links, one per entry */
	size_t entry_size;      /* VALUE_OFF + value, rounded up to 8 */
	size_t value_size;      /* bytes of a value */
	uint32_t pool_cap;      /* entries allocated */
	uint32_t pool_used;     /* entries ever handed out (the rest never touched) */
	uint32_t free_head;     /* entries evicted and free again, NIL = none */
	struct sensor_map__bucket *index; /* index_cap buckets */
	size_t index_cap;       /* a power of two, >= 2 * count */
	uint32_t head, tail;    /* most / least recently used entry, NIL when empty */
	size_t count;           /* sensors held */
	size_t max;             /* at most this many */
	int64_t idle_ms;        /* evict after this long unused, 0 = never */
	uint64_t evicted_lru;   /* evicted for room (see sensor_map_stats) */
	uint64_t evicted_idle;  /* evicted when idle_ms old */
};

static uint64_t sensor_map__hash_id(const char *s, size_t *len)
{
	const char *p = s;
	uint64_t h = 1469598103934665603ULL;
	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	*len = (size_t)(p - s);
	return h;
}

/* a and b are the same string. A plain loop: ids are short, and libc's
 * vector strcmp cost 30 ns more a lookup on the scoring path (its first
 * touch of the entry stalled far longer than this loop's; measured with
 * features_compute() at 100 sensors, tests/bench/RESULTS.md). */
static inline int sensor_map__same_id(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static inline struct sensor_map__entry *sensor_map__entry(const struct sensor_map *m, uint32_t i)
{
	return (struct sensor_map__entry *)(m->pool + (size_t)i * m->entry_size);
}

/* The pool's stride: header, id, value. */
static size_t sensor_map__entry_size(size_t value_size)
{
	return (VALUE_OFF + value_size + 7) & ~(size_t)7;
}

size_t sensor_map_entry_bytes(size_t value_size)
{
	return sensor_map__entry_size(value_size) + sizeof(struct sensor_map__link);
}

int sensor_map_create(struct sensor_map **out, size_t value_size, size_t max, int64_t idle_ms)
{
	struct sensor_map *m;

	if (max < 1 || max > SENSOR_MAP_MAX || idle_ms < 0)
		return -1;
	if (!(m = calloc(1, sizeof *m)))
		return -1;
	m->value_size = value_size;
	m->entry_size = sensor_map__entry_size(value_size);
	m->max = max;
	m->idle_ms = idle_ms;
	m->head = m->tail = m->free_head = NIL;
	m->index_cap = INDEX_FIRST;
	if (!(m->index = calloc(m->index_cap, sizeof *m->index))) {
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
	free((*m)->pool);
	free((*m)->lru);
	free((*m)->index);
	free(*m);
	*m = NULL;
}

size_t sensor_map_count(const struct sensor_map *m)
{
	return m->count;
}

void sensor_map_stats(const struct sensor_map *m, struct sensor_map_stats *out)
{
	out->count = m->count;
	out->evicted_lru = m->evicted_lru;
	out->evicted_idle = m->evicted_idle;
}

/* Take entry i out of the list of use. */
static inline void sensor_map__unlink(struct sensor_map *m, uint32_t i)
{
	struct sensor_map__link *l = &m->lru[i];

	if (l->prev != NIL)
		m->lru[l->prev].next = l->next;
	else
		m->head = l->next;
	if (l->next != NIL)
		m->lru[l->next].prev = l->prev;
	else
		m->tail = l->prev;
}

/* Put entry i at the front (most recently used). */
static inline void sensor_map__push_front(struct sensor_map *m, uint32_t i)
{
	m->lru[i].prev = NIL;
	m->lru[i].next = m->head;
	if (m->head != NIL)
		m->lru[m->head].prev = i;
	else
		m->tail = i;
	m->head = i;
}

/* The bucket holding entry i (hash h); it is there. */
static size_t sensor_map__bucket_of(const struct sensor_map *m, uint32_t i, uint32_t h)
{
	size_t mask = m->index_cap - 1, b = h & mask;

	while (m->index[b].e != i + 1) {
		assert(m->index[b].e != 0);
		b = (b + 1) & mask;
	}
	return b;
}

/* Empty bucket b, shifting back the buckets after it that would otherwise
 * be cut off from their home (linear probing without tombstones). */
static void sensor_map__index_delete(struct sensor_map *m, size_t b)
{
	size_t mask = m->index_cap - 1, j = b;

	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (m->index[j].e == 0)
			break;
		home = m->index[j].hash & mask;
		/* j's entry may move to b unless its home lies cyclically in (b, j]. */
		if (b <= j ? (home <= b || home > j) : (home <= b && home > j)) {
			m->index[b] = m->index[j];
			b = j;
		}
	}
	m->index[b].e = 0;
	m->index[b].hash = 0;
}

/* Evict entry i (the tail, or any): out of the index and the list, onto the free list. */
static void sensor_map__evict(struct sensor_map *m, uint32_t i)
{
	struct sensor_map__entry *e = sensor_map__entry(m, i);

	sensor_map__index_delete(m, sensor_map__bucket_of(m, i, e->hash));
	sensor_map__unlink(m, i);
	e->used = 0;
	m->lru[i].next = m->free_head;
	m->free_head = i;
	m->count--;
}

/* Evict the sensors unused for idle_ms or more at now_ms (from the tail). */
static inline void sensor_map__expire(struct sensor_map *m, int64_t now_ms)
{
	while (m->tail != NIL && now_ms - sensor_map__entry(m, m->tail)->last_ms >= m->idle_ms) {
		sensor_map__evict(m, m->tail);
		m->evicted_idle++;
	}
}

int sensor_map_set_limits(struct sensor_map *m, size_t max, int64_t idle_ms)
{
	if (max < 1 || max > SENSOR_MAP_MAX || idle_ms < 0)
		return -1;
	m->max = max;
	m->idle_ms = idle_ms;
	while (m->count > m->max) {
		sensor_map__evict(m, m->tail);
		m->evicted_lru++;
	}
	return 0;
}

/* Double the index (rehash from the buckets alone). */
static int sensor_map__grow_index(struct sensor_map *m)
{
	size_t cap = m->index_cap * 2, mask = cap - 1;
	struct sensor_map__bucket *idx = calloc(cap, sizeof *idx);

	if (!idx)
		return -1;
	for (size_t i = 0; i < m->index_cap; i++) {
		size_t b;
		if (!m->index[i].e)
			continue;
		for (b = m->index[i].hash & mask; idx[b].e; b = (b + 1) & mask)
			;
		idx[b] = m->index[i];
	}
	free(m->index);
	m->index = idx;
	m->index_cap = cap;
	return 0;
}

/* An entry for a new sensor: a free one, a fresh one, or the least recently
 * used one evicted. NIL when out of memory. */
static uint32_t sensor_map__take_entry(struct sensor_map *m)
{
	uint32_t i;

	if (m->count >= m->max) {
		sensor_map__evict(m, m->tail);
		m->evicted_lru++;
	}
	if (m->free_head != NIL) {
		i = m->free_head;
		m->free_head = m->lru[i].next;
		return i;
	}
	if (m->pool_used == m->pool_cap) {
		size_t cap = m->pool_cap ? (size_t)m->pool_cap * 2 : POOL_FIRST;
		unsigned char *p;
		struct sensor_map__link *l;
		if (cap > m->max)
			cap = m->max;
		if (cap <= m->pool_cap)
			return NIL; /* cannot happen: count < max entries are in use */
		if (!(l = realloc(m->lru, cap * sizeof *l)))
			return NIL;
		m->lru = l; /* a larger lru array alone is harmless */
		if (!(p = realloc(m->pool, cap * m->entry_size)))
			return NIL;
		m->pool = p;
		m->pool_cap = (uint32_t)cap;
	}
	return m->pool_used++;
}

void *sensor_map_get(struct sensor_map *m, const char *id, int64_t now_ms, int create,
		     int *created)
{
	size_t n, mask, b;
	uint32_t h, i;
	struct sensor_map__entry *e;

	if (created)
		*created = 0;
	h = (uint32_t)sensor_map__hash_id(id, &n);
	if (n == 0 || n >= ID_BYTES)
		return NULL;
	if (m->idle_ms > 0)
		sensor_map__expire(m, now_ms);
	mask = m->index_cap - 1;
	for (b = h & mask; m->index[b].e; b = (b + 1) & mask) {
		if (m->index[b].hash != h)
			continue;
		i = m->index[b].e - 1;
		e = sensor_map__entry(m, i);
		if (!sensor_map__same_id(e->id, id))
			continue;
		e->last_ms = now_ms;
		if (m->head != i) {
			sensor_map__unlink(m, i);
			sensor_map__push_front(m, i);
		}
		return (unsigned char *)e + VALUE_OFF;
	}
	if (!create)
		return NULL;
	/* Room in the index first: evicting (in take_entry) may shift buckets. */
	if ((m->count + 1) * 2 > m->index_cap && m->count + 1 <= m->max &&
	    sensor_map__grow_index(m) < 0)
		return NULL;
	if ((i = sensor_map__take_entry(m)) == NIL)
		return NULL;
	e = sensor_map__entry(m, i);
	memset(e, 0, m->entry_size);
	memcpy(e->id, id, n + 1);
	e->hash = h;
	e->used = 1;
	e->last_ms = now_ms;
	sensor_map__push_front(m, i);
	mask = m->index_cap - 1;
	for (b = h & mask; m->index[b].e; b = (b + 1) & mask)
		;
	m->index[b].e = i + 1;
	m->index[b].hash = h;
	m->count++;
	if (created)
		*created = 1;
	return (unsigned char *)e + VALUE_OFF;
}
