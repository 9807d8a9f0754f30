/* SPDX-License-Identifier: MIT */
/*
 * nfs-handle — get an NFSv3 file handle, and read a file through a handle
 * given as bytes, the way an NFS client does after the server restarted.
 *
 * Usage (EXPORT_URL is a libnfs URL of the export itself, e.g.
 * nfs://127.0.0.1/export?nfsport=2049&mountport=20048; its URL arguments
 * apply, but the protocol is always NFSv3):
 *   nfs-handle get EXPORT_URL PATH
 *       Mounts the export, looks up PATH (inside the export, starting with
 *       '/'), and prints its file handle as lower-case hex on one line, then
 *       its fileid (inode number) in decimal on a second line, then the
 *       fsid the server reports for it (GETATTR3) in decimal on a third.
 *   nfs-handle stat EXPORT_URL HEX
 *       In a fresh client, sends GETATTR3 with the handle HEX and prints
 *       "TYPE FILEID SIZE" (TYPE: reg, dir, lnk, other).
 *   nfs-handle read EXPORT_URL HEX
 *       In a fresh client, mounts the export only to reach the server, then
 *       sends GETATTR3 and READ3 with the handle HEX (no LOOKUP: the handle
 *       is all the client has) and writes the file's bytes to stdout.
 *
 * Exit status: 0 success; 2 the server answered an NFS error (its name, e.g.
 * NFS3ERR_STALE, is printed on stderr); 1 anything else (usage, connection,
 * timeout, short or inconsistent reply).
 *
 * Why a separate process per phase: the test restarts the NFS server and
 * the FUSE daemon between "get" and "read"; a client that only kept the
 * handle bytes proves that the handle, and nothing cached in a client
 * connection, identifies the file. That holds only if the FUSE daemon gives
 * every file the same inode number and generation after a restart and
 * answers LOOKUP "." / ".." (the kernel's export operations).
 *
 * Build: cc -std=gnu11 -O2 nfs-handle.c $(pkg-config --cflags --libs libnfs)
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* libnfs 4.0's header uses struct timeval without including it. */
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

/* RFC 1813: an NFSv3 handle is at most 64 bytes. */
#define FH3_MAX 64
/* Every wait for the server is bounded, so a dead server fails the test
 * instead of hanging it. */
#define TIMEOUT_MS 20000
#define READ_CHUNK (128 * 1024)

/*
 * nfs_get_fh() returns libnfs's internal struct nfs_fh, which its public
 * headers only declare. Its layout has been { int len; char *val; } in
 * libnfs-private.h since the function was added (libnfs 1.x through 5.x); the
 * length is sanity-checked below and the handle is proven by a GETATTR3 whose
 * fileid must equal the one stat returned, so a layout change fails loudly.
 */
struct libnfs_fh_layout {
	int len;
	char *val;
};

