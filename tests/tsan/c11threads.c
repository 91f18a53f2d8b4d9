/*
 * C11 threads over pthreads, linked into the TSan build only
 * (build/tsan/fieldgate, make tsan). librdkafka runs its threads with
 * C11's thrd_create() and locks with mtx_lock()/cnd_wait(); in glibc those
 * call the pthread functions internally, past the interceptors of the TSan
 * runtimes of Debian 12 (gcc 12, clang 14), which intercept only the
 * pthread_* entry points. TSan then never registers librdkafka's threads
 * and crashes in its allocator on their first malloc (getaddrinfo in
 * rdk:broker, SIGSEGV at a thread state of NULL), and would not see the
 * locks that order our memory between our threads and librdkafka's.
 * Defined in the executable, these interpose glibc's for every library and
 * call the intercepted pthread functions, as glibc's own do (mtx_t, cnd_t,
 * thrd_t and once_flag are the pthread objects under another name there).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");

struct c11threads__start {
	thrd_start_t func; /* the C11 thread function */
	void *arg;         /* its argument */
};

static int c11threads__rc(int e)
{
	return e == 0 ? thrd_success : e == ETIMEDOUT ? thrd_timedout :
	       e == ENOMEM ? thrd_nomem : e == EBUSY ? thrd_busy : thrd_error;
}

static void *c11threads__run(void *p)
{
	struct c11threads__start s = *(struct c11threads__start *)p;

	free(p);
	return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
	struct c11threads__start *s = malloc(sizeof *s);
	int e;

	if (!s)
		return thrd_nomem;
	s->func = func;
	s->arg = arg;
	e = pthread_create((pthread_t *)thr, NULL, c11threads__run, s);
	if (e)
		free(s);
	return c11threads__rc(e);
}

int thrd_join(thrd_t thr, int *res)
{
	void *ret;
	int e = pthread_join((pthread_t)thr, &ret);

	if (e == 0 && res)
		*res = (int)(intptr_t)ret;
	return c11threads__rc(e);
}

int thrd_detach(thrd_t thr)
{
	return c11threads__rc(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *m, int type)
{
	pthread_mutexattr_t a;
	int e = pthread_mutexattr_init(&a);

	if (e)
		return c11threads__rc(e);
	if (type & mtx_recursive)
		e = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	if (e == 0)
		e = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return c11threads__rc(e);
}

int mtx_lock(mtx_t *m)
{
	return c11threads__rc(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
	return c11threads__rc(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11threads__rc(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
	return c11threads__rc(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
	pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
	return c11threads__rc(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
	return c11threads__rc(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
	return c11threads__rc(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
	return c11threads__rc(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11threads__rc(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
	pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*func)(void))
{
	pthread_once((pthread_once_t *)flag, func);
}
