package launcher

import (
	"os"
	"syscall"
)

// ShieldStdin points os.Stdin at /dev/null and returns the real stdin.
// go-plugin gives every plugin os.Stdin, which in a non-tty create is the
// container's stdin; plugin stdio must never be the container's. Call it
// once at start-up, before any plugin is launched.
func ShieldStdin() *os.File {
	real := os.Stdin
	if null, err := os.Open(os.DevNull); err == nil {
		os.Stdin = null
	}
	return real
}

func ownerUID(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