struct call {
	bool done;
	int rpc_status;      /* RPC_STATUS_* */
	int nfs_status;      /* NFS3_OK or an NFS3ERR_* from the reply */
	char rpc_error[256]; /* RPC_STATUS_ERROR's message */
	/* GETATTR3 */
	int type; /* ftype3 */
	uint64_t fileid;
	uint64_t size;
	uint64_t fsid;
	/* READ3: the data are copied out of the reply before the callback
	 * returns (libnfs frees the reply afterwards). */
	char *buf;
	size_t buf_size;
	size_t count;
	bool eof;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the event loop until c->done. Returns 0, or -ETIMEDOUT / -EIO. */
static int wait_call(struct rpc_context *rpc, struct call *c)
{
	int64_t deadline = now_ms() + TIMEOUT_MS;

	while (!c->done) {
		struct pollfd pfd = {
			.fd = rpc_get_fd(rpc),
			.events = (short)rpc_which_events(rpc),
		};
		int r;

		if (now_ms() > deadline)
			return -ETIMEDOUT;
		/* rpc_service() is also called on timeouts: libnfs handles
		 * reconnects and its own timers there. */
		r = poll(&pfd, 1, 100);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (rpc_service(rpc, r > 0 ? pfd.revents : 0) < 0) {
			fprintf(stderr, "nfs-handle: rpc_service: %s\n", rpc_get_error(rpc));
			return -EIO;
		}
	}
	return 0;
}

static void note_rpc_error(struct call *c, int status, void *data)
{
	c->rpc_status = status;
	if (status == RPC_STATUS_ERROR && data)
		snprintf(c->rpc_error, sizeof(c->rpc_error), "%s", (const char *)data);
	else if (status == RPC_STATUS_CANCEL)
		snprintf(c->rpc_error, sizeof(c->rpc_error), "cancelled");
	else if (status == RPC_STATUS_TIMEOUT)
		snprintf(c->rpc_error, sizeof(c->rpc_error), "timeout");
}

static void getattr_cb(struct rpc_context *rpc, int status, void *data, void *private_data)
{
	struct call *c = private_data;
	GETATTR3res *res = data;

	(void)rpc;
	c->done = true;
	if (status != RPC_STATUS_SUCCESS) {
		note_rpc_error(c, status, data);
		return;
	}
	c->rpc_status = status;
	c->nfs_status = res->status;
	if (res->status == NFS3_OK) {
		c->type = res->GETATTR3res_u.resok.obj_attributes.type;
		c->fileid = res->GETATTR3res_u.resok.obj_attributes.fileid;
		c->size = res->GETATTR3res_u.resok.obj_attributes.size;
		c->fsid = res->GETATTR3res_u.resok.obj_attributes.fsid;
	}
}

static void read_cb(struct rpc_context *rpc, int status, void *data, void *private_data)
{
	struct call *c = private_data;
	READ3res *res = data;

	(void)rpc;
	c->done = true;
	if (status != RPC_STATUS_SUCCESS) {
		note_rpc_error(c, status, data);
		return;
	}
	c->rpc_status = status;
	c->nfs_status = res->status;
	if (res->status != NFS3_OK)
		return;
	/* The reply is untrusted: more bytes than asked for is a protocol
	 * error, not something to copy. */
	if (res->READ3res_u.resok.data.data_len > c->buf_size ||
	    res->READ3res_u.resok.count != res->READ3res_u.resok.data.data_len) {
		c->rpc_status = RPC_STATUS_ERROR;
		snprintf(c->rpc_error, sizeof(c->rpc_error),
			 "READ3 reply: count %u, data %u bytes, asked for %zu",
			 res->READ3res_u.resok.count, res->READ3res_u.resok.data.data_len, c->buf_size);
		return;
	}
	memcpy(c->buf, res->READ3res_u.resok.data.data_val, res->READ3res_u.resok.data.data_len);
	c->count = res->READ3res_u.resok.data.data_len;
	c->eof = res->READ3res_u.resok.eof;
}

/* Maps a finished call to the exit status: 0 ok, 2 NFS error, 1 other. */
static int call_result(const char *what, const struct call *c)
{
	if (c->rpc_status != RPC_STATUS_SUCCESS) {
		fprintf(stderr, "nfs-handle: %s: RPC failed: %s\n", what, c->rpc_error);
		return 1;
	}
	if (c->nfs_status != NFS3_OK) {
		fprintf(stderr, "nfs-handle: %s: %s (%d)\n", what, nfsstat3_to_str(c->nfs_status),
			c->nfs_status);
		return 2;
	}
	return 0;
}

static int do_getattr(struct rpc_context *rpc, struct nfs_fh3 *fh, struct call *c)
{
	struct GETATTR3args args = { .object = *fh };
	int r;

	memset(c, 0, sizeof(*c));
	if (rpc_nfs3_getattr_async(rpc, getattr_cb, &args, c) != 0) {
		fprintf(stderr, "nfs-handle: GETATTR3: %s\n", rpc_get_error(rpc));
		return 1;
	}
	r = wait_call(rpc, c);
	if (r < 0) {
		fprintf(stderr, "nfs-handle: GETATTR3: %s\n", strerror(-r));
		return 1;
	}
	return call_result("GETATTR3", c);
}

/* Parses the export URL (its arguments, e.g. nfsport, apply to the context)
 * and mounts it over NFSv3. Returns NULL after printing why. */
static struct nfs_context *connect_v3(const char *export_url)
{
	struct nfs_context *nfs = nfs_init_context();
	struct nfs_url *url;

