package guest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// allowAll is what a test profile allows; each adds its deny rules.
const allowAll = `  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
`

// loadProfile loads an AppArmor profile for the length of the test.
func loadProfile(t *testing.T, name, extra string) {
	t.Helper()
	text := "profile " + name + " flags=(attach_disconnected,mediate_deleted) {\n" + allowAll + extra + "}\n"
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("apparmor_parser", "-r", "-K", p).CombinedOutput(); err != nil {
		t.Fatalf("load profile %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("apparmor_parser", "-R", "-K", p).CombinedOutput(); err != nil {
			t.Errorf("unload profile %s: %v\n%s", name, err, out)
		}
	})
}

// loadedProfiles is the kernel's list: name → mode.
func loadedProfiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range tu.Lines(readFile(t, "/sys/kernel/security/apparmor/profiles")) {
		if i := strings.LastIndex(l, " ("); i > 0 && strings.HasSuffix(l, ")") {
			out[l[:i]] = l[i+2 : len(l)-1]
		}
	}
	return out
}

const secret = "top-secret-42"

// withSecret puts /secret in the rootfs.
func withSecret(t *testing.T, mutate func(*specs.Spec)) string {
	t.Helper()
	return tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		if err := os.WriteFile(filepath.Join(rootfs, "secret"), []byte(secret+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mutate(s)
	})
}

const readSecret = `cat /proc/self/attr/current; cat /secret || echo read-denied`

