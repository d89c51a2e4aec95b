/*
 * common/file.h — whole-file reads with a cap, durable whole-file writes, and
 * removing a directory tree.
 */
#ifndef ZKCAR_COMMON_FILE_H
#define ZKCAR_COMMON_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Reads the regular file `path` whole into *out (malloc'd, the caller frees
 * it; a NUL byte follows the data, not counted in *len). Errors, with the
 * reason in `err` (without the path: callers name the file): ZK_ERR_IO (cannot open or read it, or not a
 * regular file), ZK_ERR_TOO_BIG (more than `cap` bytes), ZK_ERR_NOMEM.
 * Thread-safe. */
zk_err zk_file_read(const char *path, size_t cap, uint8_t **out, size_t *len,
                    zk_error_detail *err) ZK_MUST_CHECK;

/* Writes dir/name as a whole or not at all, durably: dir/name.tmp, fsync,
 * rename over dir/name, fsync of dir (the rename is durable only once the
 * directory is). On failure the temporary file is removed and dir/name is
 * as it was. ZK_ERR_IO with the failing step in `err`. */
zk_err zk_file_replace(const char *dir, const char *name, const uint8_t *data, size_t len,
                       zk_error_detail *err) ZK_MUST_CHECK;

/* Removes `path` and everything below it (symbolic links are removed, not
 * followed). Best effort, for temporary directories: what cannot be removed
 * stays. Thread-safe (nftw keeps no state between calls). */
void zk_file_remove_tree(const char *path);

#endif
