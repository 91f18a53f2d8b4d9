/*
 * datadir.c - can data_dir hold the buffer for the agent's user? (datadir.h)
 *
 * The checks use the kernel's own answer, access(2), never a reading of the
 * mode bits (ACLs, read-only mounts and root squash all count): for the
 * caller itself with faccessat(AT_EACCESS); for another user (check-config
 * run as root, asking for the service user) in a child that becomes that
 * user (setgroups, setgid, setuid) and reports access()'s errno as its exit
 * status. Nothing is created or changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/datadir.h"

#define DATADIR__PATH_MAX 4096
#define DATADIR__GROUPS_MAX 256

static void datadir__from_pw(struct datadir_user *u, const struct passwd *pw)
{
	snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->self = pw->pw_uid == geteuid();
}

int datadir_user(const char *name, struct datadir_user *u, char *err, size_t errlen)
{
	const struct passwd *pw;

	memset(u, 0, sizeof *u);
	if (name) {
		if (!(pw = getpwnam(name))) {
			snprintf(err, errlen, "no user '%s' on this machine", name);
			return -1;
		}
		datadir__from_pw(u, pw);
		if (!u->self && geteuid() != 0) {
			snprintf(err, errlen, "checking access as user %s needs root (or run as %s)",
				 name, name);
			return -1;
		}
		return 0;
	}
	name = getenv("FIELDGATE_SERVICE_USER");
	if (name && name[0])
		return datadir_user(name, u, err, errlen);
	if (geteuid() == 0 && (pw = getpwnam(DATADIR_SERVICE_USER))) {
		datadir__from_pw(u, pw);
		return 0;
	}
	datadir_self(u);
	return 0;
}

void datadir_self(struct datadir_user *u)
{
	const struct passwd *pw;

	memset(u, 0, sizeof *u);
	u->self = 1;
	u->uid = geteuid();
	u->gid = getegid();
	if ((pw = getpwuid(u->uid)))
		snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
	else
		snprintf(u->name, sizeof u->name, "uid %u", (unsigned)u->uid);
}

/* access(path, mode) as u: 0 or an errno. When the child cannot become u
 * (or cannot be started), the access is taken as granted: unchecked, never
 * a false alarm. */
static int datadir__access(const struct datadir_user *u, const char *path, int mode)
{
	gid_t groups[DATADIR__GROUPS_MAX];
	int ng = DATADIR__GROUPS_MAX, st = 0;
	pid_t pid;

	if (u->self)
		return faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0 ? 0 : errno;
	if (getgrouplist(u->name, u->gid, groups, &ng) < 0) {
		groups[0] = u->gid;
		ng = 1;
	}
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		if (setgroups((size_t)ng, groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
			_exit(255);
		_exit(access(path, mode) == 0 ? 0 : errno > 0 && errno < 255 ? errno : EACCES);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) == 255)
		return 0;
	return WEXITSTATUS(st);
}

/* "user fieldgate (uid 999)", or "user root (uid 0)". */
static const char *datadir__who(const struct datadir_user *u, char *buf, size_t len)
{
	if (strncmp(u->name, "uid ", 4) == 0)
		snprintf(buf, len, "%s", u->name);
	else
		snprintf(buf, len, "user %s (uid %u)", u->name, (unsigned)u->uid);
	return buf;
}

/* The buffer files that exist must be writable: a buffer.db left by a run
 * as root cannot be opened by the service user, and SQLite says only
 * "unable to open database file" or "attempt to write a readonly database". */
static int datadir__buffer_files(const char *buffer, const struct datadir_user *u, char *why,
				 size_t whylen)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char path[DATADIR__PATH_MAX], who[96];
	struct stat st;

	if (!buffer || !buffer[0])
		return 0;
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		if (snprintf(path, sizeof path, "%s%s", buffer, suffix[i]) >= (int)sizeof path)
			return 0;
		if (lstat(path, &st) < 0)
			continue;
		int e = datadir__access(u, path, R_OK | W_OK);
		if (e) {
			snprintf(why, whylen, "%s is not writable by %s: %s (another user, root perhaps, "
				 "created it: chown %s %s*)", path, datadir__who(u, who, sizeof who),
				 strerror(e), u->name, buffer);
			return -1;
		}
	}
	return 0;
}

int datadir_check(const char *dir, const char *buffer, const struct datadir_user *u,
		  int may_be_created, char *why, size_t whylen)
{
	char path[DATADIR__PATH_MAX], who[96];
	struct stat st;
	size_t n = strlen(dir);
	int e;

	if (n == 0 || n >= sizeof path) {
		snprintf(why, whylen, "%s: %s", dir, strerror(ENAMETOOLONG));
		return -1;
	}
	datadir__who(u, who, sizeof who);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "%s is %s, not a directory (set [agent] data_dir to a "
				 "directory, or move it away)", dir,
				 S_ISREG(st.st_mode) ? "a file" : "something else");
			return -1;
		}
		e = datadir__access(u, dir, W_OK | X_OK);
		if (e) {
			snprintf(why, whylen, "%s is not writable by %s: %s (give it to that user: "
				 "chown %s %s, or set [agent] data_dir to a directory it can write)",
				 dir, who, strerror(e), u->name, dir);
			return -1;
		}
		return datadir__buffer_files(buffer, u, why, whylen);
	}
	e = errno;
	memcpy(path, dir, n + 1);
	if (e == ENOTDIR) {
		/* Which component is not a directory. */
		for (char *p = path + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
				snprintf(why, whylen, "%s: %s is %s, not a directory (set [agent] data_dir "
					 "to a directory, or move it away)", dir, path,
					 S_ISREG(st.st_mode) ? "a file" : "something else");
				return -1;
			}
			*p = '/';
		}
		snprintf(why, whylen, "%s: %s", dir, strerror(e));
		return -1;
	}
	if (e != ENOENT) {
		snprintf(why, whylen, "%s cannot be reached by %s: %s", dir, who, strerror(e));
		return -1;
	}
	/* Missing: `run` creates it (and its missing parents) in the nearest
	 * directory that exists, which must let the user do so. */
	if (may_be_created)
		return 0;
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash)
			return 0; /* relative, nothing above: not checked */
		if (slash == path) {
			path[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(path, &st) == 0)
			break;
		if (errno != ENOENT || path[1] == '\0')
			return 0;
	}
	e = datadir__access(u, path, W_OK | X_OK);
	if (e) {
		snprintf(why, whylen, "%s does not exist, and %s cannot create it in %s: %s (create "
			 "it for that user: install -d -o %s %s, or set [agent] data_dir to a "
			 "directory it can write)", dir, who, path, strerror(e), u->name, dir);
		return -1;
	}
	return 0;
}
