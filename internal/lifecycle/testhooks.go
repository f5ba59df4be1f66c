package lifecycle

import (
	"os"
	"syscall"
)

// dieAt lets the crash-consistency tests kill `rung create` at an exact
// step, right after that step was recorded (and saved, where it is):
// RUNG_TEST_DIE_AT=<step>.
// It costs one getenv per step and does nothing unless set.
func dieAt(step string) {
	if v := os.Getenv("RUNG_TEST_DIE_AT"); v != "" && v == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