// A profile that denies reading a file confines the container's process
// (attr/current names it, in enforce mode) and the read fails; the same
// container without the profile reads the file, unconfined.
func TestAppArmorProfileDeniesRead(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	prof := "rung-guest-deny-" + randHex(t)
	loadProfile(t, prof, "  deny /secret r,\n")

	confined := tu.ID(t) + "-confined"
	out := rt.RunOK(t, confined, withSecret(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", readSecret}
		s.Process.ApparmorProfile = prof
	}))
	if !strings.Contains(out, prof+" (enforce)\n") {
		t.Errorf("confined container: attr/current is not %q: %q", prof+" (enforce)", out)
	}
	if strings.Contains(out, secret) || !strings.Contains(out, "read-denied") {
		t.Errorf("confined container read /secret despite the profile's deny rule: %q", out)
	}

	free := tu.ID(t) + "-free"
	out = rt.RunOK(t, free, withSecret(t, func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", readSecret} }))
	if !strings.Contains(out, "unconfined\n") || !strings.Contains(out, secret) {
		t.Errorf("container without a profile: want unconfined and the secret, got %q", out)
	}
	tu.CheckNoLeaks(t, snap, confined, free)
}

// An exec'd process gets the profile it asks for (--apparmor, or the
// apparmorProfile of a --process file), else the container's.
func TestAppArmorExecProfile(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	p1 := "rung-guest-init-" + randHex(t)
	p2 := "rung-guest-exec-" + randHex(t)
	loadProfile(t, p1, "")
	loadProfile(t, p2, "  deny /secret r,\n")
	id := tu.ID(t)
	bundle := withSecret(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo up; exec sleep 1000"}
		s.Process.ApparmorProfile = p1
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	c.WaitOutput(t, "up")
	if cur := readFile(t, "/proc/"+strconv.Itoa(c.Pid(t))+"/attr/current"); cur != p1+" (enforce)" {
		t.Errorf("init's label seen from the guest: %q, want %q", cur, p1+" (enforce)")
	}

	// Without --apparmor the exec'd process runs under the container's
	// process.apparmorProfile, as in runc.
	if out := execIn(t, rt, id, "sh", "-c", readSecret); !strings.Contains(out, p1+" (enforce)\n") || !strings.Contains(out, secret) {
		t.Errorf("plain exec: want %s (enforce) and the secret, got %q", p1, out)
	}
	if out := execWith(t, rt, []string{"--apparmor", p2}, id, "sh", "-c", readSecret); !strings.Contains(out, p2+" (enforce)\n") ||
		strings.Contains(out, secret) || !strings.Contains(out, "read-denied") {
		t.Errorf("exec --apparmor %s: want its label and the read denied, got %q", p2, out)
	}

	// containerd's form: a full process object in a file.
	spec := tu.ReadSpec(t, bundle)
	proc := *spec.Process
	proc.Args = []string{"sh", "-c", readSecret}
	proc.ApparmorProfile = p2
	b, _ := json.Marshal(proc)
	pf := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(pf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := execWith(t, rt, []string{"--process", pf}, id); !strings.Contains(out, p2+" (enforce)\n") || strings.Contains(out, secret) {
		t.Errorf("exec --process with apparmorProfile %s: got %q", p2, out)
	}

	// A profile that is not loaded fails the exec, not the container.
	missing := "rung-guest-missing-" + randHex(t)
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", "--apparmor", missing, id, "true"}})
	if res.Exit == 0 {
		t.Errorf("exec --apparmor %s (not loaded) succeeded: %s", missing, res)
	} else if msg := strings.Join(res.Errors(), "; "); !strings.Contains(msg, "apparmorProfile") || !strings.Contains(msg, missing) {
		t.Errorf("exec with an unloaded profile: error should name apparmorProfile and %s: %s", missing, res)
	}
	if st := rt.State(t, id); st.Status != specs.StateRunning {
		t.Errorf("after a refused exec the container is %q, want running", st.Status)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// create with a profile that is not loaded fails before anything starts,
// with an error naming process.apparmorProfile, and leaves nothing behind.
func TestAppArmorProfileNotLoaded(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	missing := "rung-guest-missing-" + randHex(t)
	_, res := rt.TryCreate(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Process.ApparmorProfile = missing
	}), tu.CreateOpts{})
	if res.Exit == 0 {
		t.Fatalf("create with unloaded profile %s succeeded: %s", missing, res)
	}
	errs := res.Errors()
	if len(errs) == 0 {
		t.Fatalf("no {\"level\":\"error\"} line in --log: %s", res)
	}
	msg := errs[len(errs)-1]
	if !strings.Contains(msg, "process.apparmorProfile") || !strings.Contains(msg, missing) || strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error should be one line naming process.apparmorProfile and %s: %q", missing, msg)
	}
	t.Logf("runtime error: %s", msg)
	if _, r := rt.TryState(t, id); r.Exit == 0 {
		t.Errorf("state of the refused container succeeded: %s", r)
	}
	// containerd follows a failed create with delete --force.
	if r := rt.Delete(t, id, true); r.Exit != 0 {
		t.Errorf("delete --force after the failed create: %s", r)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// `make apparmor-default` loads the shipped rung-default profile, and it
// confines a container that names it: a write to /proc/sys/kernel/hostname
// that root in the container may otherwise do (with /proc/sys left
// writable) is denied.
func TestAppArmorDefaultProfile(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	const name = "rung-default"
	if _, ok := loadedProfiles(t)[name]; ok {
		t.Skip("rung-default is already loaded; not replacing it")
	}
	repo := tu.RepoRoot()
	if out, err := exec.Command("make", "-s", "-C", repo, "apparmor-default", "VERSION=guest").CombinedOutput(); err != nil {
		t.Fatalf("make apparmor-default: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		src := filepath.Join(repo, "plugins", "lsm", "apparmor", name)
		if out, err := exec.Command("apparmor_parser", "-R", src).CombinedOutput(); err != nil {
			t.Errorf("unload rung-default: %v\n%s", err, out)
		}
	})
	if mode := loadedProfiles(t)[name]; mode != "enforce" {
		t.Fatalf("after make apparmor-default, rung-default is %q in the kernel's list, want enforce", mode)
	}

	script := `cat /proc/self/attr/current; (echo renamed > /proc/sys/kernel/hostname) 2>/dev/null && echo write-ok || echo write-denied; hostname`
	writable := func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		var ro []string
		for _, p := range s.Linux.ReadonlyPaths {
			if p != "/proc/sys" {
				ro = append(ro, p)
			}
		}
		s.Linux.ReadonlyPaths = ro
	}
	confined := tu.ID(t) + "-confined"
	out := rt.RunOK(t, confined, tu.Bundle(t, func(s *specs.Spec) {
		writable(s)
		s.Process.ApparmorProfile = name
	}))
	if !strings.Contains(out, name+" (enforce)\n") || !strings.Contains(out, "write-denied\n") || strings.Contains(out, "renamed") {
		t.Errorf("under rung-default: want its label and the /proc/sys write denied, got %q", out)
	}
	free := tu.ID(t) + "-free"
	if out := rt.RunOK(t, free, tu.Bundle(t, writable)); !strings.Contains(out, "write-ok\nrenamed\n") {
		t.Errorf("without a profile the same write should work (the control case), got %q", out)
	}
	tu.CheckNoLeaks(t, snap, confined, free)
}

// `rung features` tells containerd what this machine has: AppArmor on, no
// SELinux (the guest boots with security=apparmor).
func TestFeaturesReportLSMs(t *testing.T) {
	requireAppArmor(t)
	rt, _ := setup(t)
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"features"}})
	if res.Exit != 0 {
		t.Fatalf("features: %s", res)
	}
	var f features.Features
	if err := json.Unmarshal([]byte(res.Stdout), &f); err != nil {
		t.Fatalf("features output: %v\n%s", err, res.Stdout)
	}
	if f.Linux == nil || f.Linux.Apparmor == nil || f.Linux.Apparmor.Enabled == nil || !*f.Linux.Apparmor.Enabled {
		t.Errorf("features: linux.apparmor.enabled should be true with AppArmor on: %s", res.Stdout)
	}
	if f.Linux != nil && f.Linux.Selinux != nil && f.Linux.Selinux.Enabled != nil && *f.Linux.Selinux.Enabled {
		t.Errorf("features: linux.selinux.enabled is true in a guest without SELinux: %s", res.Stdout)
	}
	if cg := f.Linux.Cgroup; cg == nil || cg.V2 == nil || !*cg.V2 {
		t.Errorf("features: linux.cgroup.v2 should be true: %s", res.Stdout)
	}
}

