package lifecycle

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openCgroupV1Tasks opens the tasks file of each cgroup v1 directory the
// cgroups stage planned, for the bootstrap to join by writing "0" to each
// before it forks (nsexec.c says why not cgroup.procs). A plugin names
// these paths, so each is opened as a directory without following a final
// symlink and must be on a cgroup v1 mount: a path into another filesystem
// is refused rather than handed on.
func openCgroupV1Tasks(dirs []string) (files []*os.File, err error) {
	defer func() {
		if err != nil {
			closeFiles(files)
			files = nil
		}
	}()
	for _, dir := range dirs {
		f, err := openCgroupV1TasksIn(dir)
		if err != nil {
			return files, fmt.Errorf("cgroup v1 directory %s from the cgroups stage: %w", dir, err)
		}
		files = append(files, f)
	}
	return files, nil
}

func openCgroupV1TasksIn(dir string) (*os.File, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dfd, &fs); err != nil {
		return nil, err
	}
	if fs.Type != unix.CGROUP_SUPER_MAGIC {
		return nil, fmt.Errorf("not on a cgroup v1 filesystem (type %#x)", fs.Type)
	}
	fd, err := unix.Openat(dfd, "tasks", unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open tasks: %w", err)
	}
	return os.NewFile(uintptr(fd), dir+"/tasks"), nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
