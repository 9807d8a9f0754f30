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
 * (before a catalog batch is applied), "commit.manifest" (a snapshot's
 * name is reserved, its manifest not put), "objstore.tmpfile" (a streamed put
 * of the local store uses a named temporary file, as without O_TMPFILE),
 * "restore.tmpfile" (restore writes a file to a named temporary); with a
 * path: "ingest.open" (a file was listed and stat'ed, before it is opened),
 * "ingest.read" (a file's first bytes were read, before the rest and before
 * its after-read stat), "ingest.dir" (a directory was opened and listed,
 * before its entries are captured), "ingest.leave" (a directory is complete,
 * before the walk goes back to its parent), "repair.delete" (before repair
 * deletes an index object or a pack); of forget and prune (chronoctl
 * forget, prune; src/repo/gc.c, prune.c): "gc.record" (before a deletion
 * record is put), "forget.delete" (before a forgotten manifest is
 * deleted), "prune.marked" (every snapshot is marked), "prune.finish"
 * (before a condemn record is finished), "prune.delete" (before each
 * batch a prune deletes: a record's packs, then its index objects, a
 * forget record's leftover manifests, the expired records, each arm or
 * condemn record; an eio fails every object of the batch), "prune.deleted" (a record's packs and index
 * objects are deleted, its done record not put), "prune.accounted" (packs
 * accounted, nothing written yet), "prune.repacked" (repacked blobs are
 * in new packs and index objects), "prune.condemned" (the condemn record
 * is put, its writers not listed), "prune.arm" (before an arm record).
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

/*
 * Allocation failure (STYLE.md habit 17; SQLite's test_malloc.c countdown).
 *
 * Compiled in only with meson -Dalloc_failure=true: src/base/alloc-fail.c
 * joins the library and every program linked with it is linked with
 * -Wl,--wrap=malloc,calloc,realloc,reallocarray,strdup,strndup,asprintf,
 * vasprintf,aligned_alloc,posix_memalign, so that OUR code's calls (the
 * static library, tools/, tests/) go through the countdown while shared
 * libraries (libc's own opendir/qsort/realpath, RocksDB, OpenSSL, zstd,
 * curl, libfuse) keep the real allocator: they are out of scope (RocksDB
 * aborts on std::bad_alloc anyway). free() is not wrapped.
 *
 * Armed at run time, read once at the first allocation:
 *   CHRONOFS_ALLOC_FAIL=N    the Nth allocation (1-based) fails once: NULL
 *                            (asprintf -1, posix_memalign ENOMEM) and errno
 *                            ENOMEM; every other one succeeds;
 *   CHRONOFS_ALLOC_FAIL=N+   the Nth and every later allocation fails (memory
 *                            that never comes back);
 *   CHRONOFS_ALLOC_COUNT=FILE  at exit(), FILE gets "allocations C\n
 *                            injected I\n": how many allocations the run made
 *                            and how many failed by injection;
 *   CHRONOFS_ALLOC_TRACE=1   each injected failure writes a backtrace to
 *                            stderr (to find the call site of an N).
 * Counted: every call with a non-zero size (realloc(p, 0) frees, it is not
 * counted), on every thread, in one process-wide atomic counter. The order
 * of allocations made by concurrent threads varies between runs, so an N
 * names one allocation only up to that interleaving; CHRONOFS_ALLOC_TRACE
 * shows which one it was. Unarmed, the wrappers cost one relaxed load.
 */
#ifdef CFS_ALLOC_FAILURE
#include <stdbool.h>
/* Unit tests (only in -Dalloc_failure=true builds): arm the countdown from
 * code, as CHRONOFS_ALLOC_FAIL would: the nth allocation from now fails
 * (and, with persist, every later one); n = 0 disarms. The counts start
 * again from 0. Call it while no other thread allocates. */
void cfs_alloc_fail_arm(unsigned long n, bool persist);
/* How many allocations failed by injection since the last arm. */
unsigned long cfs_alloc_fail_injected(void);
#endif
