/* SPDX-License-Identifier: MIT */
/*
 * s3.c — the S3 backend (the only libcurl user): objects of a repository
 * s3://BUCKET/PREFIX are the keys PREFIX/<name> of BUCKET.
 *
 * Configuration follows the AWS conventions (cfs_s3_config_from_env()):
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION / AWS_DEFAULT_REGION (us-east-1), AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL (https://s3.REGION.amazonaws.com), AWS_CA_BUNDLE;
 * CHRONOFS_S3_PATH_STYLE=1|0 (default: on for an IP or localhost endpoint).
 * A repository's own settings (struct cfs_objstore_options: the s3_* keys
 * of chronofs.conf(5)) override them one by one; its credentials file
 * replaces the three credential variables together.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4. libcurl 7.88 neither adds
 * x-amz-content-sha256 nor canonicalises the query string, so every request
 * says UNSIGNED-PAYLOAD (what is stored is sealed and verified by its id on
 * every read anyway, and hashing every pack twice would cost CPU) and every
 * query is built sorted and RFC 3986-encoded here.
 *
 * Requests that fail with a connection error, a timeout, 5xx or 429 are
 * retried with exponential backoff and jitter, within a total deadline per
 * call (S3_DEADLINE_S); a conditional PUT that meets its own object after
 * an ambiguous failure succeeds. Until the endpoint has answered once (in
 * this process: s3.reached), an endpoint that cannot be reached at all (its
 * host name does not resolve, the connection is refused, no route, the TCP
 * or TLS handshake does not complete) is a configuration error, not an
 * outage: those requests give up after S3_FIRST_CONTACT_MS, naming the
 * endpoint and the reason (before, an unreachable endpoint printed nothing
 * for 292-296 s, 36-38 attempts, then only "Couldn't connect to server").
 * Every retry is logged at debug level (--verbose): the attempt, the
 * request, the error and the delay; a request still retried after
 * S3_WARN_AFTER_S says so once, as a warning, per outage. (s3_do decides
 * to retry, so it logs there, as the rest of this module does, rather than
 * handing a callback up: STYLE.md habit 5.) Many objects are deleted 1000
 * at a time (DeleteObjects, "multi-object delete" below). Handles are pooled so
 * connections are reused; every callback is safe from several threads at
 * once, and the callers run --transfers of them at once (default 4).
 * --limit-upload and --limit-download are applied as the bytes move, over
 * all transfers.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chronofs/log.h"
#include "chronofs/util.h"
#include "objstore/objstore-internal.h"

#define S3_POOL_MAX 16
#define S3_DEADLINE_S 300
#define S3_CONNECT_TIMEOUT_S 10
/* Before the endpoint first answered: how long a request that cannot reach
 * it is retried (attempts at about 0, 0.1, 0.25, 0.6, 1.3 s: a server
 * that is just starting is waited for, a wrong endpoint fails at once). */
#define S3_FIRST_CONTACT_MS 2000
/* A request retried this long says so once (per outage) without --verbose. */
#define S3_WARN_AFTER_S 15
/* A transfer slower than 1 byte/s for this long is dropped (and retried). */
#define S3_STALL_S 60
/* A list page, or an error body, is never larger than this. */
#define S3_SMALL_BODY_MAX (4u << 20)

/* A pooled handle and the socket of its connection (kept by libcurl
 * between requests; recorded when made, see sockopt_cb). */
struct s3_conn {
	CURL *c;
	curl_socket_t fd;
};

struct s3 {
	struct cfs_s3_config cfg; /* owned strings */
	char sigv4[160];      /* "aws:amz:REGION:s3" */
	char *base;           /* owned: URL up to and including the bucket's '/' */
	/* Set by the first HTTP answer (any status) of any request: from then
	 * on a failure to connect is an outage, retried up to S3_DEADLINE_S;
	 * before, a configuration error (S3_FIRST_CONTACT_MS). */
	atomic_bool reached;
	/* The warning of a long outage was given; cleared by an answer. */
	atomic_bool outage_warned;
	char *prefix;         /* owned: "" or "PREFIX/" */
	pthread_mutex_t lock; /* protects pool */
	struct s3_conn *pool[S3_POOL_MAX];
	size_t n_pool;
	/* --limit-upload/--limit-download, applied as the bytes move (a whole
	 * pack at full speed and then a sleep would be no limit to a link). */
	struct cfs_ratelimit up, down;
	/* Keys per ListObjectsV2 page, 0: the server's (1000). Tests set
	 * CHRONOFS_S3_LIST_PAGE to walk many pages of a small bucket. */
	unsigned list_page;
};

/* ---- configuration ------------------------------------------------------ */

void cfs_s3_config_release(struct cfs_s3_config *c)
{
	free(c->bucket);
	free(c->prefix);
	free(c->endpoint);
	free(c->region);
	free(c->key_id);
	free(c->secret);
	free(c->token);
	free(c->ca_file);
	free(c->credentials_file);
	memset(c, 0, sizeof(*c));
}

static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((!v || !*v) && b)
		v = getenv(b);
	return v && *v ? v : NULL;
}

/* An endpoint whose host is an IP address or localhost. */
static bool endpoint_is_local(const char *ep)
{
	const char *h = strstr(ep, "://");
	h = h ? h + 3 : ep;
	if (strncmp(h, "localhost", 9) == 0 || h[0] == '[')
		return true;
	/* Dotted quad: digits and dots up to the port or path. */
	size_t i = 0;
	while (h[i] && h[i] != ':' && h[i] != '/') {
		if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
			return false;
		i++;
	}
	return i > 0;
}