// withLSMConfig points rt at a copy of the operator config in force
// (RUNG_CONFIG, e.g. the guest's deadlines) whose lsm entry carries cfg as
// rung-lsm's own config block.
func withLSMConfig(t *testing.T, rt *tu.Runtime, cfg map[string]any) {
	t.Helper()
	doc := map[string]any{}
	if p := os.Getenv("RUNG_CONFIG"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("RUNG_CONFIG %s: %v", p, err)
			}
		}
	}
	plugins, _ := doc["plugins"].([]any)
	found := false
	for _, e := range plugins {
		if m, ok := e.(map[string]any); ok && m["stage"] == "lsm" {
			m["config"], found = cfg, true
		}
	}
	if !found {
		plugins = append(plugins, map[string]any{"stage": "lsm", "config": cfg})
	}
	doc["plugins"] = plugins
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rung.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rt.Env = append(rt.Env, "RUNG_CONFIG="+path)
}

// The operator's defaultAppArmorProfile (rung-lsm's config block) confines a
// container whose spec names no profile, also its exec'd processes; a
// profile in the spec wins; a default that is not loaded fails create
// naming the setting.
func TestAppArmorOperatorDefault(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	prof := "rung-guest-default-" + randHex(t)
	loadProfile(t, prof, "  deny /secret r,\n")
	withLSMConfig(t, rt, map[string]any{"defaultAppArmorProfile": prof})

	id := tu.ID(t)
	c := rt.Create(t, id, withSecret(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", readSecret + "; echo END; exec sleep 1000"}
	}))
	rt.Start(t, id)
	if out := c.WaitOutput(t, "END"); !strings.Contains(out, prof+" (enforce)\n") || strings.Contains(out, secret) {
		t.Errorf("spec without a profile under the operator default %s: got %q", prof, out)
	}
	if out := execIn(t, rt, id, "cat", "/proc/self/attr/current"); strings.TrimSpace(out) != prof+" (enforce)" {
		t.Errorf("exec into a container under the operator default: attr/current %q", out)
	}
	rt.MustDelete(t, id, true)

	own := tu.ID(t) + "-own"
	if out := rt.RunOK(t, own, withSecret(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", readSecret}
		s.Process.ApparmorProfile = "unconfined"
	})); !strings.Contains(out, "unconfined\n") || !strings.Contains(out, secret) {
		t.Errorf("spec asking for unconfined despite the operator default: got %q", out)
	}

	missing := "rung-guest-missing-" + randHex(t)
	withLSMConfig(t, rt, map[string]any{"defaultAppArmorProfile": missing})
	bad := tu.ID(t) + "-bad"
	_, res := rt.TryCreate(t, bad, tu.Bundle(t, tu.Args("true")), tu.CreateOpts{})
	if res.Exit == 0 {
		t.Fatalf("create under an unloaded operator default succeeded: %s", res)
	}
	if msg := strings.Join(res.Errors(), "; "); !strings.Contains(msg, "defaultAppArmorProfile") || !strings.Contains(msg, missing) {
		t.Errorf("error should name defaultAppArmorProfile and %s: %s", missing, res)
	}
	tu.CheckNoLeaks(t, snap, id, own, bad)
}

