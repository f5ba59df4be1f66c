// The pre-Go bootstrap of `rung init`. Go cannot setns into a mount or user
// namespace once its runtime has started threads, so this runs as an ELF
// constructor, single-threaded, before the Go runtime exists (the design of
// runc's nsexec). It joins its cgroup v1 hierarchies, joins and creates the
// container's namespaces, lets the host act on the process through the
// stage plugins' Attach, then forks the container init, which continues
// into the Go runtime.
//
// Wire format from the host (all little-endian, bounded: CVE-2021-43784):
//   header: u32 magic "RUNG", u16 version, u16 entry count, u32 body length
//   entry:  u16 type, u16 length, payload
// Replies to the host: u32 type, i32 value, then for errors a u32-length text.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nsexec.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static int sync_fd = -1;

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_reply(uint32_t type, int32_t value)
{
	uint32_t msg[2] = { type, (uint32_t)value };
	if (write_all(sync_fd, msg, sizeof(msg)) < 0)
		_exit(RUNG_EXIT_BOOTSTRAP);
}

// bail reports the failure to the host, which turns it into the user's
// error, and exits without ever reaching the Go runtime.
static void bail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bail(const char *fmt, ...)
{
	char text[512];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text) - 64, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(text) - 64)
		n = (int)(sizeof(text) - 64);
	if (saved)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ": %s", strerror(saved));
	if (sync_fd >= 0) {
		uint32_t hdr[3] = { RUNG_REPLY_ERROR, 0, (uint32_t)n };
		if (write_all(sync_fd, hdr, sizeof(hdr)) == 0)
			write_all(sync_fd, text, (size_t)n);
	}
	_exit(RUNG_EXIT_BOOTSTRAP);
}

static int nstype_flag(uint32_t t)
{
	switch (t) {
	case CLONE_NEWNS: case CLONE_NEWUTS: case CLONE_NEWIPC: case CLONE_NEWNET:
	case CLONE_NEWPID: case CLONE_NEWUSER: case CLONE_NEWCGROUP: case CLONE_NEWTIME:
		return 1;
	}
	return 0;
}

struct join {
	uint32_t type;
	int fd;
	char path[RUNG_MAX_PATH + 1];
};

// A cgroup v1 hierarchy to join: the host opened its tasks file (after
// checking the directory is on a cgroup v1 mount); dir is for messages.
struct cgroup_tasks {
	int fd;
	char dir[RUNG_MAX_PATH + 1];
};

// word_and_path reads an entry of a u32 then a path (a join, a cgroup)
// into path, which holds RUNG_MAX_PATH + 1 bytes.
static uint32_t word_and_path(const char *data, uint16_t len, const char *what, char *path)
{
	if (len < 5 || len - 4 > RUNG_MAX_PATH)
		bail("bootstrap: %s entry of %u bytes", what, len);
	uint32_t word;
	memcpy(&word, data, 4);
	memcpy(path, data + 4, len - 4);
	path[len - 4] = '\0';
	if (strlen(path) != (size_t)(len - 4))
		bail("bootstrap: %s path has a NUL byte", what);
	return word;
}

