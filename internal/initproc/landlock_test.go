package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const landlockChildEnv = "RUNG_TEST_LANDLOCK_CHILD"

// childCase is what the re-executed test binary applies and then probes.
type childCase struct {
	Rulesets []Landlock
	// DropSysAdmin clears CAP_SYS_ADMIN from the effective set first, and
	// NNP sets no_new_privs, as the init's process setup would have.
	DropSysAdmin, NNP bool
	Probe             []string
}

// init turns the re-executed test binary into the probe child before any
// test runs.
func init() {
	if spec := os.Getenv(landlockChildEnv); spec != "" {
		landlockChild(spec)
	}
}

func landlockChild(spec string) {
	var c childCase
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Println("bad case:", err)
		os.Exit(2)
	}
	// As in Main: restriction and probes on the one thread.
	runtime.LockOSThread()
	if c.DropSysAdmin {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err == nil {
			data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				fmt.Println("capset:", err)
				os.Exit(2)
			}
		}
	}
	if c.NNP {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Println("nnp:", err)
			os.Exit(2)
		}
	}
	if err := applyLandlock(c.Rulesets); err != nil {
		fmt.Println("apply:", err)
		os.Exit(0)
	}
	for _, p := range c.Probe {
		op, path, _ := strings.Cut(p, ":")
		var err error
		switch op {
		case "read":
			_, err = os.ReadFile(path)
		case "write":
			err = os.WriteFile(path, []byte("x"), 0o644)
		case "list":
			_, err = os.ReadDir(path)
		}
		switch {
		case err == nil:
			fmt.Println(p, "ok")
		case errors.Is(err, unix.EACCES):
			fmt.Println(p, "EACCES")
		default:
			fmt.Println(p, err)
		}
	}
	os.Exit(0)
}

func requireLandlock(t *testing.T) {
	t.Helper()
	if _, err := landlockABI(); err != nil {
		t.Skipf("the kernel has no Landlock: %v", err)
	}
}

func runChild(t *testing.T, c childCase) map[string]string {
	t.Helper()
	b, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), landlockChildEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && k == "apply" {
			got["apply"] = v
			continue
		}
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			got[l[:i]] = l[i+1:]
		}
	}
	return got
}

const ro = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR

func fixture(t *testing.T) (allowed, denied string) {
	dir := t.TempDir()
	allowed, denied = filepath.Join(dir, "allowed"), filepath.Join(dir, "denied")
	for _, d := range []string{allowed, denied} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return allowed, denied
}

func TestLandlockRestricts(t *testing.T) {
	requireLandlock(t)
	allowed, denied := fixture(t)
	got := runChild(t, childCase{
		NNP: true,
		Rulesets: []Landlock{{Rules: []LandlockRule{
			{Path: allowed, Access: landlockFSRights(99)},  // more than the kernel knows: masked
			{Path: filepath.Join(denied, "f"), Access: ro}, // a file rule: directory rights masked
		}}},
		Probe: []string{"read:" + allowed + "/f", "write:" + allowed + "/new", "list:" + allowed,
			"read:" + denied + "/f", "list:" + denied, "write:" + denied + "/f", "read:/etc/hostname"},
	})
	want := map[string]string{
		"read:" + allowed + "/f": "ok", "write:" + allowed + "/new": "ok", "list:" + allowed: "ok",
		"read:" + denied + "/f": "ok", "list:" + denied: "EACCES", "write:" + denied + "/f": "EACCES",
		"read:/etc/hostname": "EACCES",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestLandlockRulesetsStack(t *testing.T) {
	requireLandlock(t)
	allowed, denied := fixture(t)
	got := runChild(t, childCase{
		NNP: true,
		Rulesets: []Landlock{
			{Rules: []LandlockRule{{Path: allowed, Access: ro}, {Path: denied, Access: ro}}},
			{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_READ_FILE, Rules: []LandlockRule{{Path: allowed, Access: ro}}},
		},
		Probe: []string{"read:" + allowed + "/f", "read:" + denied + "/f", "list:" + denied},
	})
	// The second ruleset handles only read_file: listing stays allowed by
	// it, and the first allows it.
	want := map[string]string{"read:" + allowed + "/f": "ok", "read:" + denied + "/f": "EACCES", "list:" + denied: "ok"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestLandlockErrors(t *testing.T) {
	requireLandlock(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the no_new_privs case drops CAP_SYS_ADMIN")
	}
	allowed, _ := fixture(t)
	cases := []struct {
		c    childCase
		want string
	}{
		{childCase{NNP: true, Rulesets: []Landlock{{Rules: []LandlockRule{{Path: allowed + "/missing", Access: ro}}}}}, "missing: no such file"},
		{childCase{NNP: true, Rulesets: []Landlock{{HandledAccessFS: 1 << 40}}}, "does not handle access rights 0x10000000000"},
		{childCase{DropSysAdmin: true, Rulesets: []Landlock{{Rules: []LandlockRule{{Path: allowed, Access: ro}}}}}, "set process.noNewPrivileges"},
	}
	for _, c := range cases {
		got := runChild(t, c.c)
		if !strings.Contains(got["apply"], c.want) {
			t.Errorf("%+v: apply error %q, want %q", c.c, got["apply"], c.want)
		}
	}
}

func TestNoRulesetsIsNoop(t *testing.T) {
	if err := applyLandlock(nil); err != nil {
		t.Fatal(err)
	}
}