int cfs_s3_config_parse(const char *location, struct cfs_s3_config *c)
{
	memset(c, 0, sizeof(*c));
	if (strncasecmp(location, "s3://", 5) != 0)
		return -EINVAL;
	const char *b = location + 5, *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	/* Bucket names: 3..63 of [a-z0-9.-] (the rules every S3 server shares). */
	if (blen < 3 || blen > 63)
		return -EINVAL;
	for (size_t i = 0; i < blen; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' || b[i] == '-'))
			return -EINVAL;
	c->bucket = strndup(b, blen);
	/* The prefix without leading or trailing slashes; no empty parts. */
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	c->prefix = strndup(p, plen);
	if (!c->bucket || !c->prefix) {
		cfs_s3_config_release(c);
		return -ENOMEM;
	}
	if (c->prefix[0] && cfs_objstore_name_valid(c->prefix) < 0) {
		cfs_s3_config_release(c);
		return -EINVAL;
	}
	return 0;
}

/* Value of a VAR=VALUE line of a credentials file, as systemd's
 * EnvironmentFile= reads it: blanks around, one pair of matching quotes
 * taken off. Writes into line. */
static char *cred_value(char *v)
{
	size_t n = strlen(v);
	while (*v == ' ' || *v == '\t')
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
		v++, n -= 2;
	v[n] = 0;
	return v;
}

#define S3_CREDENTIALS_MAX (64u << 10)

/* The credentials of file path into c (key_id, secret, token). */
static int read_credentials(const char *path, struct cfs_s3_config *c)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return log_error_errno(-errno, "Cannot read the S3 credentials file %s: %m", path);
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "Cannot read the S3 credentials file %s: %m", path);
	if (!S_ISREG(st.st_mode) || st.st_size > S3_CREDENTIALS_MAX)
		return log_error_errno(-EINVAL, "The S3 credentials file %s is not a regular file of at most %u bytes",
				       path, S3_CREDENTIALS_MAX);
	/* As ssh refuses a private key others can read: a secret that
	 * anyone could have copied is no longer one. */
	if (st.st_mode & 077)
		return log_error_errno(-EACCES, "The S3 credentials file %s may be read by group or others (mode %04o): "
						"chmod 600 %s",
				       path, (unsigned)(st.st_mode & 07777), path);
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	int r = 0;
	while (len < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : 0;
			break;
		}
		len += (size_t)k;
	}
	buf[len] = 0;
	if (r < 0)
		log_error_errno(r, "Cannot read the S3 credentials file %s: %m", path);
	unsigned lineno = 0;
	for (char *line = buf, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		line += strspn(line, " \t");
		if (!*line || *line == '#' || *line == ';' || *line == '\r')
			continue;
		char *eq = strchr(line, '=');
		if (!eq) {
			/* Never the line itself: it may hold a secret. */
			r = log_error_errno(-EINVAL, "%s:%u: VAR=VALUE expected", path, lineno);
			break;
		}
		*eq = 0;
		size_t kl = strcspn(line, " \t");
		line[kl] = 0;
		char **dst = strcmp(line, "AWS_ACCESS_KEY_ID") == 0       ? &c->key_id
			     : strcmp(line, "AWS_SECRET_ACCESS_KEY") == 0 ? &c->secret
			     : strcmp(line, "AWS_SESSION_TOKEN") == 0     ? &c->token
									  : NULL;
		if (!dst)
			continue; /* the file may serve systemd units too */
		const char *v = cred_value(eq + 1);
		free(*dst);
		*dst = *v ? strdup(v) : NULL;
		if (*v && !*dst)
			r = -ENOMEM;
	}
	explicit_bzero(buf, len);
	free(buf);
	if (r == 0 && (!c->key_id || !c->secret))
		r = log_error_errno(-EINVAL, "The S3 credentials file %s sets no %s", path,
				    c->key_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if (r == 0 && !(c->credentials_file = strdup(path)))
		r = -ENOMEM;
	return r;
}

int cfs_s3_config_from_env(struct cfs_s3_config *c, const struct cfs_objstore_options *o)
{
	static const struct cfs_objstore_options none = {0};
	o = o ? o : &none;
	const char *region = o->s3_region ? o->s3_region : env_first("AWS_REGION", "AWS_DEFAULT_REGION");
	const char *ep = o->s3_endpoint ? o->s3_endpoint : env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	const char *ca = o->s3_ca_bundle ? o->s3_ca_bundle : env_first("AWS_CA_BUNDLE", NULL);
	const char *ps = env_first("CHRONOFS_S3_PATH_STYLE", NULL);
	char buf[512];

	if (o->s3_credentials_file) {
		int r = read_credentials(o->s3_credentials_file, c);
		if (r < 0)
			return r;
	} else {
		const char *id = env_first("AWS_ACCESS_KEY_ID", NULL), *secret = env_first("AWS_SECRET_ACCESS_KEY", NULL);
		const char *token = env_first("AWS_SESSION_TOKEN", NULL);
		if (!id || !secret)
			return -ENOKEY;
		c->key_id = strdup(id);
		c->secret = strdup(secret);
		c->token = token ? strdup(token) : NULL;
		if (!c->key_id || !c->secret || (token && !c->token))
			return -ENOMEM;
	}
	c->region = strdup(region ? region : "us-east-1");
	if (ep) {
		size_t l = strlen(ep);
		while (l && ep[l - 1] == '/')
			l--;
		c->endpoint = strndup(ep, l);
	} else {
		snprintf(buf, sizeof(buf), "https://s3.%s.amazonaws.com", region ? region : "us-east-1");
		c->endpoint = strdup(buf);
	}
	c->ca_file = ca ? strdup(ca) : NULL;
	if (!c->region || !c->endpoint || (ca && !c->ca_file))
		return -ENOMEM;
	if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
		return -EINVAL;
	switch (o->s3_path_style) {
	case CFS_S3_PATH_STYLE_ON:
	case CFS_S3_PATH_STYLE_OFF:
		c->path_style = o->s3_path_style == CFS_S3_PATH_STYLE_ON;
		break;
	case CFS_S3_PATH_STYLE_ENV:
		if (ps) {
			c->path_style = strcmp(ps, "0") != 0;
			break;
		}
		/* fall through */
	case CFS_S3_PATH_STYLE_AUTO:
	default:
		c->path_style = endpoint_is_local(c->endpoint);
	}
	return 0;
}

/* ---- encoding ----------------------------------------------------------- */

/* RFC 3986: unreserved characters stay, everything else is %XX; with
 * keep_slash, '/' stays too (object keys in paths). */
