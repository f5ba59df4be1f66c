package security

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// delete signals only processes that are still the ones it recorded. The
// bootstrap exits during create and its pid is anyone's afterwards: a
// created container records none, and a recorded pid that another process
// has taken (its start time differs) is left alone, as is a creator pid
// reused the same way.
func TestDeleteSpareReusedPids(t *testing.T) {
	tu.RequireRung(t, "rung's state records")
	rt := tu.NewRuntime(t)
	snap := tu.Snapshot()
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "60")))
	path := filepath.Join(rt.Root, id, "state.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bootstrapPid", "creatorPid"} {
		if v, ok := rec[k]; ok {
			t.Errorf("a created container still records %s %v", k, v)
		}
	}
	// A bystander that "got" the bootstrap's and the creator's pids.
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer victim.Process.Kill()
	rec["bootstrapPid"], rec["bootstrapStartTime"] = victim.Process.Pid, 1
	rec["creatorPid"], rec["creatorStartTime"], rec["status"] = victim.Process.Pid, 1, "creating"
	data, _ = json.Marshal(rec)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := rt.Delete(t, id, true); res.Exit != 0 {
		t.Fatalf("delete --force: %s", res)
	}
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("delete killed pid %d, recorded as the bootstrap and creator but started later: %v", victim.Process.Pid, err)
	}
	if st, _ := os.ReadFile("/proc/" + strconv.Itoa(victim.Process.Pid) + "/stat"); strings.Contains(string(st), ") Z ") {
		t.Errorf("the bystander was killed")
	}
	tu.CheckNoLeaks(t, snap, id)
}