void rung_nsexec(void)
{
	const char *env = getenv(RUNG_INIT_ENV);
	if (env == NULL)
		return;
	char *end = NULL;
	long fd = strtol(env, &end, 10);
	if (end == env || *end != '\0' || fd < 3 || fd > 1024)
		_exit(RUNG_EXIT_BOOTSTRAP);
	sync_fd = (int)fd;

	// Non-dumpable until the container's execve (which resets it): a
	// container process must not reach our /proc/PID/fd, where host
	// descriptors may sit while we run in its namespaces (CVE-2024-21626,
	// runc's nsexec does the same). Inherited by the forked init.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("prctl(PR_SET_DUMPABLE)");

	uint32_t header[3];
	if (read_all(sync_fd, header, sizeof(header)) < 0)
		bail("bootstrap: reading header");
	uint32_t magic = header[0];
	uint16_t version = (uint16_t)(header[1] & 0xffff);
	uint16_t count = (uint16_t)(header[1] >> 16);
	uint32_t body_len = header[2];
	errno = 0;
	if (magic != RUNG_MAGIC)
		bail("bootstrap: bad magic %#x", magic);
	if (version != RUNG_WIRE_VERSION)
		bail("bootstrap: wire version %u, want %u", version, RUNG_WIRE_VERSION);
	if (body_len > RUNG_MAX_BODY || count > RUNG_MAX_ENTRIES)
		bail("bootstrap: message of %u bytes in %u entries exceeds the bounds", body_len, count);

	static char body[RUNG_MAX_BODY];
	if (body_len > 0 && read_all(sync_fd, body, body_len) < 0)
		bail("bootstrap: reading %u byte body", body_len);

	uint32_t clone_flags = 0;
	struct join joins[RUNG_MAX_JOINS];
	int njoins = 0;
	char offsets[RUNG_MAX_PATH + 1] = "";
	size_t offsets_len = 0;
	static struct cgroup_tasks cgroups[RUNG_MAX_CGROUP_FDS];
	int ncgroups = 0;

	size_t off = 0;
	for (uint16_t i = 0; i < count; i++) {
		if (body_len - off < 4)
			bail("bootstrap: entry %u header past the end", i);
		uint16_t type, len;
		memcpy(&type, body + off, 2);
		memcpy(&len, body + off + 2, 2);
		off += 4;
		if (len > body_len - off)
			bail("bootstrap: entry %u length %u past the end", i, len);
		const char *data = body + off;
		off += len;
		switch (type) {
		case RUNG_T_CLONE_FLAGS:
			if (len != 4)
				bail("bootstrap: clone flags of %u bytes", len);
			memcpy(&clone_flags, data, 4);
			for (uint32_t bit = 1; bit; bit <<= 1)
				if ((clone_flags & bit) && !nstype_flag(bit))
					bail("bootstrap: clone flag %#x is not a namespace", bit);
			break;
		case RUNG_T_JOIN: {
			if (njoins >= RUNG_MAX_JOINS)
				bail("bootstrap: more than %d namespaces to join", RUNG_MAX_JOINS);
			struct join *j = &joins[njoins++];
			j->type = word_and_path(data, len, "join", j->path);
			if (!nstype_flag(j->type))
				bail("bootstrap: join of unknown namespace type %#x", j->type);
			break;
		}
		case RUNG_T_TIME_OFFSETS:
			if (len > RUNG_MAX_PATH)
				bail("bootstrap: time offsets of %u bytes", len);
			memcpy(offsets, data, len);
			offsets[len] = '\0';
			offsets_len = len;
			break;
		case RUNG_T_CGROUP_TASKS: {
			if (ncgroups >= RUNG_MAX_CGROUP_FDS)
				bail("bootstrap: more than %d cgroup v1 hierarchies", RUNG_MAX_CGROUP_FDS);
			struct cgroup_tasks *c = &cgroups[ncgroups++];
			uint32_t cfd = word_and_path(data, len, "cgroup", c->dir);
			if (cfd < 3 || cfd > 1024 || (int)cfd == sync_fd)
				bail("bootstrap: cgroup tasks fd %u", cfd);
			c->fd = (int)cfd;
			break;
		}
		default:
			bail("bootstrap: unknown entry type %u", type);
		}
	}
	if (off != body_len)
		bail("bootstrap: %zu trailing bytes", (size_t)(body_len - off));
	// A whole-message rule, so it is checked with the others, before any
	// action: the fuzzer found a message that failed on a join instead.
	if (offsets_len > 0 && !(clone_flags & CLONE_NEWTIME))
		bail("bootstrap: time offsets without a new time namespace");

	// Join the cgroup v1 hierarchies first, while still single-threaded and
	// in the host's namespaces, and before anything is cloned. "0" in tasks
	// moves only the calling thread, which here is the whole process, and
	// the kernel then skips the global cgroup_threadgroup_rwsem that a pid
	// written to cgroup.procs takes: its first writer after a quiet spell
	// waits an RCU grace period (7-18 ms on a 2-core VM) holding cgroup_mutex.
	// The descriptors are the host's; none survives past here.
	for (int i = 0; i < ncgroups; i++) {
		if (write(cgroups[i].fd, "0", 1) != 1)
			bail("cgroup v1 directory %s from the cgroups stage: write tasks", cgroups[i].dir);
		close(cgroups[i].fd);
	}

	// Open every namespace before joining any: after joining a mount
	// namespace the host's paths no longer resolve.
	for (int i = 0; i < njoins; i++) {
		joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			bail("open namespace %s", joins[i].path);
	}
	// The user namespace first, so the rest are joined with its privileges.
	int joined_user = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < njoins; i++) {
			int is_user = joins[i].type == CLONE_NEWUSER;
			if (is_user != (pass == 0))
				continue;
			if (setns(joins[i].fd, (int)joins[i].type) < 0)
				bail("setns %s", joins[i].path);
			close(joins[i].fd);
			joined_user |= is_user;
		}
	}
	if (joined_user) {
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			bail("becoming root in the joined user namespace");
	}

	uint32_t first = clone_flags & ~(uint32_t)CLONE_NEWCGROUP;
	if (first && unshare((int)first) < 0)
		bail("unshare namespaces %#x", first);
	if (offsets_len > 0) {
		int tfd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (tfd < 0 || write_all(tfd, offsets, offsets_len) < 0)
			bail("writing /proc/self/timens_offsets");
		close(tfd);
	}

	// The host now runs every stage's Attach on us: uid/gid maps, loopback,
	// cgroup placement checks. We wait for its word.
	send_reply(RUNG_REPLY_ATTACH, getpid());
	uint32_t go = 0;
	if (read_all(sync_fd, &go, sizeof(go)) < 0)
		bail("waiting for the host after attach");
	if (go != RUNG_GO)
		_exit(RUNG_EXIT_BOOTSTRAP);

	if (clone_flags & CLONE_NEWUSER) {
		if (setresgid(0, 0, 0) < 0)
			bail("setresgid(0) in the new user namespace (is gid 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			bail("setresuid(0) in the new user namespace (is uid 0 mapped?)");
	}
	// After placement, so the cgroup namespace's root is the container's cgroup.
	if ((clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		bail("unshare cgroup namespace");

	// Fork so the child is inside the new (or joined) pid namespace.
	pid_t child = fork();
	if (child < 0)
		bail("fork container init");
	if (child == 0) {
		// The init continues into the Go runtime with the same sync socket.
		return;
	}
	send_reply(RUNG_REPLY_PID, child);
	_exit(0);
}