int cfs_s3_uri_encode(const char *s, bool keep_slash, struct cfs_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;
		bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			     ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
		int r;
		if (plain) {
			r = cfs_buf_append_u8(out, ch);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			r = cfs_buf_append(out, e, 3);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

struct s3_req {
	struct s3 *s;            /* set by s3_do */
	struct s3_conn *conn;    /* the handle of the attempt in progress */
	const char *method;      /* GET PUT HEAD DELETE POST */
	const char *name;        /* object name (without the prefix), or NULL */
	const char *query;       /* canonical query string, or NULL */
	const void *body;        /* PUT, POST */
	size_t body_len;
	const char *content_md5; /* POST: base64 of the body's MD5, or NULL */
	const char *range;       /* "bytes=a-b", or NULL */
	bool if_none_match;      /* PUT only if absent */
	/* GET, POST: into out (growing; at most out_max bytes unless 0: more
	 * fails the request with -ERANGE) or into fixed (exactly fixed_cap
	 * at most) */
	struct cfs_buf *out;
	size_t out_max;
	uint8_t *fixed;
	size_t fixed_cap;
	/* results */
	int attempts;    /* requests sent */
	long status;
	uint64_t length; /* Content-Length (HEAD) */
	size_t got;      /* bytes received */
	size_t body_pos; /* upload progress */
	bool overflow;
	struct cfs_buf err; /* error body */
};

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb;
	long status = q->status;
	if (status == 0 || status >= 300) {
		/* An error body: kept (bounded) for the message. */
		if (q->err.len + n <= 64 * 1024)
			(void)cfs_buf_append(&q->err, p, n);
		return n;
	}
	cfs_ratelimit_take(&q->s->down, n);
	if (q->fixed) {
		if (q->got + n > q->fixed_cap) {
			q->overflow = true;
			return 0;
		}
		memcpy(q->fixed + q->got, p, n);
	} else if (q->out) {
		if (q->out_max && n > q->out_max - q->out->len) {
			q->overflow = true;
			return 0;
		}
		if (cfs_buf_append(q->out, p, n) < 0)
			return 0;
	}
	q->got += n;
	return n;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb;
	if (n == 2 && p[0] == '\r' && p[1] == '\n') {
		/* The end of the headers: acknowledge them now. Servers that
		 * write the headers and the body separately (radosgw) wait,
		 * under Nagle's algorithm, for this ACK before the body; on a
		 * reused connection Linux delays it up to 40 ms (measured:
		 * 40 ms per small GET, vs 6.5 ms on fresh connections).
		 * Setting TCP_QUICKACK sends the pending ACK at once. */
		int one = 1;
		if (q->conn->fd != CURL_SOCKET_BAD)
			(void)setsockopt(q->conn->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	/* The status line starts every response (also after a 100). */
	if (n > 9 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);
		if (sp)
			q->status = strtol(sp + 1, NULL, 10);
	}
	return n;
}

static size_t read_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = CFS_MIN(CFS_MIN(size * nmemb, q->body_len - q->body_pos), cfs_ratelimit_step(&q->s->up));
	cfs_ratelimit_take(&q->s->up, n);
	if (n)
		memcpy(p, (const uint8_t *)q->body + q->body_pos, n);
	q->body_pos += n;
	return n;
}

static struct s3_conn *conn_get(struct s3 *s)
{
	struct s3_conn *k = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->n_pool)
		k = s->pool[--s->n_pool];
	pthread_mutex_unlock(&s->lock);
	if (k) {
		curl_easy_reset(k->c);
		return k;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->fd = CURL_SOCKET_BAD;
	k->c = curl_easy_init();
	if (!k->c) {
		free(k);
		return NULL;
	}
	return k;
}

static void conn_free(struct s3_conn *k)
{
	curl_easy_cleanup(k->c);
	free(k);
}

static void conn_put(struct s3 *s, struct s3_conn *k)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_pool < S3_POOL_MAX) {
		s->pool[s->n_pool++] = k;
		k = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (k)
		conn_free(k);
}

static int sockopt_cb(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	struct s3_conn *k = ud;
	if (purpose == CURLSOCKTYPE_IPCXN)
		k->fd = fd;
	return CURL_SOCKOPT_OK;
}

int cfs_s3_url(const char *base, bool path_style, const char *key, const char *query, struct cfs_buf *out)
{
	size_t n = strlen(base);
	/* A bucket's own requests (ListObjectsV2, DeleteObjects) go where the
	 * AWS SDKs send them: /BUCKET?QUERY in path style, /?QUERY on a
	 * virtual host. libcurl signs the path as sent, and servers
	 * canonicalise the bucket's path differently: s3rver 4.0.4 signs
	 * /BUCKET for /BUCKET/ too, so GET /BUCKET/?list-type=2 failed every
	 * time with 403 SignatureDoesNotMatch; radosgw takes both forms. */
	if (!key && path_style && n > 0 && base[n - 1] == '/')
		n--;
	int r = cfs_buf_append(out, base, n);
	if (r == 0 && key)
		r = cfs_s3_uri_encode(key, true, out);
	if (r == 0 && query) {
		r = cfs_buf_append_u8(out, '?');
		if (r == 0)
			r = cfs_buf_append(out, query, strlen(query));
	}
	if (r == 0)
		r = cfs_buf_append_u8(out, 0);
	return r;
}

static int url_of(struct s3 *s, const struct s3_req *q, struct cfs_buf *url)
{
	_cleanup_free_ char *key = NULL;
	if (q->name && asprintf(&key, "%s%s", s->prefix, q->name) < 0)
		return -ENOMEM;
	return cfs_s3_url(s->base, s->cfg.path_style, key, q->query, url);
}

/* Status to errno for a finished request (no retry left or not retryable). */
static int status_errno(long st)
{
	if (st >= 200 && st < 300)
		return 0;
	switch (st) {
	case 304:
	case 412:
		return -EEXIST;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 416:
		return -ERANGE;
	default:
		return -EIO;
	}
}

static bool retryable(CURLcode cc, long st)
{
	if (cc != CURLE_OK)
		return cc != CURLE_OUT_OF_MEMORY && cc != CURLE_URL_MALFORMAT && cc != CURLE_UNSUPPORTED_PROTOCOL &&
		       cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_PEER_FAILED_VERIFICATION &&
		       cc != CURLE_WRITE_ERROR;
	return st == 429 || st >= 500;
}

/* The server's words, on one line: control characters become spaces. */
static void one_line(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			p[i] = ' ';
}

/* What went wrong with one attempt, on one line, into buf: the HTTP status
 * with the server's code and message, or the transport error with
 * libcurl's details (errbuf: its CURLOPT_ERRORBUFFER). */
static void describe_failure(const struct s3_req *q, CURLcode cc, int unreach, const char *errbuf, char *buf,
			     size_t size)
{
	if (cc == CURLE_OK) {
		_cleanup_buf_ struct cfs_buf c = CFS_BUF_INIT, m = CFS_BUF_INIT;
		char code[128] = "", msg[256] = "";
		if (q->err.len && cfs_s3_parse_error((const char *)q->err.data, q->err.len, &c, &m) == 0) {
			one_line(c.data, c.len);
			one_line(m.data, m.len);
			if (c.len)
				snprintf(code, sizeof(code), " %.*s", (int)CFS_MIN(c.len, 100), (const char *)c.data);
			if (m.len)
				snprintf(msg, sizeof(msg), ": %.*s", (int)CFS_MIN(m.len, 200), (const char *)m.data);
		}
		snprintf(buf, size, "HTTP %ld%s%s", q->status, code, msg);
		return;
	}
	/* libcurl 7.88 says "Couldn't connect to server" for a refused
	 * connection and for no route alike: the system's reason first. */
	const char *what = curl_easy_strerror(cc);
	if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY)
		what = "host not found";
	else if (unreach == -ETIMEDOUT)
		what = "connection timed out";
	else if (cc == CURLE_SSL_CONNECT_ERROR)
		what = "TLS handshake failed";
	else if (unreach < 0 && cc == CURLE_COULDNT_CONNECT)
		what = strerror(-unreach);
	if (errbuf[0] && strcmp(errbuf, what) != 0)
		snprintf(buf, size, "%s (%s)", what, errbuf);
	else
		snprintf(buf, size, "%s", what);
}