	if (!nfs) {
		fprintf(stderr, "nfs-handle: nfs_init_context failed\n");
		return NULL;
	}
	url = nfs_parse_url_dir(nfs, export_url);
	if (!url) {
		fprintf(stderr, "nfs-handle: bad URL %s: %s\n", export_url, nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return NULL;
	}
	nfs_set_timeout(nfs, TIMEOUT_MS);
	if (nfs_set_version(nfs, 3) != 0 || nfs_mount(nfs, url->server, url->path) != 0) {
		fprintf(stderr, "nfs-handle: mount %s:%s: %s\n", url->server, url->path,
			nfs_get_error(nfs));
		nfs_destroy_url(url);
		nfs_destroy_context(nfs);
		return NULL;
	}
	nfs_destroy_url(url);
	return nfs;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Parses HEX into out (FH3_MAX bytes). Returns the length, or -EINVAL. */
static int parse_hex(const char *hex, unsigned char *out)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > FH3_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

static int cmd_get(const char *export_url, const char *path)
{
	struct nfs_context *nfs;
	struct nfsfh *fh = NULL;
	struct nfs_stat_64 st;
	const struct libnfs_fh_layout *raw;
	struct nfs_fh3 fh3;
	struct call c;
	int rc = 1;

	nfs = connect_v3(export_url);
	if (!nfs)
		return 1;
	if (nfs_stat64(nfs, path, &st) != 0) {
		fprintf(stderr, "nfs-handle: stat %s: %s\n", path, nfs_get_error(nfs));
		goto out;
	}
	if (nfs_open(nfs, path, 0 /* O_RDONLY */, &fh) != 0) {
		fprintf(stderr, "nfs-handle: open %s: %s\n", path, nfs_get_error(nfs));
		goto out;
	}
	raw = (const struct libnfs_fh_layout *)nfs_get_fh(fh);
	if (!raw || raw->len <= 0 || raw->len > FH3_MAX || !raw->val) {
		fprintf(stderr, "nfs-handle: libnfs returned no usable handle for %s\n", path);
		goto out;
	}
	fh3.data.data_len = (u_int)raw->len;
	fh3.data.data_val = raw->val;
	rc = do_getattr(nfs_get_rpc_context(nfs), &fh3, &c);
	if (rc != 0)
		goto out;
	if (c.fileid != st.nfs_ino) {
		fprintf(stderr, "nfs-handle: handle of %s names fileid %" PRIu64 ", stat says %" PRIu64 "\n",
			path, c.fileid, (uint64_t)st.nfs_ino);
		rc = 1;
		goto out;
	}
	for (int i = 0; i < raw->len; i++)
		printf("%02x", (unsigned char)raw->val[i]);
	printf("\n%" PRIu64 "\n%" PRIu64 "\n", c.fileid, c.fsid);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	if (fh)
		nfs_close(nfs, fh);
	nfs_destroy_context(nfs);
	return rc;
}

static const char *ftype_name(int type)
{
	switch (type) {
	case NF3REG:
		return "reg";
	case NF3DIR:
		return "dir";
	case NF3LNK:
		return "lnk";
	default:
		return "other";
	}
}

static int cmd_stat(const char *export_url, const char *hex)
{
	unsigned char bytes[FH3_MAX];
	struct nfs_context *nfs;
	struct nfs_fh3 fh3;
	struct call c;
	int len, rc;

	len = parse_hex(hex, bytes);
	if (len < 0) {
		fprintf(stderr, "nfs-handle: bad handle '%s' (hex, 1..%d bytes)\n", hex, FH3_MAX);
		return 1;
	}
	fh3.data.data_len = (u_int)len;
	fh3.data.data_val = (char *)bytes;
	nfs = connect_v3(export_url);
	if (!nfs)
		return 1;
	rc = do_getattr(nfs_get_rpc_context(nfs), &fh3, &c);
	if (rc == 0) {
		printf("%s %" PRIu64 " %" PRIu64 "\n", ftype_name(c.type), c.fileid, c.size);
		rc = fflush(stdout) == 0 ? 0 : 1;
	}
	nfs_destroy_context(nfs);
	return rc;
}

static int cmd_read(const char *export_url, const char *hex)
{
	unsigned char bytes[FH3_MAX];
	struct nfs_context *nfs;
	struct rpc_context *rpc;
	struct nfs_fh3 fh3;
	struct call c;
	uint64_t off = 0, size;
	char *buf = NULL;
	int len, rc;

	len = parse_hex(hex, bytes);
	if (len < 0) {
		fprintf(stderr, "nfs-handle: bad handle '%s' (hex, 1..%d bytes)\n", hex, FH3_MAX);
		return 1;
	}
	fh3.data.data_len = (u_int)len;
	fh3.data.data_val = (char *)bytes;

	nfs = connect_v3(export_url);
	if (!nfs)
		return 1;
	rpc = nfs_get_rpc_context(nfs);
	rc = do_getattr(rpc, &fh3, &c);
	if (rc != 0)
		goto out;
	if (c.type != NF3REG) {
		fprintf(stderr, "nfs-handle: handle names a %s, not a regular file\n", ftype_name(c.type));
		rc = 1;
		goto out;
	}
	size = c.size;
	buf = malloc(READ_CHUNK);
	if (!buf) {
		rc = 1;
		goto out;
	}
	for (;;) {
		struct READ3args args = { .file = fh3, .offset = off, .count = READ_CHUNK };
		int r;

		memset(&c, 0, sizeof(c));
		c.buf = buf;
		c.buf_size = READ_CHUNK;
		if (rpc_nfs3_read_async(rpc, read_cb, &args, &c) != 0) {
			fprintf(stderr, "nfs-handle: READ3: %s\n", rpc_get_error(rpc));
			rc = 1;
			goto out;
		}
		r = wait_call(rpc, &c);
		if (r < 0) {
			fprintf(stderr, "nfs-handle: READ3 at %" PRIu64 ": %s\n", off, strerror(-r));
			rc = 1;
			goto out;
		}
		rc = call_result("READ3", &c);
		if (rc != 0)
			goto out;
		if (c.count > 0 && fwrite(buf, 1, c.count, stdout) != c.count) {
			rc = 1;
			goto out;
		}
		off += c.count;
		if (c.eof)
			break;
		if (c.count == 0) {
			fprintf(stderr, "nfs-handle: READ3 at %" PRIu64 ": 0 bytes without eof\n", off);
			rc = 1;
			goto out;
		}
	}
	if (off != size) {
		fprintf(stderr, "nfs-handle: read %" PRIu64 " bytes, GETATTR3 size is %" PRIu64 "\n", off,
			size);
		rc = 1;
		goto out;
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	free(buf);
	nfs_destroy_context(nfs);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "get") == 0)
		return cmd_get(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "stat") == 0)
		return cmd_stat(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "read") == 0)
		return cmd_read(argv[2], argv[3]);
	fprintf(stderr, "usage: nfs-handle get EXPORT_URL PATH\n"
			"       nfs-handle stat EXPORT_URL HEX\n"
			"       nfs-handle read EXPORT_URL HEX\n");
	return 1;
}
