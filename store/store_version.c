/*
 * store_version.c - which SQLite the buffer runs on, for `fieldgate version`.
 */
#include "store/store.h"

#include <sqlite3.h>

const char *store_library_version(void)
{
	return sqlite3_libversion();
}