static const char *plural_s(int n)
{
	return n == 1 ? "" : "s";
}

/* The request for messages: "GET s3://BUCKET/PREFIX/NAME", or for the
 * bucket's own requests "GET s3://BUCKET/?list-type=2&prefix=PREFIX%2F". */
static void request_text(const struct s3 *s, const struct s3_req *q, char *buf, size_t size)
{
	if (q->name)
		snprintf(buf, size, "%s s3://%s/%s%s", q->method, s->cfg.bucket, s->prefix, q->name);
	else
		snprintf(buf, size, "%s s3://%s/%s%.300s", q->method, s->cfg.bucket, q->query ? "?" : "",
			 q->query ? q->query : "");
}

static void log_failure(struct s3 *s, const struct s3_req *q, const char *why, int attempts)
{
	char what[CFS_OBJSTORE_NAME_MAX + 512];
	request_text(s, q, what, sizeof(what));
	/* A refusal: say whose keys were refused (never the keys). */
	bool denied = strncmp(why, "HTTP 403", 8) == 0;
	const char *whose = !denied ? "" : s->cfg.credentials_file ? s->cfg.credentials_file : "the environment";
	log_error("S3 %s: %s (%s%d attempt%s%s%s)", what, why, attempts > 1 ? "after " : "", attempts,
		  plural_s(attempts), denied ? "; the credentials of " : "", whose);
}

/*
 * A transport failure in which the endpoint was never reached: its host
 * name did not resolve, nothing accepted the connection, no route, or the
 * TCP or TLS handshake did not complete in time. Returns the errno that
 * says so (-EHOSTUNREACH for a name that does not resolve: there is no
 * errno for it), 0 for any other failure (the server was reached: a reset,
 * a stall, an answer cut short). c: the handle of the attempt.
 */
static int unreachable_errno(CURL *c, CURLcode cc)
{
	long os = 0;
	curl_off_t connect_us = 0;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		(void)curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os);
		return os > 0 && os < 4096 ? -(int)os : -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		/* The connect timeout, not a transfer that stalled. */
		(void)curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
		return connect_us == 0 ? -ETIMEDOUT : 0;
	case CURLE_SSL_CONNECT_ERROR:
		return -ECONNABORTED;
	default:
		return 0;
	}
}

/* A random delay between half of *backoff_ms and all of it (jitter), in
 * ms; then *backoff_ms doubles, up to 10 s. *rnd: any per-thread sequence. */
static uint64_t backoff_next(uint64_t *rnd, uint64_t *backoff_ms)
{
	*rnd ^= *rnd << 13;
	*rnd ^= *rnd >> 7;
	*rnd ^= *rnd << 17;
	uint64_t ms = *backoff_ms / 2 + *rnd % (*backoff_ms / 2 + 1);
	*backoff_ms = CFS_MIN(*backoff_ms * 2, (uint64_t)10000);
	return ms;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static int s3_do(struct s3 *s, struct s3_req *q)
{
	_cleanup_buf_ struct cfs_buf url = CFS_BUF_INIT;
	char range_hdr[96], token_hdr[4096], md5_hdr[64];
	q->s = s;
	int r = url_of(s, q, &url);
	if (r < 0)
		return r;
	/* Jitter only: any per-thread sequence does. */
	uint64_t rnd = (uint64_t)cfs_mono_ns() ^ (uint64_t)pthread_self();

	int64_t start = cfs_mono_ns(), deadline = start + (int64_t)S3_DEADLINE_S * 1000000000;
	uint64_t backoff_ms = 100;
	int attempts = 0;
	char errbuf[CURL_ERROR_SIZE];
	q->attempts = 0;
	for (;;) {
		struct curl_slist *hdrs = NULL;
		struct s3_conn *k = conn_get(s);
		if (!k)
			return -ENOMEM;
		CURL *c = k->c;
		attempts++;
		q->conn = k;
		q->attempts = attempts;
		q->status = 0;
		q->got = 0;
		q->body_pos = 0;
		q->overflow = false;
		cfs_buf_reset(&q->err);
		if (q->out)
			cfs_buf_reset(q->out);

		hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
		if (q->range) {
			snprintf(range_hdr, sizeof(range_hdr), "Range: %s", q->range);
			hdrs = curl_slist_append(hdrs, range_hdr);
		}
		if (s->cfg.token) {
			snprintf(token_hdr, sizeof(token_hdr), "x-amz-security-token: %s", s->cfg.token);
			hdrs = curl_slist_append(hdrs, token_hdr);
		}
		if (q->if_none_match)
			hdrs = curl_slist_append(hdrs, "If-None-Match: *");
		if (q->content_md5) {
			snprintf(md5_hdr, sizeof(md5_hdr), "Content-MD5: %s", q->content_md5);
			hdrs = curl_slist_append(hdrs, md5_hdr);
		}
		if (strcmp(q->method, "POST") == 0)
			hdrs = curl_slist_append(hdrs, "Content-Type: application/xml");
		/* (No "Expect:" override: libcurl 7.88 signs the empty header
		 * it would not send, and radosgw then rejects the signature.) */

		curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, s->cfg.key_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, s->cfg.secret);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)S3_CONNECT_TIMEOUT_S);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)S3_STALL_S);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
		curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
		curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, k);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		if (s->cfg.ca_file)
			curl_easy_setopt(c, CURLOPT_CAINFO, s->cfg.ca_file);
		if (strcmp(q->method, "PUT") == 0) {
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
			curl_easy_setopt(c, CURLOPT_READDATA, q);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
		} else if (strcmp(q->method, "HEAD") == 0) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (strcmp(q->method, "DELETE") == 0) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
		} else if (strcmp(q->method, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
			curl_easy_setopt(c, CURLOPT_READDATA, q);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		}
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		errbuf[0] = 0;
		CURLcode cc = curl_easy_perform(c);
		long st = 0;
		int unreach = 0;
		if (cc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
			q->status = st;
			curl_off_t cl = -1;
			curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
			q->length = cl >= 0 ? (uint64_t)cl : UINT64_MAX;
			atomic_store(&s->reached, true);
			atomic_store(&s->outage_warned, false);
		} else {
			unreach = unreachable_errno(c, cc);
		}
		/* (The handle's error buffer is ours: unset before it goes back.) */
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
		curl_slist_free_all(hdrs);
		conn_put(s, k);
		if (cc == CURLE_WRITE_ERROR && q->overflow)
			return -ERANGE; /* more bytes than asked for, or than out_max */
		if (cc == CURLE_OK && st < 300)
			return 0;
		/* 404 on HEAD and DELETE probes are answers, not failures. */
		bool quiet = cc == CURLE_OK && (st == 404 || st == 412 || st == 416);
		char why[CURL_ERROR_SIZE + 512];
		if (!quiet)
			describe_failure(q, cc, unreach, errbuf, why, sizeof(why));
		if (cc == CURLE_OK && !retryable(cc, st)) {
			if (!quiet)
				log_failure(s, q, why, attempts);
			return status_errno(st);
		}
		int64_t now = cfs_mono_ns();
		bool first_contact = unreach < 0 && !atomic_load(&s->reached);
		int64_t limit = first_contact ? start + (int64_t)S3_FIRST_CONTACT_MS * 1000000 : deadline;
		char what[CFS_OBJSTORE_NAME_MAX + 512];
		request_text(s, q, what, sizeof(what));
		if (!retryable(cc, st) || now + (int64_t)backoff_ms * 1000000 > limit) {
			if (first_contact)
				return log_error_errno(unreach,
						       "S3 endpoint %s cannot be reached: %s; %s, %d attempt%s in %.1f s. "
						       "Check the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, "
						       "AWS_REGION) and that the server is running",
						       s->cfg.endpoint, why, what, attempts, plural_s(attempts),
						       (double)(now - start) / 1e9);
			log_failure(s, q, why, attempts);
			return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : cc != CURLE_OK ? -EIO : status_errno(st);
		}
		uint64_t ms = backoff_next(&rnd, &backoff_ms);
		log_debug("S3 %s: attempt %d failed: %s; retrying in %.2f s (for up to %d s%s)", what, attempts, why,
			  (double)ms / 1000, first_contact ? S3_FIRST_CONTACT_MS / 1000 : S3_DEADLINE_S,
			  first_contact ? ": the endpoint has not answered yet" : "");
		if (now - start >= (int64_t)S3_WARN_AFTER_S * 1000000000 && !atomic_exchange(&s->outage_warned, true))
			log_warning("S3 %s: failing for %" PRId64 " s: %s; retrying for up to %d s (--verbose shows "
				    "every attempt)",
				    what, (now - start) / 1000000000, why, S3_DEADLINE_S);
		sleep_ms(ms);
	}
}

