package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// joinCgroupsV1 writes pid into cgroup.procs of each cgroup v1 directory
// the cgroups stage planned. A plugin names these paths, so each is opened
// as a directory without following a final symlink and must be on a
// cgroup v1 mount: a path into another filesystem is refused rather than
// written to.
func joinCgroupsV1(dirs []string, pid int) error {
	for _, dir := range dirs {
		if err := joinCgroupV1(dir, pid); err != nil {
			return fmt.Errorf("cgroup v1 directory %s: %w", dir, err)
		}
	}
	return nil
}

func joinCgroupV1(dir string, pid int) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dfd, &fs); err != nil {
		return err
	}
	if fs.Type != unix.CGROUP_SUPER_MAGIC {
		return fmt.Errorf("not on a cgroup v1 filesystem (type %#x)", fs.Type)
	}
	fd, err := unix.Openat(dfd, "cgroup.procs", unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strconv.Itoa(pid))); err != nil {
		return fmt.Errorf("write cgroup.procs: %w", err)
	}
	return nil
}

// primeCgroupMigration takes the wait of the first cgroup v1 join off the
// create's critical path. Every write to cgroup.procs takes the kernel's
// global cgroup_threadgroup_rwsem for writing, and the first writer after a
// quiet spell waits for an RCU grace period to switch its readers (fork,
// exit) to the slow path: 12-18 ms on this 2-core VM, runc pays the same.
// Writers within a grace period of each other skip that wait. So from the
// start of a create or exec this moves rung into the v1 cgroup it is
// already in (a migration that changes nothing) every few milliseconds,
// until the real join is done (stop) or a bound passes; the grace period
// then elapses while the plugins work. Errors are ignored: priming is an
// optimisation, the join itself reports failures.
func primeCgroupMigration() (stop func()) {
	procs := ownCgroupV1Procs()
	if procs == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		f, err := os.OpenFile(procs, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		pid := []byte(strconv.Itoa(os.Getpid()))
		deadline := time.After(primeFor)
		for {
			_, _ = f.Write(pid)
			select {
			case <-done:
				return
			case <-deadline:
				return
			case <-time.After(primeEvery):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// The real join comes 10-30 ms after the create begins; a grace period is
// tens of ms, so one write per few ms keeps the fast path open throughout.
const (
	primeEvery = 4 * time.Millisecond
	primeFor   = 300 * time.Millisecond
)

// ownCgroupV1Procs is cgroup.procs of rung's own cgroup in a v1 hierarchy
// mounted at /sys/fs/cgroup/<controllers>, or "" on a host without one.
func ownCgroupV1Procs() string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] == "" || strings.HasPrefix(f[1], "name=") || strings.Contains(f[2], "..") {
			continue
		}
		for _, mnt := range append([]string{f[1]}, strings.Split(f[1], ",")...) {
			dir := filepath.Join("/sys/fs/cgroup", mnt, f[2])
			var fs unix.Statfs_t
			if unix.Statfs(dir, &fs) == nil && fs.Type == unix.CGROUP_SUPER_MAGIC {
				return filepath.Join(dir, "cgroup.procs")
			}
		}
	}
	return ""
}
