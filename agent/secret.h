/*
 * secret.h - reading a secret from a file named in the config (MQTT and
 * Elasticsearch password_file, api_key_file). The config holds only the
 * path (check-config prints paths, never secrets); the module that needs
 * the secret reads it just before use and wipes its copy after.
 */
#ifndef FIELDGATE_AGENT_SECRET_H
#define FIELDGATE_AGENT_SECRET_H

#include <stddef.h>

/* Read the first line of path, without the newline, into out[cap].
 * Returns 0, or -1 with a reason naming the file in err (cannot read,
 * empty, empty first line). The secret itself never goes into err. */
int secret_read_file(const char *path, char *out, size_t cap, char *err, size_t errlen);

#endif