/* ---- the backend -------------------------------------------------------- */

static int s3_put_common(void *impl, const char *name, const void *p, size_t n, bool noreplace)
{
	struct s3 *s = impl;
	if (noreplace) {
		/* If-None-Match makes this atomic where the server supports it
		 * (AWS, recent Ceph); the HEAD keeps servers that ignore the
		 * header from replacing an existing object outright. */
		struct s3_req h = {.method = "HEAD", .name = name};
		int r = s3_do(s, &h);
		cfs_buf_release(&h.err);
		if (r == 0)
			return -EEXIST;
		if (r != -ENOENT)
			return r;
	}
	struct s3_req q = {.method = "PUT", .name = name, .body = p ? p : "", .body_len = n,
			   .if_none_match = noreplace};
	int r = s3_do(s, &q);
	cfs_buf_release(&q.err);
	if (r == -EEXIST && q.attempts > 1) {
		/* An attempt failed after the server may have stored the
		 * object (a 5xx after the work, a connection lost before the
		 * answer): the retry then meets our own object. It is ours if
		 * its bytes are (lock and config bodies are unique). */
		_cleanup_buf_ struct cfs_buf got = CFS_BUF_INIT;
		struct s3_req g = {.method = "GET", .name = name, .out = &got};
		int e = s3_do(s, &g);
		cfs_buf_release(&g.err);
		if (e == 0 && got.len == n && (n == 0 || memcmp(got.data, p, n) == 0))
			r = 0;
	}
	return r;
}

static int s3_put(void *impl, const char *name, const void *p, size_t n)
{
	return s3_put_common(impl, name, p, n, false);
}

static int s3_put_new(void *impl, const char *name, const void *p, size_t n)
{
	return s3_put_common(impl, name, p, n, true);
}

static int s3_get(void *impl, const char *name, struct cfs_buf *out)
{
	struct s3_req q = {.method = "GET", .name = name, .out = out};
	cfs_buf_reset(out);
	int r = s3_do(impl, &q);
	cfs_buf_release(&q.err);
	if (r == 0 && q.length != UINT64_MAX && q.length != out->len)
		r = -EIO; /* short body */
	if (r < 0)
		cfs_buf_reset(out);
	return r;
}

static int s3_head(void *impl, const char *name, uint64_t *ret_size)
{
	struct s3_req q = {.method = "HEAD", .name = name};
	int r = s3_do(impl, &q);
	cfs_buf_release(&q.err);
	if (r == 0) {
		if (q.length == UINT64_MAX)
			return -EIO;
		*ret_size = q.length;
	}
	return r;
}

/* Up to n bytes at off: fewer only where the object ends. */
static int s3_get_upto(void *impl, const char *name, uint64_t off, size_t n, void *out, size_t *ret_got)
{
	char range[96];
	if (n == 0 || off + n < off)
		return -EINVAL;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + n - 1));
	struct s3_req q = {.method = "GET", .name = name, .range = range, .fixed = out, .fixed_cap = n};
	int r = s3_do(impl, &q);
	cfs_buf_release(&q.err);
	if (r < 0)
		return r; /* 416 (off at or past the end): -ERANGE */
	/* 200 means the server sent the whole object: only right from 0. */
	if (q.status == 200 && off != 0)
		return -EIO;
	if (q.got == 0)
		return -ERANGE;
	*ret_got = q.got;
	return 0;
}

static int s3_get_range(void *impl, const char *name, uint64_t off, size_t n, void *out)
{
	size_t got;
	if (n == 0 || off + n < off) {
		uint64_t size = 0;
		int r = s3_head(impl, name, &size);
		if (r < 0)
			return r;
		return off + n < off || off > size ? -ERANGE : 0;
	}
	int r = s3_get_upto(impl, name, off, n, out, &got);
	return r < 0 ? r : got == n ? 0 : -ERANGE;
}

static int s3_delete(void *impl, const char *name)
{
	uint64_t size = 0;
	/* DELETE of a missing key succeeds on S3: ask first. */
	int r = s3_head(impl, name, &size);
	if (r < 0)
		return r;
	struct s3_req q = {.method = "DELETE", .name = name};
	r = s3_do(impl, &q);
	cfs_buf_release(&q.err);
	return r;
}

