//go:build linux

package process

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// envValue returns the last value of key in env, as the C library's getenv
// sees a duplicated variable after execve.
func envValue(env []string, key string) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}

// LookPath resolves arg0 as execve in the container will: a name with a
// slash is used as is, anything else is searched for in the PATH of env
// (not the runtime's own environment). Call it after the pivot and the user
// switch, so that the container's filesystem and permissions apply. Errors
// are *exec.Error, e.g. `exec: "foo": executable file not found in $PATH`.
// Unlike exec.LookPath, a match through a relative PATH entry is returned
// rather than refused (runc's init does not refuse it either).
func LookPath(arg0 string, env []string) (string, error) {
	if arg0 == "" {
		return "", &exec.Error{Name: arg0, Err: exec.ErrNotFound}
	}
	if strings.Contains(arg0, "/") {
		if err := findExecutable(arg0); err != nil {
			return "", &exec.Error{Name: arg0, Err: err}
		}
		return arg0, nil
	}
	path, _ := envValue(env, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, arg0)
		if err := findExecutable(p); err == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: arg0, Err: exec.ErrNotFound}
}

// findExecutable checks what execve will: a non-directory that the
// effective ids may execute, on a mount without noexec (faccessat's X_OK
// check covers that).
func findExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return &fs.PathError{Op: "exec", Path: p, Err: unix.EISDIR}
	}
	if err := unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS); err != nil {
		return &fs.PathError{Op: "access", Path: p, Err: err}
	}
	return nil
}

// EnvWithHome returns env with HOME added when it is missing, taken from the
// container's /etc/passwd entry for uid ("/" if there is none), as runc
// does. Call it after the pivot.
func EnvWithHome(env []string, uid uint32) []string {
	if _, ok := envValue(env, "HOME"); ok {
		return env
	}
	home := homeDir("/etc/passwd", uid)
	out := make([]string, 0, len(env)+1)
	out = append(out, env...)
	return append(out, "HOME="+home)
}

func homeDir(passwd string, uid uint32) string {
	f, err := os.Open(passwd)
	if err != nil {
		return "/"
	}
	defer f.Close()
	home, err := parsePasswdHome(io.LimitReader(f, 16<<20), uid)
	if err != nil || home == "" {
		return "/"
	}
	return home
}

var errNoUser = errors.New("no such user")

// parsePasswdHome finds the home directory of uid in passwd(5) data.
func parsePasswdHome(r io.Reader, uid uint32) (string, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) < 6 {
			continue
		}
		id, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil || uint32(id) != uid {
			continue
		}
		return parts[5], nil
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errNoUser
}
