/* SPDX-License-Identifier: MIT */
/*
 * fault.h — named failure points for tests (STYLE.md habit 17).
 *
 * Compiled in only with meson -Dfault_injection=true (the test build);
 * otherwise CFS_FAULT() is the constant 0 and costs nothing.
 *
 * Armed at run time: CHRONOFS_FAULTS="POINT:N[:ACTION][,POINT:N[:ACTION]...]"
 * makes the Nth call (1-based) of POINT fail:
 *   ACTION eio    (default) the call returns -EIO;
 *   ACTION crash  the process exits at once with status 99, without any
 *                 cleanup, as a power loss or kill -9 would leave things.
 * Points: "objstore.put" (before an object is written), "catalog.commit"
 * (before a catalog batch is applied), "objstore.tmpfile" (a streamed put
 * of the local store uses a named temporary file, as without O_TMPFILE),
 * "repair.delete" (before repair deletes an index object or a pack).
 */
#pragma once

#ifdef CFS_FAULT_INJECTION
/* 0, or the injected negative errno (or no return: crash). Thread-safe. */
int cfs_fault_check(const char *point);
#define CFS_FAULT(point) cfs_fault_check(point)
#else
#define CFS_FAULT(point) 0
#endif

#define CFS_FAULT_CRASH_STATUS 99
