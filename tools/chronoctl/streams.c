/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chronofs/base.h"
#include "streams.h"

extern char **environ;

/* The end of a command's standard error kept for the message. */
#define ERR_TAIL 2048

struct running {
	pid_t pid;          /* 0: not started or reaped */
	int err_fd;         /* read end of its stderr pipe */
	pthread_t drain;
	bool drain_running;
	char tail[ERR_TAIL]; /* ring of the last bytes of stderr */
	size_t tail_len, tail_pos;
};

struct streams {
	const struct stream_src *srcs;
	size_t n;
	struct running *run;
};

static void *drain_main(void *p)
{
	struct running *r = p;
	char b[4096];
	for (;;) {
		ssize_t n = read(r->err_fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			r->tail[r->tail_pos] = b[i];
			r->tail_pos = (r->tail_pos + 1) % ERR_TAIL;
			if (r->tail_len < ERR_TAIL)
				r->tail_len++;
		}
	}
	return NULL;
}

int streams_new(const struct stream_src *srcs, size_t n, struct streams **ret)
{
	struct streams *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->run = calloc(n ? n : 1, sizeof(*s->run));
	if (!s->run) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		s->run[i].err_fd = -1;
	s->srcs = srcs;
	s->n = n;
	*ret = s;
	return 0;
}

static int reap(struct running *r, int *ret_status)
{
	int status = 0, e = 0;
	if (r->pid > 0) {
		while (waitpid(r->pid, &status, 0) < 0) {
			if (errno != EINTR) {
				e = -errno;
				break;
			}
		}
		r->pid = 0;
	}
	if (r->drain_running) {
		pthread_join(r->drain, NULL);
		r->drain_running = false;
	}
	if (r->err_fd >= 0) {
		close(r->err_fd);
		r->err_fd = -1;
	}
	*ret_status = status;
	return e;
}

struct streams *streams_free(struct streams *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		int status;
		(void)reap(&s->run[i], &status);
	}
	free(s->run);
	free(s);
	return NULL;
}

int streams_open(void *ud, size_t i, int *ret_fd)
{
	struct streams *s = ud;
	struct running *r = &s->run[i];
	const char *cmd = s->srcs[i].command;

	if (!cmd) {
		int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		*ret_fd = fd;
		return 0;
	}

	int out[2] = {-1, -1}, err[2] = {-1, -1}, e = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	bool fa_ready = false, at_ready = false;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		e = -errno;
		goto fail;
	}
	if ((e = -posix_spawn_file_actions_init(&fa)) < 0)
		goto fail;
	fa_ready = true;
	if ((e = -posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) < 0 ||
	    (e = -posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO)) < 0 ||
	    (e = -posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO)) < 0)
		goto fail;
	/* chronoctl ignores SIGPIPE; the command must not inherit that. */
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	if ((e = -posix_spawnattr_init(&at)) < 0)
		goto fail;
	at_ready = true;
	if ((e = -posix_spawnattr_setsigdefault(&at, &def)) < 0 ||
	    (e = -posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF)) < 0)
		goto fail;
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
	pid_t pid;
	e = -posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	if (e < 0)
		goto fail;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(out[1]);
	close(err[1]);
	r->pid = pid;
	r->err_fd = err[0];
	if (pthread_create(&r->drain, NULL, drain_main, r) == 0)
		r->drain_running = true;
	else {
		/* Without a drain the command could block on a full pipe. */
		int status;
		close(out[0]);
		kill(pid, SIGTERM);
		(void)reap(r, &status);
		return -EAGAIN;
	}
	*ret_fd = out[0];
	return 0;
fail:
	if (fa_ready)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ready)
		posix_spawnattr_destroy(&at);
	for (int k = 0; k < 2; k++) {
		if (out[k] >= 0)
			close(out[k]);
		if (err[k] >= 0)
			close(err[k]);
	}
	return e < 0 ? e : -EIO;
}

/* A byte that continues a UTF-8 character: no cut starts or ends there. */
static bool utf8_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * The last lines of stderr on one line (newlines become " / ", other
 * control characters are dropped), in at most size bytes with the NUL.
 * What does not fit is cut at the front ("..."): the reason a command
 * gives up is its last line, after whatever it printed before (pg_dump -v
 * or mariadb-dump --verbose print a line per table).
 */
static void tail_text(const struct running *r, char *out, size_t size)
{
	char t[ERR_TAIL + 1], all[3 * ERR_TAIL + 1];
	size_t start = (r->tail_pos + ERR_TAIL - r->tail_len) % ERR_TAIL, n = 0, o = 0;
	for (size_t k = 0; k < r->tail_len; k++)
		t[n++] = r->tail[(start + k) % ERR_TAIL];
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	for (size_t k = 0; k < n; k++) {
		if (t[k] == '\n') {
			memcpy(all + o, " / ", 3);
			o += 3;
		} else if ((unsigned char)t[k] >= 0x20 || t[k] == '\t') {
			all[o++] = t[k];
		}
	}
	all[o] = 0;
	if (o < size) {
		memcpy(out, all, o + 1);
		return;
	}
	if (size < 8) {
		out[0] = 0;
		return;
	}
	const char *p = all + o - (size - 4);
	while (*p && utf8_cont(*p))
		p++;
	snprintf(out, size, "...%s", p);
}

int streams_finish(void *ud, size_t i, char *msg, size_t msg_size)
{
	struct streams *s = ud;
	struct running *r = &s->run[i];
	const char *cmd = s->srcs[i].command;
	int status;

	if (!cmd)
		return 0;
	int e = reap(r, &status);
	if (e < 0) {
		snprintf(msg, msg_size, "cannot wait for `%s`: %s", cmd, strerror(-e));
		return e;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char what[96];
	if (WIFEXITED(status))
		snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(what, sizeof(what), "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	/* The end of stderr is what matters: a command longer than a third
	 * of the message is cut at its end, stderr at its front. */
	size_t shown = strlen(cmd), max = msg_size / 3;
	bool cut = shown > max;
	if (cut) {
		shown = max > 3 ? max - 3 : 0;
		while (shown && utf8_cont(cmd[shown]))
			shown--;
	}
	int head = snprintf(msg, msg_size, "`%.*s%s` %s", (int)shown, cmd, cut ? "..." : "", what);
	if (head < 0 || (size_t)head + 3 >= msg_size)
		return -ECHILD;
	char tail[3 * ERR_TAIL + 1];
	size_t room = msg_size - (size_t)head - 2; /* after ": ", with the NUL */
	tail_text(r, tail, room < sizeof(tail) ? room : sizeof(tail));
	snprintf(msg + head, msg_size - (size_t)head, "%s%s",
		 tail[0] ? ": " : WIFEXITED(status) ? " (no error output)" : "", tail);
	return -ECHILD;
}