/*
 * ---- multi-object delete (DeleteObjects, POST /?delete) ---------------------
 *
 * Names go in batches of consecutive names, each one request:
 *   <Delete xmlns=".."><Quiet>false</Quiet><Object><Key>K</Key></Object>...</Delete>
 * with Content-MD5 (AWS refuses the request without it; radosgw 16.2
 * neither requires nor checks it: a wrong one deleted all the same, in
 * tests). The answer lists every key as <Deleted> or <Error> (with Code
 * and Message), in no particular order (radosgw's is not the request's).
 * A missing key is reported Deleted, which is the contract. Not Quiet,
 * although quiet answers list only the errors: with Quiet, an answer cut
 * short or emptied on the way (a proxy, a server bug) would read as "all
 * deleted", and prune would then forget packs that are still there; here
 * every key must be accounted for, and one the answer does not name is a
 * failure (-EIO).
 *
 * Retries: the request as a whole is retried by s3_do (a DeleteObjects is
 * idempotent); the keys an answer reports with a transient code
 * (InternalError, ServiceUnavailable, SlowDown) are sent again, in a
 * request of their own, with backoff, within S3_DEADLINE_S, as long as the
 * first key not deleted is one of them.
 *
 * A key XML 1.0 cannot carry (a control character other than tab, LF, CR;
 * bytes that are not UTF-8; U+FFFE, U+FFFF) is deleted with its own DELETE
 * request, between the batches.
 */

/* The most keys of one DeleteObjects (AWS's limit). */
#define S3_DELETE_BATCH 1000
/* A batch's body stays under this, so that the answer, which names every
 * key again (escaped as the server likes it: at worst 6 bytes per byte,
 * "&apos;") plus a record's overhead, stays under S3_SMALL_BODY_MAX. Only
 * names of hundreds of bytes make a batch smaller than 1000. */
#define S3_DELETE_BODY_MAX (512u << 10)
#define S3_DELETE_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>false</Quiet>"
#define S3_DELETE_TAIL "</Delete>"
#define S3_DELETE_OBJECT_OVERHEAD (sizeof("<Object><Key></Key></Object>") - 1)

/* What the answer said of one key. */
enum del_state {
	DEL_PENDING,   /* not (yet) in an answer */
	DEL_GONE,      /* Deleted, or an Error NoSuchKey */
	DEL_TRANSIENT, /* an Error worth sending again */
	DEL_FAILED,    /* any other Error, or not named by an answer */
};

struct del_key {
	const char *key; /* borrowed from del_batch.keys */
	size_t idx;
};

/* One batch: keys[i] = prefix + names[i]. */
struct del_batch {
	size_t n;
	char **keys;             /* owned, each owned */
	struct del_key *sorted;  /* owned: keys by strcmp, for the answer's keys */
	enum del_state *state;   /* owned */
	int *err;                /* owned: per key, for DEL_FAILED/DEL_TRANSIENT */
	char **code, **message;  /* owned, each owned or NULL: the server's words */
	bool *sent;              /* owned: in the request being answered */
};

static void del_batch_release(struct del_batch *b)
{
	for (size_t i = 0; b->keys && i < b->n; i++)
		free(b->keys[i]);
	for (size_t i = 0; b->code && i < b->n; i++)
		free(b->code[i]);
	for (size_t i = 0; b->message && i < b->n; i++)
		free(b->message[i]);
	free(b->keys);
	free(b->sorted);
	free(b->state);
	free(b->err);
	free(b->code);
	free(b->message);
	free(b->sent);
}

static int del_key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct del_key *)a)->key, ((const struct del_key *)b)->key);
}

static int del_batch_init(struct s3 *s, const char *const *names, size_t n, struct del_batch *b)
{
	*b = (struct del_batch){.n = n};
	b->keys = calloc(n, sizeof(*b->keys));
	b->sorted = calloc(n, sizeof(*b->sorted));
	b->state = calloc(n, sizeof(*b->state));
	b->err = calloc(n, sizeof(*b->err));
	b->code = calloc(n, sizeof(*b->code));
	b->message = calloc(n, sizeof(*b->message));
	b->sent = calloc(n, sizeof(*b->sent));
	if (!b->keys || !b->sorted || !b->state || !b->err || !b->code || !b->message || !b->sent)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&b->keys[i], "%s%s", s->prefix, names[i]) < 0) {
			b->keys[i] = NULL;
			return -ENOMEM;
		}
		b->sorted[i] = (struct del_key){b->keys[i], i};
	}
	qsort(b->sorted, n, sizeof(*b->sorted), del_key_cmp);
	return 0;
}

/* The answer's codes: which are worth another try, which mean the key is
 * not there (no S3 server sends that for a delete; some might). */
static enum del_state state_of_code(const char *code, int *ret_err)
{
	static const char *const transient[] = {"InternalError", "ServiceUnavailable", "SlowDown"};
	if (strcmp(code, "NoSuchKey") == 0)
		return DEL_GONE;
	*ret_err = strcmp(code, "AccessDenied") == 0 ? -EACCES : -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(transient); i++)
		if (strcmp(code, transient[i]) == 0)
			return DEL_TRANSIENT;
	return DEL_FAILED;
}

/* An answer's record: applies to every key sent that it names (the same
 * key may be there twice); keys not asked for are ignored. An Error wins
 * over a Deleted of the same key. */
