// Package teardown is how the host carries out a plugin's Teardown
// (PrepareResponse.teardown) on delete; the stagetest kit runs the same
// code against any plugin, so a plugin's tests see what a delete will do.
package teardown

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/sdk/plancheck"
)

// Run does a stage's Destroy as its Prepare described it: the container's
// cgroups removed in order, then the parents that are empty by then. A
// delete that gets nil launches no plugin for the stage; an error means
// Destroy must run (it kills what is left, waits, and removes the rest),
// so it is never the delete's error.
func Run(cgroupDirs, emptyParents []string) error {
	for _, dir := range cgroupDirs {
		if err := rmdirCgroup(dir); err != nil {
			return err
		}
	}
	for _, dir := range emptyParents {
		// A parent other containers still use stays, as Destroy leaves it.
		if err := rmdirCgroup(dir); err != nil && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			return err
		}
	}
	return nil
}

// Supported says whether this kernel lets Run reach a directory without
// following symlinks (openat2, Linux 5.6); where it does not, every Run
// fails and a delete had better launch the plugin for Destroy at once.
func Supported() bool { return supported() }

var supported = sync.OnceValue(func() bool {
	fd, err := openNoSymlinks("/")
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

func openNoSymlinks(dir string) (int, error) {
	return unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// rmdirCgroup removes one cgroup directory that a plugin named. The path
// is the plugin's, so it is reached without following symlinks and removed
// only from a directory on a cgroup filesystem: the host's rmdir is no way
// to remove an empty directory elsewhere. A cgroup already gone is
// removed; one whose parent is gone too (its mount moved, say) is the
// plugin's to judge.
func rmdirCgroup(dir string) error {
	if !plancheck.TeardownPath(dir) {
		return fmt.Errorf("teardown directory %q is not an absolute, clean path below /", dir)
	}
	parent, name := filepath.Split(dir)
	fd, err := openNoSymlinks(parent)
	if err != nil {
		return &os.PathError{Op: "open", Path: parent, Err: err}
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return &os.PathError{Op: "statfs", Path: parent, Err: err}
	}
	if fs.Type != unix.CGROUP_SUPER_MAGIC && fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("teardown directory %s: not on a cgroup filesystem (type %#x)", dir, fs.Type)
	}
	if err := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}
