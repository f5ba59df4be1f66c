package plancheck

import (
	"strings"
	"testing"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// The host rmdirs what a Teardown names, so it takes only the cgroups the
// plan places the container in and their ancestors, as absolute, clean
// paths, and a bounded number of them.
func TestTeardown(t *testing.T) {
	many := make([]string, MaxTeardownDirs+1)
	for i := range many {
		many[i] = "/sys/fs/cgroup/x"
	}
	placed := []*stagev1.Action{{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{
		Path: "/sys/fs/cgroup/unified/rung/c1", V1Paths: []string{"/sys/fs/cgroup/pids/rung/c1", "/sys/fs/cgroup/c1", "sys/fs/cgroup/c1", "/sys/fs/cgroup/../c1", "/"}}}}}
	for _, tc := range []struct {
		name string
		td   *stagev1.Teardown
		want string // "" for accepted
	}{
		{"unset", nil, ""},
		{"cgroups and parents", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/pids/rung/c1", "/sys/fs/cgroup/unified/rung/c1"}, EmptyParents: []string{"/sys/fs/cgroup/unified/rung", "/sys/fs/cgroup/pids/rung"}}, ""},
		{"a cgroup not placed", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/pids/system.slice/other"}}, "not a cgroup the plan places"},
		{"a parent above nothing", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/pids/rung/c1"}, EmptyParents: []string{"/sys/fs/cgroup/pids/rung/c1", "/sys/fs/cgroup/memory"}}, "empty_parents[0]"},
		{"a parent that is a prefix only", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/pids/rung/c1"}, EmptyParents: []string{"/sys/fs/cgroup/pids/ru"}}, "above none"},
		{"no cgroup dirs", &stagev1.Teardown{EmptyParents: []string{"/sys/fs/cgroup/rung"}}, "no cgroup_dirs"},
		{"relative", &stagev1.Teardown{CgroupDirs: []string{"sys/fs/cgroup/c1"}}, "cgroup_dirs[0]"},
		{"dot-dot", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/c1", "/sys/fs/cgroup/../c1"}}, "cgroup_dirs[1]"},
		{"root", &stagev1.Teardown{CgroupDirs: []string{"/"}}, "cgroup_dirs[0]"},
		{"parent with NUL", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/c1"}, EmptyParents: []string{"/sys/fs\x00/cgroup"}}, "empty_parents[0]"},
		{"too many", &stagev1.Teardown{CgroupDirs: many}, "at most"},
	} {
		err := Teardown(tc.td, placed)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
