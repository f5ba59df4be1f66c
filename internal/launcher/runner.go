package launcher

import (
	"os"
	"syscall"
)

// ShieldStdin points os.Stdin at /dev/null and returns the real stdin,
// which in a non-tty create is the container's: only the code that hands it
// to the container gets it, and nothing else the host starts (a plugin, a
// hook) can inherit it by way of os.Stdin. Call it once at start-up.
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
