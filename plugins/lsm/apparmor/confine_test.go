package apparmor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/lsm/lsmhost"
)

// helperEnv switches the test binary into one of the helper roles below.
const helperEnv = "RUNG_APPARMOR_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "exec":
		// What the init does with rung-lsm's ProcAttr action: set the exec
		// label, then execve (here into the reporting role).
		runtime.LockOSThread()
		if err := setExecLabel("exec " + DefaultProfileName); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		// The first of duplicate variables wins, so replace rather than append.
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, helperEnv+"=") {
				env = append(env, e)
			}
		}
		env = append(env, helperEnv+"=report")
		if err := unix.Exec("/proc/self/exe", []string{os.Args[0]}, env); err != nil {
			fmt.Println("error: exec:", err)
		}
		os.Exit(1)
	case "report":
		cur, err := os.ReadFile("/proc/self/attr/current")
		fmt.Printf("current: %s (%v)\n", strings.TrimSpace(string(cur)), err)
		// Denied by "deny @{PROC}/sys/[^k]** w" even for root; opened, never written.
		f, err := os.OpenFile("/proc/sys/vm/swappiness", os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		fmt.Printf("write /proc/sys/vm: %v\n", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// setExecLabel writes without O_CREAT|O_TRUNC (which os.WriteFile adds and
// procfs attr files refuse with EACCES).
func setExecLabel(v string) error {
	f, err := os.OpenFile("/proc/thread-self/attr/apparmor/exec", os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile("/proc/thread-self/attr/exec", os.O_WRONLY, 0)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(v))
	return err
}

// On a host with AppArmor, rung-default loads, shows up in the profile list
// detection reads, and confines a process that execs into it the way the
// init does. Here it skips; tools/run-in-vm.sh boots a kernel with AppArmor.
func TestDefaultProfileConfines(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load an AppArmor profile")
	}
	h := lsmhost.Detect("/")
	if !h.AppArmor.Enabled {
		t.Skip("AppArmor is not enabled on this host: " + h.AppArmor.Reason)
	}
	parser, err := exec.LookPath("apparmor_parser")
	if err != nil {
		t.Skip("apparmor_parser is not installed")
	}
	if profiles, err := h.AppArmorProfiles(); err == nil {
		if _, loaded := profiles[DefaultProfileName]; loaded {
			t.Skip("rung-default is already loaded here; not replacing the operator's copy")
		}
	}
	src, err := filepath.Abs(DefaultProfileName)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(parser, "-r", "-K", src).CombinedOutput(); err != nil {
		t.Fatalf("load rung-default: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(parser, "-R", "-K", src).CombinedOutput(); err != nil {
			t.Errorf("unload rung-default: %v\n%s", err, out)
		}
	})

	profiles, err := h.AppArmorProfiles()
	if err != nil {
		t.Fatal(err)
	}
	if mode := profiles[DefaultProfileName]; mode != "enforce" {
		t.Fatalf("rung-default listed as %q; profiles: %v", mode, profiles)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"=exec")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "current: rung-default (enforce)") {
		t.Errorf("process not confined by rung-default:\n%s", out)
	}
	if !strings.Contains(string(out), "write /proc/sys/vm: open /proc/sys/vm/swappiness: permission denied") {
		t.Errorf("rung-default did not deny a /proc/sys write:\n%s", out)
	}
}
