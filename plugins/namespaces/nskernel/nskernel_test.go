package nskernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces and writes another process's id maps")
	}
}

// child starts a sleeping process in new namespaces (flags), standing in for
// an init that has unshared and waits. It is killed when the test ends.
func child(t *testing.T, flags uintptr) int {
	t.Helper()
	needRoot(t)
	if flags&unix.CLONE_NEWUSER != 0 {
		if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
			t.Skip("user namespaces are disabled on this host (user.max_user_namespaces=0)")
		}
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary: ", err)
	}
	cmd := exec.Command(sleep, "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child in new namespaces: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

func TestSupported(t *testing.T) {
	got := map[specs.LinuxNamespaceType]bool{}
	for _, ty := range Supported() {
		got[ty] = true
	}
	for _, k := range nsplan.Kinds {
		_, err := os.Lstat("/proc/self/ns/" + k.Proc)
		if got[k.Type] != (err == nil) {
			t.Errorf("%s: supported=%v but /proc/self/ns/%s: %v", k.Type, got[k.Type], k.Proc, err)
		}
	}
	for _, must := range []specs.LinuxNamespaceType{"mount", "network", "pid", "ipc", "uts"} {
		if !got[must] {
			t.Errorf("%s namespaces missing on a Linux host", must)
		}
	}
}

func TestCheckJoin(t *testing.T) {
	own, err := CheckJoin(specs.NetworkNamespace, "/proc/self/ns/net")
	if err != nil || !own {
		t.Fatalf("own netns: own=%v err=%v", own, err)
	}
	if _, err := CheckJoin(specs.UTSNamespace, "/proc/self/ns/net"); err == nil || !strings.Contains(err.Error(), "is a network namespace, not uts") {
		t.Errorf("wrong type: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckJoin(specs.NetworkNamespace, file); err == nil || !strings.Contains(err.Error(), "is not a namespace") {
		t.Errorf("regular file: %v", err)
	}
	// A FIFO would block a plain open forever; O_PATH must not.
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckJoin(specs.NetworkNamespace, fifo); err == nil || !strings.Contains(err.Error(), "is not a namespace") {
		t.Errorf("fifo: %v", err)
	}
	if _, err := CheckJoin(specs.NetworkNamespace, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing: %v", err)
	}

	pid := child(t, unix.CLONE_NEWNET)
	own, err = CheckJoin(specs.NetworkNamespace, "/proc/"+strconv.Itoa(pid)+"/ns/net")
	if err != nil || own {
		t.Errorf("child netns: own=%v err=%v", own, err)
	}
}

func readProc(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAttachUserAndNetwork(t *testing.T) {
	pid := child(t, unix.CLONE_NEWUSER|unix.CLONE_NEWNET)
	st := &nsplan.State{
		New:         []specs.LinuxNamespaceType{specs.UserNamespace, specs.NetworkNamespace},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 1000}, {ContainerID: 1000, HostID: 5000, Size: 1}},
	}
	done, err := Attach(context.Background(), pid, st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(done, ",") != "uid_map,gid_map" {
		t.Errorf("done = %v", done)
	}
	if !nsplan.SameIDMap([]byte(readProc(t, pid, "uid_map")), st.UIDMappings) {
		t.Errorf("uid_map = %q", readProc(t, pid, "uid_map"))
	}
	if !nsplan.SameIDMap([]byte(readProc(t, pid, "gid_map")), st.GIDMappings) {
		t.Errorf("gid_map = %q", readProc(t, pid, "gid_map"))
	}
	// Root writes gid_map with CAP_SETGID, so setgroups stays allowed.
	if sg := strings.TrimSpace(readProc(t, pid, "setgroups")); sg != "allow" {
		t.Errorf("setgroups = %q", sg)
	}

	// A repeated Attach finds the same maps and succeeds.
	if _, err := Attach(context.Background(), pid, st); err != nil {
		t.Errorf("repeated Attach: %v", err)
	}
	// Different maps cannot be written over them.
	other := *st
	other.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 10}}
	if _, err := Attach(context.Background(), pid, &other); err == nil || !strings.Contains(err.Error(), "already set to other mappings") {
		t.Errorf("Attach with other maps: %v", err)
	}
}

func TestWriteIDMapsSetgroupsDeny(t *testing.T) {
	pid := child(t, unix.CLONE_NEWUSER)
	p, err := OpenProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1}}
	done, err := p.WriteIDMaps(m, m, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(done, ",") != "uid_map,setgroups,gid_map" {
		t.Errorf("done = %v", done)
	}
	if sg := strings.TrimSpace(readProc(t, pid, "setgroups")); sg != "deny" {
		t.Errorf("setgroups = %q", sg)
	}
}

// An init that failed to unshare is still in the plugin's namespaces; Attach
// must refuse rather than touch the host's own user or network namespace.
func TestAttachRefusesHostNamespaces(t *testing.T) {
	pid := child(t, 0)
	st := &nsplan.State{
		New:         []specs.LinuxNamespaceType{specs.UserNamespace},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1}},
	}
	if _, err := Attach(context.Background(), pid, st); err == nil || !strings.Contains(err.Error(), "still in the runtime's user namespace") {
		t.Errorf("user: %v", err)
	}
}

func TestAttachNothingToDo(t *testing.T) {
	// No new user or network namespace: no /proc access at all, so even a
	// pid that does not exist is fine.
	done, err := Attach(context.Background(), 1<<30, &nsplan.State{New: []specs.LinuxNamespaceType{specs.PIDNamespace}})
	if err != nil || len(done) != 0 {
		t.Errorf("done=%v err=%v", done, err)
	}
	// A new network namespace alone is the init's work (lo) too.
	if done, err := Attach(context.Background(), 1<<30, &nsplan.State{New: []specs.LinuxNamespaceType{specs.NetworkNamespace}}); err != nil || len(done) != 0 {
		t.Errorf("network: done=%v err=%v", done, err)
	}
	withMaps := &nsplan.State{New: []specs.LinuxNamespaceType{specs.UserNamespace},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1}}}
	if _, err := Attach(context.Background(), 1<<30, withMaps); err == nil {
		t.Error("missing pid accepted")
	}
}
