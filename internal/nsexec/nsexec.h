#ifndef RUNG_NSEXEC_H
#define RUNG_NSEXEC_H

// Shared with nsexec.go through cgo; keep the two in step.
#define RUNG_INIT_ENV "_RUNG_INIT_PIPE"
#define RUNG_MAGIC 0x474e5552u /* "RUNG" little-endian */
#define RUNG_WIRE_VERSION 2
#define RUNG_MAX_BODY 65536
#define RUNG_MAX_ENTRIES 64
#define RUNG_MAX_JOINS 16
#define RUNG_MAX_PATH 4096
#define RUNG_MAX_CGROUP_FDS 32

#define RUNG_T_CLONE_FLAGS 1
#define RUNG_T_JOIN 2
#define RUNG_T_TIME_OFFSETS 3
#define RUNG_T_CGROUP_TASKS 4

#define RUNG_REPLY_ATTACH 1
#define RUNG_REPLY_PID 2
#define RUNG_REPLY_ERROR 3

#define RUNG_GO 0x21474f21u
#define RUNG_EXIT_BOOTSTRAP 121

void rung_nsexec(void);

#endif
