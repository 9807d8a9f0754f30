/* SPDX-License-Identifier: MIT */
/*
 * fault.h — named failure points for tests (STYLE.md habit 17).
 *
 * Compiled in only with meson -Dfault_injection=true (the test build);
 * otherwise CFS_FAULT() is the constant 0 and costs nothing.
 *
 * Armed at run time: CHRONOFS_FAULTS="POINT:N[:ACTION][,POINT:N[:ACTION]...]"
 * acts at the Nth call (1-based; "*": every call) of POINT:
 *   ACTION eio    (default) the call returns -EIO;
 *   ACTION crash  the process exits at once with status 99, without any
 *                 cleanup, as a power loss or kill -9 would leave things;
 *   ACTION run    runs $CHRONOFS_FAULT_RUN with sh, waits for it, and goes
 *                 on: a hook to change the world at an exact moment (a file
 *                 replaced between the stat and the open...). Its
 *                 environment has CFS_FAULT_POINT, CFS_FAULT_COUNT and
 *                 CFS_FAULT_PATH (the path the point is about, or empty).
 * Points: "objstore.put" (before an object is written), "catalog.commit"
 * (before a catalog batch is applied), "objstore.tmpfile" (a streamed put
 * of the local store uses a named temporary file, as without O_TMPFILE),
 * "restore.tmpfile" (restore writes a file to a named temporary); with a
 * path: "ingest.open" (a file was listed and stat'ed, before it is opened),
 * "ingest.read" (a file's first bytes were read, before the rest and before
 * its after-read stat), "ingest.dir" (a directory was opened and listed,
 * before its entries are captured), "ingest.leave" (a directory is complete,
 * before the walk goes back to its parent), "repair.delete" (before repair
 * deletes an index object or a pack).
 */
#pragma once

#ifdef CFS_FAULT_INJECTION
/* 0, or the injected negative errno (or no return: crash). Thread-safe. */
int cfs_fault_check(const char *point);
/* The same for a point about a path (given to a "run" hook). */
int cfs_fault_check_at(const char *point, const char *path);
#define CFS_FAULT(point) cfs_fault_check(point)
#define CFS_FAULT_AT(point, path) cfs_fault_check_at(point, path)
#else
#define CFS_FAULT(point) 0
#define CFS_FAULT_AT(point, path) ((void)(path), 0)
#endif

#define CFS_FAULT_CRASH_STATUS 99
