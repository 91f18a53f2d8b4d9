/*
 * sinks_util.c - small helpers shared by the sinks (sinks_int.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "sinks/sinks_int.h"

void sinks__seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
