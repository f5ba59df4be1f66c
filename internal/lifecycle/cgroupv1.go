package lifecycle

import (
	"fmt"
	"strconv"

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