static int del_record(const char *key, const char *code, const char *message, void *ud)
{
	struct del_batch *b = ud;
	size_t lo = 0, hi = b->n;
	while (lo < hi) { /* the first sorted key >= key */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(b->sorted[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < b->n && strcmp(b->sorted[lo].key, key) == 0; lo++) {
		size_t i = b->sorted[lo].idx;
		if (!b->sent[i])
			continue;
		int err = 0;
		enum del_state st = code ? state_of_code(code, &err) : DEL_GONE;
		if (st == DEL_GONE) {
			if (b->state[i] == DEL_PENDING)
				b->state[i] = DEL_GONE;
			continue;
		}
		b->state[i] = st;
		b->err[i] = err;
		free(b->code[i]);
		free(b->message[i]);
		b->code[i] = strdup(code);
		b->message[i] = strdup(message);
		if (!b->code[i] || !b->message[i])
			return -ENOMEM;
	}
	return 0;
}

/* One DeleteObjects for the keys sent (the answer's states are in b):
 * 0, or the request's error (logged). */
static int del_request(struct s3 *s, struct del_batch *b)
{
	_cleanup_buf_ struct cfs_buf body = CFS_BUF_INIT, answer = CFS_BUF_INIT, code = CFS_BUF_INIT,
				     msg = CFS_BUF_INIT;
	uint8_t md5[CFS_MD5_SIZE];
	char md5_b64[CFS_BASE64_SIZE(CFS_MD5_SIZE)];
	size_t len = 0;

	int r = cfs_buf_append(&body, S3_DELETE_HEAD, strlen(S3_DELETE_HEAD));
	for (size_t i = 0; r == 0 && i < b->n; i++) {
		if (!b->sent[i])
			continue;
		b->state[i] = DEL_PENDING;
		r = cfs_buf_append(&body, "<Object><Key>", 13);
		if (r == 0)
			r = cfs_s3_xml_escape(b->keys[i], &body, &len);
		if (r == 0)
			r = cfs_buf_append(&body, "</Key></Object>", 15);
	}
	if (r == 0)
		r = cfs_buf_append(&body, S3_DELETE_TAIL, strlen(S3_DELETE_TAIL));
	if (r < 0)
		return r;
	cfs_md5(body.data, body.len, md5);
	cfs_base64_encode(md5, sizeof(md5), md5_b64);

	/* "delete=": SigV4's canonical form of the bare "?delete", which
	 * libcurl would sign as it is (see the top of this file). */
	struct s3_req q = {.method = "POST", .query = "delete=", .body = body.data, .body_len = body.len,
			   .content_md5 = md5_b64, .out = &answer, .out_max = S3_SMALL_BODY_MAX};
	r = s3_do(s, &q);
	cfs_buf_release(&q.err);
	if (r == -ERANGE)
		return log_error_errno(-EPROTO, "S3 POST s3://%s/?delete: an answer of more than %u bytes",
				       s->cfg.bucket, S3_SMALL_BODY_MAX);
	if (r == -ENOENT) /* not logged by s3_do: on a bucket, 404 is a failure */
		return log_error_errno(-EIO, "S3 POST s3://%s/?delete: HTTP 404 (no such bucket?)", s->cfg.bucket);
	if (r < 0)
		return r;
	r = cfs_s3_parse_delete((const char *)answer.data, answer.len, del_record, b);
	if (r == -EPROTO && cfs_s3_parse_error((const char *)answer.data, answer.len, &code, &msg) == 0) {
		/* An error in a 200, as S3 sends for some operations. */
		one_line(code.data, code.len);
		one_line(msg.data, msg.len);
		return log_error_errno(-EIO, "S3 POST s3://%s/?delete: HTTP %ld with an error: %.100s: %.200s",
				       s->cfg.bucket, q.status, (const char *)code.data, (const char *)msg.data);
	}
	if (r == -EPROTO)
		return log_error_errno(r, "S3 POST s3://%s/?delete: HTTP %ld with an answer that is not a "
					  "DeleteResult",
				       s->cfg.bucket, q.status);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->n; i++)
		if (b->sent[i] && b->state[i] == DEL_PENDING) {
			b->state[i] = DEL_FAILED;
			b->err[i] = -EIO;
		}
	return 0;
}

/* Every key the answers refused (or left out), each on its own line with
 * the server's words: prune's log then names each pack that stays. */
static void del_log_refused(struct s3 *s, const struct del_batch *b, int attempts)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->state[i] != DEL_FAILED && b->state[i] != DEL_TRANSIENT)
			continue;
		char code[104] = "", msg[204] = "";
		if (b->code[i]) {
			snprintf(code, sizeof(code), "%.100s", b->code[i]);
			snprintf(msg, sizeof(msg), "%.200s", b->message[i]);
			one_line((uint8_t *)code, strlen(code));
			one_line((uint8_t *)msg, strlen(msg));
		}
		log_error("S3 multi-object delete of s3://%s/%s: %s%s%s (%d request%s)", s->cfg.bucket, b->keys[i],
			  b->code[i] ? code : "not in the server's answer", msg[0] ? ": " : "", msg, attempts,
			  plural_s(attempts));
	}
}

/* names[0..n): one batch, every key representable in XML; errs[0..n) as
 * the delete_many op. The keys an answer reports with a transient code go
 * again, alone, until the deadline; a request that fails as a whole (after
 * s3_do's retries) fails the keys it carried, with its error. */
static int s3_delete_batch(struct s3 *s, const char *const *names, size_t n, int *errs)
{
	struct del_batch b;
	uint64_t rnd = (uint64_t)cfs_mono_ns() ^ (uint64_t)pthread_self(), backoff_ms = 100;
	int64_t deadline = cfs_mono_ns() + (int64_t)S3_DEADLINE_S * 1000000000;
	int attempts = 0, r, first = 0;

	r = del_batch_init(s, names, n, &b);
	if (r < 0) {
		del_batch_release(&b);
		for (size_t i = 0; i < n; i++)
			errs[i] = r;
		return r;
	}
	for (size_t i = 0; i < n; i++)
		b.sent[i] = true;
	for (;;) {
		bool again = false;
		attempts++;
		r = del_request(s, &b);
		if (r < 0)
			break;
		for (size_t i = 0; i < n; i++)
			again |= b.state[i] == DEL_TRANSIENT;
		if (!again || cfs_mono_ns() + (int64_t)backoff_ms * 1000000 > deadline)
			break;
		size_t n_again = 0, first_again = 0;
		for (size_t i = 0; i < n; i++) {
			b.sent[i] = b.state[i] == DEL_TRANSIENT;
			if (b.sent[i] && n_again++ == 0)
				first_again = i;
		}
		uint64_t ms = backoff_next(&rnd, &backoff_ms);
		log_debug("S3 POST s3://%s/?delete: attempt %d: %zu key%s refused for now (%s for %s); sending them "
			  "again in %.2f s (for up to %d s)",
			  s->cfg.bucket, attempts, n_again, n_again == 1 ? "" : "s", b.code[first_again],
			  b.keys[first_again], (double)ms / 1000, S3_DEADLINE_S);
		sleep_ms(ms);
	}
	if (r == 0)
		del_log_refused(s, &b, attempts);
	for (size_t i = 0; i < n; i++) {
		if (b.state[i] == DEL_GONE)
			errs[i] = 0;
		else if (b.sent[i] && r < 0)
			errs[i] = r; /* the request that carried it failed */
		else
			errs[i] = b.err[i] ? b.err[i] : -EIO;
		if (errs[i] < 0 && first == 0)
			first = errs[i];
	}
	del_batch_release(&b);
	return first;
}

/* A key that cannot go in a batch: its own DELETE, without the HEAD of
 * s3_delete (a missing key counts as deleted here). */
static int s3_delete_alone(struct s3 *s, const char *name)
{
	struct s3_req q = {.method = "DELETE", .name = name};
	int r = s3_do(s, &q);
	cfs_buf_release(&q.err);
	return r == -ENOENT ? 0 : r;
}

static int s3_delete_many(void *impl, const char *const *names, size_t n, int *errs)
{
	struct s3 *s = impl;
	size_t i = 0, prefix_len = 0;
	int first = 0;

	if (cfs_s3_xml_escape(s->prefix, NULL, &prefix_len) < 0)
		prefix_len = SIZE_MAX; /* no key of this store can go in a batch */
	while (i < n) {
		/* The batch: as many names as fit, up to one XML cannot carry. */
		size_t j = i, bytes = strlen(S3_DELETE_HEAD) + strlen(S3_DELETE_TAIL);
		while (prefix_len != SIZE_MAX && j < n && j - i < S3_DELETE_BATCH) {
			size_t len = prefix_len + S3_DELETE_OBJECT_OVERHEAD;
			if (cfs_s3_xml_escape(names[j], NULL, &len) < 0 || (j > i && bytes + len > S3_DELETE_BODY_MAX))
				break;
			bytes += len;
			j++;
		}
		if (j == i) {
			errs[i] = s3_delete_alone(s, names[i]);
			j = i + 1;
		} else {
			(void)s3_delete_batch(s, names + i, j - i, errs + i);
		}
		for (; i < j; i++)
			if (errs[i] < 0 && first == 0)
				first = errs[i];
	}
	return first;
}

