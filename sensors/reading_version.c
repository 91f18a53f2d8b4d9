/*
 * reading_version.c - which cJSON the codecs parse with, for `fieldgate version`.
 */
#include "sensors/reading.h"

#include <cjson/cJSON.h>

const char *reading_library_version(void)
{
	return cJSON_Version();
}
