package integration

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/sdk"
	tu "github.com/rung-runtime/rung/tests/testutil"
)

// warmPlugins maps the pid of every warm plugin listening in the pool's
// directory to its binary; sockets, if given, gets each one's socket.
func warmPlugins(t *testing.T, sockets ...map[int]string) map[int]string {
	t.Helper()
	socks, _ := filepath.Glob("/dev/shm/rung-plugins/warm-*.sock")
	out := map[int]string{}
	for _, s := range socks {
		c, err := net.Dial("unix", s)
		if err != nil {
			continue
		}
		cred, err := sdk.PeerCred(c)
		c.Close()
		if err != nil {
			continue
		}
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(int(cred.Pid)) + "/exe")
		out[int(cred.Pid)] = exe
		for _, m := range sockets {
			m[int(cred.Pid)] = s
		}
	}
	return out
}

// With the warm pool on, each stage's plugin is one process that serves
// every command, and each container is still held to what the stages do:
// the seccomp plugin's filter, the cgroups plugin's pids limit, the
// namespaces plugin's UTS namespace, proven from inside two containers.
func TestWarmPoolServesContainersWithTheirEffects(t *testing.T) {
	tu.RequireRung(t, "the warm plugin pool")
	rt, snap := setup(t)
	// Plugins of this test's own directory: warm plugins are keyed by
	// their binary's path, so these are this test's alone.
	dirEnv := pluginDir(t, "", "")
	dir := strings.TrimPrefix(dirEnv, "RUNG_PLUGIN_DIR=")
	rt.Env = append(rt.Env, dirEnv, "RUNG_PLUGIN_POOL=30s", "RUNG_DEBUG=1")
	ours := func(socks ...map[int]string) map[int]string {
		out := map[int]string{}
		for pid, exe := range warmPlugins(t, socks...) {
			if strings.HasPrefix(exe, dir+"/") {
				out[pid] = exe
			}
		}
		return out
	}
	stop := func() {
		socks := map[int]string{}
		for pid := range ours(socks) {
			_ = unix.Kill(pid, unix.SIGKILL)
			_ = os.Remove(socks[pid])
			for i := 0; i < 200 && unix.Kill(pid, 0) == nil && !zombie(pid); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	t.Cleanup(stop)
	enosys := uint(38)
	limit := int64(8)
	script := `mkdir /tmp/x; (for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait) && echo forks-ok; hostname`
	var served []map[int]string
	var ids []string
	for i := 0; i < 2; i++ {
		id := tu.ID(t)
		ids = append(ids, id)
		host := "warm" + strconv.Itoa(i)
		bundle := tu.Bundle(t, func(s *specs.Spec) {
			seccompBundleSpec(s, script, &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &enosys}},
			})
			s.Hostname = host
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
		})
		res := rt.TryRun(t, id, bundle)
		if res.Exit != 0 || !strings.Contains(res.Stderr, "Function not implemented") {
			t.Errorf("container %d: mkdir under the warm seccomp plugin's ERRNO(38): %s", i, res)
		}
		if strings.Contains(res.Stdout, "forks-ok") || !strings.Contains(res.Stderr, "can't fork") {
			t.Errorf("container %d: 10 forks under the warm cgroups plugin's pids limit %d: %s", i, limit, res)
		}
		if !strings.HasSuffix(strings.TrimSpace(res.Stdout), host) {
			t.Errorf("container %d: hostname from the warm namespaces plugin: %s", i, res)
		}
		served = append(served, ours())
	}
	if len(served[0]) != len(tu.PluginBins(t)) || !reflect.DeepEqual(served[0], served[1]) {
		log, _ := os.ReadFile(rt.Log)
		t.Logf("runtime log:\n%s", log)
		t.Errorf("warm plugins after the first container %v, after the second %v: want one per stage, the same ones", served[0], served[1])
	}
	// The warm plugins outlive every container by design; they are this
	// test's, and go before the leak check.
	stop()
	tu.CheckNoLeaks(t, snap, ids...)
}

func zombie(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(st), ") Z ")
}