struct list_state {
	struct s3 *s;
	cfs_objstore_list_cb cb;
	void *ud;
};

static int list_entry(const char *key, uint64_t size, void *ud)
{
	struct list_state *st = ud;
	size_t pl = strlen(st->s->prefix);
	if (strncmp(key, st->s->prefix, pl) != 0)
		return 0;
	const char *name = key + pl;
	/* Only names this store could have written. */
	if (cfs_objstore_name_valid(name) < 0)
		return 0;
	return st->cb(name, size, st->ud);
}

static int s3_list(void *impl, const char *prefix, cfs_objstore_list_cb cb, void *ud)
{
	struct s3 *s = impl;
	_cleanup_buf_ struct cfs_buf body = CFS_BUF_INIT, token = CFS_BUF_INIT, prev = CFS_BUF_INIT, query = CFS_BUF_INIT;
	_cleanup_free_ char *full = NULL;
	struct list_state st = {s, cb, ud};
	bool truncated = true;
	int r;

	if (asprintf(&full, "%s%s", s->prefix, prefix) < 0)
		return -ENOMEM;
	while (truncated) {
		/* Sorted by parameter name, values RFC 3986-encoded. */
		cfs_buf_reset(&query);
		if (token.len) {
			r = cfs_buf_append(&query, "continuation-token=", 19);
			if (r == 0)
				r = cfs_buf_append_u8(&token, 0);
			if (r == 0) {
				token.len--;
				r = cfs_s3_uri_encode((const char *)token.data, false, &query);
			}
			if (r == 0)
				r = cfs_buf_append_u8(&query, '&');
			if (r < 0)
				return r;
		}
		r = cfs_buf_append(&query, "list-type=2&", 12);
		if (r == 0 && s->list_page) {
			char mk[32];
			int l = snprintf(mk, sizeof(mk), "max-keys=%u&", s->list_page);
			r = cfs_buf_append(&query, mk, (size_t)l);
		}
		if (r == 0)
			r = cfs_buf_append(&query, "prefix=", 7);
		if (r == 0)
			r = cfs_s3_uri_encode(full, false, &query);
		if (r == 0)
			r = cfs_buf_append_u8(&query, 0);
		if (r < 0)
			return r;
		struct s3_req q = {.method = "GET", .query = (const char *)query.data, .out = &body};
		r = s3_do(s, &q);
		cfs_buf_release(&q.err);
		if (r < 0)
			return r;
		if (body.len > S3_SMALL_BODY_MAX)
			return -EPROTO;
		/* A server that says "more" and gives no new place to go on
		 * from would be listed forever. */
		cfs_buf_reset(&prev);
		r = cfs_buf_append(&prev, token.data, token.len);
		if (r < 0)
			return r;
		r = cfs_s3_parse_list((const char *)body.data, body.len, list_entry, &st, &truncated, &token);
		if (r != 0)
			return r;
		if (truncated && (token.len == 0 || (token.len == prev.len && memcmp(token.data, prev.data, token.len) == 0)))
			return log_error_errno(-EPROTO, "Listing %s under %s: the server said the listing goes on but gave "
						      "no new continuation token",
					       full, s->base);
	}
	return 0;
}

static void s3_free(void *impl)
{
	struct s3 *s = impl;
	for (size_t i = 0; i < s->n_pool; i++)
		conn_free(s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	cfs_ratelimit_release(&s->up);
	cfs_ratelimit_release(&s->down);
	cfs_s3_config_release(&s->cfg);
	free(s->base);
	free(s->prefix);
	free(s);
}

static const struct cfs_objstore_ops s3_ops = {
	.put = s3_put,
	.put_new = s3_put_new,
	.get = s3_get,
	.get_range = s3_get_range,
	.get_upto = s3_get_upto,
	.head = s3_head,
	.list = s3_list,
	.delete = s3_delete,
	.delete_many = s3_delete_many,
	.free = s3_free,
	.limits_itself = true,
	.default_transfers = 4,
	.remote = true,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cfs_objstore_s3_new(const char *location, const struct cfs_objstore_options *o, struct cfs_objstore **ret)
{
	struct s3 *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	cfs_ratelimit_init(&s->up, o->limit_upload);
	cfs_ratelimit_init(&s->down, o->limit_download);
	const char *lp = getenv("CHRONOFS_S3_LIST_PAGE");
	if (lp && *lp)
		s->list_page = (unsigned)CFS_MIN(strtoul(lp, NULL, 10), 1000ul);
	int r = cfs_s3_config_parse(location, &s->cfg);
	if (r < 0)
		log_error("%s: not a valid S3 location (s3://BUCKET or s3://BUCKET/PREFIX; bucket names are 3 to 63 "
			  "of a-z, 0-9, '.' and '-')", location);
	if (r == 0) {
		r = cfs_s3_config_from_env(&s->cfg, o);
		if (r == -ENOKEY)
			log_error("%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (or a credentials file "
				  "given: s3_credentials_file in chronofs.conf(5))",
				  location);
		else if (r == -EINVAL)
			log_error("%s: the endpoint %s must start with http:// or https://", location, s->cfg.endpoint);
		if (r == -ENOKEY)
			r = -EINVAL;
	}
	if (r == 0) {
		pthread_once(&curl_once, curl_init);
		if (curl_init_result != CURLE_OK)
			r = -EIO;
	}
	if (r == 0) {
		snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->cfg.region);
		const char *host = strstr(s->cfg.endpoint, "://") + 3;
		int n = s->cfg.path_style
				? asprintf(&s->base, "%s/%s/", s->cfg.endpoint, s->cfg.bucket)
				: asprintf(&s->base, "%.*s%s.%s/", (int)(host - s->cfg.endpoint), s->cfg.endpoint,
					   s->cfg.bucket, host);
		if (n < 0)
			s->base = NULL, r = -ENOMEM;
		if (r == 0 && asprintf(&s->prefix, "%s%s", s->cfg.prefix, s->cfg.prefix[0] ? "/" : "") < 0)
			s->prefix = NULL, r = -ENOMEM;
	}
	if (r == 0)
		r = cfs_objstore_new_internal(&s3_ops, s, location, ret);
	if (r < 0)
		s3_free(s);
	return r;
}
