/*
 * datadir.h - whether data_dir can hold the buffer for the user the agent
 * runs as, checked before SQLite is asked to (whose answer is only "unable
 * to open database file"): `check-config` checks it for the service user,
 * `run` for itself, and both say the cause and what to do.
 */
#ifndef FIELDGATE_AGENT_DATADIR_H
#define FIELDGATE_AGENT_DATADIR_H

#include <stddef.h>
#include <sys/types.h>

#define DATADIR_SERVICE_USER "fieldgate" /* User= of packaging/systemd/fieldgate@.service */

/* Whose access is checked. */
struct datadir_user {
	char name[64];    /* "fieldgate", or "uid 1234" without a passwd entry */
	uid_t uid;
	gid_t gid;
	int self;         /* 1: the calling process itself (faccessat, no fork) */
};

/*
 * The user to check for: `name` when given (0, or -1 with a reason when no
 * such user exists, or when it is another user and the caller is not
 * root); else $FIELDGATE_SERVICE_USER when set; else, run as root, the
 * service user when it exists (the packaged unit runs the agent as it,
 * while an operator runs check-config as root, who may write anywhere);
 * else the caller.
 */
int datadir_user(const char *name, struct datadir_user *u, char *err, size_t errlen);

/* The calling process itself (what `run` checks for). */
void datadir_self(struct datadir_user *u);

/*
 * Whether dir can hold the buffer for user u: it is a directory that u can
 * write and search, and the buffer files in it (buffer, buffer-wal and
 * buffer-shm, where buffer is a path or NULL) that exist are writable by u.
 * A dir that does not exist yet must have, as its nearest existing
 * ancestor, a directory that u can write (`run` creates the rest), unless
 * may_be_created (systemd's StateDirectory= creates the default data_dir).
 * Returns 0, or -1 with one line in why: the path, the cause and what to
 * do ("/srv/x is a file, not a directory: ..."). Never changes anything.
 */
int datadir_check(const char *dir, const char *buffer, const struct datadir_user *u,
		  int may_be_created, char *why, size_t whylen);

#endif
