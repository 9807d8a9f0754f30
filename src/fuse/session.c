/* SPDX-License-Identifier: MIT */
/*
 * Session bring-up and teardown. Strictly staged, so a goto ladder (as in
 * libfuse's example/passthrough_ll.c main()).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <linux/fuse.h>

#include "chronofs/log.h"
#include "fuse/fuse-internal.h"

static void reader_destroy(void *p)
{
	cfs_repo_reader_free(p);
}

/* Option values go into a comma-separated -o list: keep them to safe bytes. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ',' || *s == '\\' || *s == ' ' || (unsigned char)*s < 0x20)
			*s = '_';
}

/*
 * After the loop has stopped: answer requests still waiting in the kernel
 * with EIO (forgets and interrupts take no answer), for up to timeout_ms.
 * A read the kernel still waits for keeps its pages locked; see
 * fs_store_stop().
 */
void fs_drain_requests(struct cfs_fs *fs, int timeout_ms)
{
	struct pollfd pf = {.fd = fuse_session_fd(fs->se), .events = POLLIN};
	if (poll(&pf, 1, timeout_ms) <= 0 || !(pf.revents & POLLIN))
		return;
	/* The kernel wants room for its largest request: max_write (at most
	 * 1 MiB) plus headers. */
	size_t size = (1u << 20) + 8192;
	_cleanup_free_ char *buf = malloc(size);
	if (!buf)
		return;
	ssize_t n = read(pf.fd, buf, size);
	if (n < (ssize_t)sizeof(struct fuse_in_header))
		return;
	const struct fuse_in_header *in = (const void *)buf;
	if (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET || in->opcode == FUSE_INTERRUPT)
		return;
	struct fuse_out_header out = {.len = sizeof(out), .error = -EIO, .unique = in->unique};
	(void)!write(pf.fd, &out, sizeof(out));
}

int cfs_fuse_run(struct cfs_repo *r, const struct cfs_fuse_options *o)
{
	struct cfs_fs fs = {.repo = r, .o = o, .uid = getuid(), .gid = getgid()};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	char opts[1024], fsname[512];
	bool pool_stopped = false;
	int e = 0;

	pthread_mutex_init(&fs.report_lock, NULL);
	if (pthread_key_create(&fs.reader_key, reader_destroy) != 0)
		return log_error_errno(-EAGAIN, "Cannot start: %m");
	/* Defaults sized so the daemon stays within 128 MiB resident: these
	 * two, the catalog's 8 MiB block cache, read-ahead and scratch. */
	e = fs_caches_new(&fs, o->tree_cache_bytes ? o->tree_cache_bytes : (12u << 20),
			  o->chunk_cache_bytes ? o->chunk_cache_bytes : (24u << 20));
	if (e == 0)
		e = fs_seq_new(&fs);
	if (e < 0) {
		log_error_errno(e, "Cannot set up the caches: %m");
		goto out_caches;
	}
	e = fs_snaps_init(&fs);
	if (e == -ENOENT && o->snapshot) {
		log_error("No snapshot \"%s\" in the repository", o->snapshot);
		goto out_snaps;
	}
	if (e == -ENOTUNIQ && o->snapshot) {
		log_error("Snapshot \"%s\" names more than one snapshot (listed above): give its id, or more digits of it",
			  o->snapshot);
		goto out_snaps;
	}
	if (e < 0) {
		log_error_errno(e, "Cannot read the snapshot list: %m");
		goto out_snaps;
	}
	e = fs_ra_start(&fs);
	if (e < 0) {
		log_error_errno(e, "Cannot start the read-ahead threads: %m");
		goto out_ra;
	}
	e = fs_pool_start(&fs, o->threads ? o->threads : 16);
	if (e < 0) {
		log_error_errno(e, "Cannot start the worker threads: %m");
		goto out_pool;
	}

	snprintf(fsname, sizeof(fsname), "%s", o->fsname ? o->fsname : "chronofs");
	sanitize(fsname);
	/* ro at the VFS: writes fail with EROFS before they reach us;
	 * default_permissions: the kernel enforces the snapshot's modes. */
	snprintf(opts, sizeof(opts), "ro,default_permissions,fsname=%s,subtype=chronofs%s", fsname,
		 o->allow_other ? ",allow_other" : "");
	if (fuse_opt_add_arg(&args, "chronofs") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, opts) != 0 || (o->debug && fuse_opt_add_arg(&args, "-d") != 0)) {
		e = log_error_errno(-ENOMEM, "Cannot build the mount options: %m");
		goto out_args;
	}
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		e = log_error_errno(-EIO, "Cannot create the FUSE session");
		goto out_args;
	}
	if (fuse_set_signal_handlers(fs.se) != 0) {
		e = log_error_errno(-EIO, "Cannot set the signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(fs.se, o->mountpoint) != 0) {
		/* libfuse has printed why (busy, missing, not a directory). */
		e = -EBUSY;
		goto out_signals;
	}
	e = fs_store_start(&fs);
	if (e < 0) {
		log_error_errno(e, "Cannot start the page-cache store thread: %m");
		goto out_mount;
	}
	if (o->ready)
		o->ready(o->ready_userdata);

	/*
	 * The loop threads answer from the caches; blocking work goes to the
	 * pool (dispatch.c). As many loop threads as CPUs, at most 4: measured
	 * on 2 vCPUs, a warm getxattr round trip takes ~60 us with one loop
	 * thread (the reader and the daemon wait for each other's wake-up), ~15
	 * with two, and more threads than CPUs only add hand-offs.
	 */
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		e = log_error_errno(-ENOMEM, "Cannot start the FUSE loop: %m");
		goto out_mount;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned loop_threads = cpus < 2 ? 2 : cpus > 4 ? 4 : (unsigned)cpus;
	fuse_loop_cfg_set_max_threads(cfg, loop_threads);
	fuse_loop_cfg_set_idle_threads(cfg, loop_threads);
	e = fuse_session_loop_mt(fs.se, cfg);
	fuse_loop_cfg_destroy(cfg);
	/* A signal ends the loop with its number: that is a clean stop. */
	e = e < 0 ? -EIO : 0;
	/* Workers answer what they hold while the session still exists. */
	fs_pool_stop(&fs);
	pool_stopped = true;
out_mount:
	fs_store_stop(&fs);
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_args:
	fuse_opt_free_args(&args);
	if (!pool_stopped)
		fs_pool_stop(&fs);
out_pool:
	fs_ra_stop(&fs);
out_ra:
out_snaps:
	fs_snaps_free(&fs);
out_caches:
	{
		/* The main thread may have read (a lookup at init): free its reader. */
		struct cfs_repo_reader *rd = pthread_getspecific(fs.reader_key);
		cfs_repo_reader_free(rd);
		pthread_setspecific(fs.reader_key, NULL);
	}
	fs_seq_free(&fs);
	cfs_cache_free(fs.chunks);
	cfs_cache_free(fs.trees);
	fs_decode_free(&fs);
	pthread_key_delete(fs.reader_key);
	cfs_idset_release(&fs.reported);
	pthread_mutex_destroy(&fs.report_lock);
	return e;
}