// CVE-2025-52881 and CVE-2019-19921, end to end: a bundle that redirects
// the init's AppArmor exec attribute (a bind mount over the attribute
// files, a tmpfs in place of procfs, a /proc symlink in the rootfs) must
// not get an unconfined container. Either create fails, or the container's
// process runs under the profile, as the guest's own procfs shows; and no
// decoy receives the label.
func TestAppArmorAttrRedirection(t *testing.T) {
	requireAppArmor(t)
	rt, snap := setup(t)
	prof := "rung-guest-redirect-" + randHex(t)
	loadProfile(t, prof, "")
	decoyDir := t.TempDir()
	decoy := func(name string) string {
		p := filepath.Join(decoyDir, name)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bindOver := func(src, dst string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"bind"}}
	}
	cases := []struct {
		name   string
		mutate func(s *specs.Spec, rootfs string)
	}{
		{"bind over attr files", func(s *specs.Spec, _ string) {
			s.Mounts = append(s.Mounts,
				bindOver(decoy("exec"), "/proc/self/attr/exec"),
				bindOver(decoy("apparmor-exec"), "/proc/self/attr/apparmor/exec"),
				bindOver(decoy("thread-exec"), "/proc/thread-self/attr/apparmor/exec"))
		}},
		{"tmpfs for procfs", func(s *specs.Spec, _ string) {
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/proc" {
					s.Mounts[i] = specs.Mount{Destination: "/proc", Type: "tmpfs", Source: "tmpfs"}
				}
			}
		}},
		// Nothing to redirect here, but nothing at /proc either: the label
		// must still be written, through the init's own procfs handle.
		{"no procfs in the container", func(s *specs.Spec, _ string) {
			var keep []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/proc" {
					keep = append(keep, m)
				}
			}
			s.Mounts = keep
		}},
		{"proc symlink in the rootfs", func(s *specs.Spec, rootfs string) {
			fake := filepath.Join(rootfs, "fakeproc")
			for _, d := range []string{"self/attr/apparmor", "thread-self/attr/apparmor"} {
				if err := os.MkdirAll(filepath.Join(fake, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			_ = os.Remove(filepath.Join(rootfs, "proc"))
			if err := os.Symlink("/fakeproc", filepath.Join(rootfs, "proc")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	var ids []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := tu.ID(t)
			ids = append(ids, id)
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				s.Process.Args = []string{"sh", "-c", "echo up; exec sleep 1000"}
				s.Process.ApparmorProfile = prof
				tc.mutate(s, rootfs)
			})
			c, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{})
			if res.Exit != 0 {
				t.Logf("create refused (safe): %s", strings.Join(res.Errors(), "; "))
				rt.Delete(t, id, true)
				return
			}
			rt.Start(t, id)
			c.WaitOutput(t, "up")
			if cur := readFile(t, "/proc/"+strconv.Itoa(c.Pid(t))+"/attr/current"); cur != prof+" (enforce)" {
				t.Errorf("the container runs as %q, want %q: the label write was redirected", cur, prof+" (enforce)")
			}
			rt.MustDelete(t, id, true)
		})
	}
	ents, _ := os.ReadDir(decoyDir)
	for _, e := range ents {
		if b := readFile(t, filepath.Join(decoyDir, e.Name())); b != "" {
			t.Errorf("decoy %s received %q", e.Name(), b)
		}
	}
	tu.CheckNoLeaks(t, snap, ids...)
}
