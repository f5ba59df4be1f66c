package plancheck

import (
	"strings"
	"testing"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// The host rmdirs what a Teardown names, so it takes only absolute, clean
// paths below the root, and a bounded number of them.
func TestTeardown(t *testing.T) {
	many := make([]string, MaxTeardownDirs+1)
	for i := range many {
		many[i] = "/sys/fs/cgroup/x"
	}
	for _, tc := range []struct {
		name string
		td   *stagev1.Teardown
		want string // "" for accepted
	}{
		{"unset", nil, ""},
		{"cgroups and parents", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/pids/rung/c1"}, EmptyParents: []string{"/sys/fs/cgroup/pids/rung"}}, ""},
		{"no cgroup dirs", &stagev1.Teardown{EmptyParents: []string{"/sys/fs/cgroup/rung"}}, "no cgroup_dirs"},
		{"relative", &stagev1.Teardown{CgroupDirs: []string{"sys/fs/cgroup/c1"}}, "cgroup_dirs[0]"},
		{"dot-dot", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/c1", "/sys/fs/cgroup/../c1"}}, "cgroup_dirs[1]"},
		{"root", &stagev1.Teardown{CgroupDirs: []string{"/"}}, "cgroup_dirs[0]"},
		{"parent with NUL", &stagev1.Teardown{CgroupDirs: []string{"/sys/fs/cgroup/c1"}, EmptyParents: []string{"/sys/fs\x00/cgroup"}}, "empty_parents[0]"},
		{"too many", &stagev1.Teardown{CgroupDirs: many}, "at most"},
	} {
		err := Teardown(tc.td)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
