/*
 * modelset.h - a model set on disk, as the agent watches and replaces it:
 * a cheap signature of the directory (what `[models] watch` compares once a
 * second) and the atomic install of one set in place of another (what
 * `fieldgate models promote` does). Loading a set is scorer_load()'s job.
 */
#ifndef FIELDGATE_AGENT_MODELSET_H
#define FIELDGATE_AGENT_MODELSET_H

#include <stddef.h>
#include <stdint.h>

#define MODELSET_FILES 4 /* the three model files and SHA256SUMS */

/* What changes when any file of the set, or the directory a symlink or a
 * rename swapped in, changes. Compare with modelset_sig_equal(). */
struct modelset_sig {
	uint64_t dir_dev, dir_ino;          /* the directory the path leads to now */
	struct {
		uint64_t ino, size;          /* 0, 0 when absent */
		int64_t mtime_ns, ctime_ns;  /* last change of contents / of the inode */
	} file[MODELSET_FILES];
	int ok;                             /* 0: the directory could not be read */
};

/* The signature of dir now. Never fails: an unreadable directory gives a
 * signature with ok = 0, which differs from any readable one. */
void modelset_signature(const char *dir, struct modelset_sig *out);

/* 1 when a and b describe the same files. */
int modelset_sig_equal(const struct modelset_sig *a, const struct modelset_sig *b);

/*
 * Install the set in `from` as the set in `live` (a directory, or a symlink
 * to one): its three model files are copied into a new directory beside
 * live's, synced and sealed (SHA256SUMS), then swapped in with one atomic
 * rename (renameat2 RENAME_EXCHANGE), so an agent loading live at that
 * moment sees the old set or the new one, never a mix. The set it replaces
 * is kept as LIVE.previous (an older one there is removed), its path into
 * previous[prevlen]. Returns 0, or -1 with one line in err; on failure live
 * is unchanged.
 */
int modelset_install(const char *from, const char *live, char *previous, size_t prevlen,
		     char *err, size_t errlen);

/* Swap live and LIVE.previous back (the same atomic rename). Returns 0, or
 * -1 with one line in err (no previous set, for one). */
int modelset_rollback(const char *live, char *err, size_t errlen);

#endif
