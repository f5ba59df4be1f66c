package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// rights names each filesystem access right as go-landlock and the kernel
// documentation do.
var rights = map[string]uint64{
	"execute": ll.AccessFSExecute, "write_file": ll.AccessFSWriteFile, "read_file": ll.AccessFSReadFile,
	"read_dir": ll.AccessFSReadDir, "remove_dir": ll.AccessFSRemoveDir, "remove_file": ll.AccessFSRemoveFile,
	"make_char": ll.AccessFSMakeChar, "make_dir": ll.AccessFSMakeDir, "make_reg": ll.AccessFSMakeReg,
	"make_sock": ll.AccessFSMakeSock, "make_fifo": ll.AccessFSMakeFifo, "make_block": ll.AccessFSMakeBlock,
	"make_sym": ll.AccessFSMakeSym, "refer": ll.AccessFSRefer, "truncate": ll.AccessFSTruncate,
	"ioctl_dev": ll.AccessFSIoctlDev, "resolve_unix": ll.AccessFSResolveUnix,
}

// minABI is the Landlock ABI version that first handles a right.
var minABI = map[uint64]int{ll.AccessFSRefer: 2, ll.AccessFSTruncate: 3, ll.AccessFSIoctlDev: 5, ll.AccessFSResolveUnix: 9}

const (
	readOnly = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir
	all      = 1<<17 - 1
)

// access is a set of rights: "ro", "rw" or a list of right names.
type access uint64

func (a *access) UnmarshalJSON(b []byte) error {
	var group string
	if json.Unmarshal(b, &group) == nil {
		switch group {
		case "ro":
			*a = readOnly
		case "rw":
			*a = all
		default:
			return fmt.Errorf("access %q: use \"ro\", \"rw\" or a list of rights", group)
		}
		return nil
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("access: use \"ro\", \"rw\" or a list of rights")
	}
	for _, n := range names {
		r, ok := rights[n]
		if !ok {
			return fmt.Errorf("access: unknown right %q", n)
		}
		*a |= access(r)
	}
	return nil
}

// rule allows access beneath one path of the container.
type rule struct {
	Path   string `json:"path"`
	Access access `json:"access"`
}

// config is the plugin's block in the operator's rung config.
type config struct {
	// Rules apply to every container; empty means none but the ones a
	// container's annotation gives itself.
	Rules []rule `json:"rules"`
	// Handled is what the ruleset restricts; empty: every right the
	// kernel knows, so whatever the rules do not allow is denied.
	Handled access `json:"handled"`
}

// rulesAnnotation lets a container confine itself further: a JSON list of
// rules, enforced on top of the operator's (Landlock rulesets stack, so it
// can only take access away).
const rulesAnnotation = "io.github.rung-runtime.landlock.rules"

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parseConfig(raw []byte) (config, error) {
	var c config
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	if err := strictJSON(raw, &c); err != nil {
		return c, fmt.Errorf("landlock config: %w", err)
	}
	if err := checkRules(c.Rules); err != nil {
		return c, fmt.Errorf("landlock config: %w", err)
	}
	return c, nil
}

func parseAnnotation(v string) ([]rule, error) {
	var rs []rule
	if err := strictJSON([]byte(v), &rs); err != nil {
		return nil, fmt.Errorf("a JSON list of {\"path\", \"access\"} rules: %w", err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("an empty list would deny the container every file")
	}
	return rs, checkRules(rs)
}

func checkRules(rs []rule) error {
	for i, r := range rs {
		if !filepath.IsAbs(r.Path) || filepath.Clean(r.Path) != r.Path {
			return fmt.Errorf("rules[%d]: path %q is not a clean absolute path in the container", i, r.Path)
		}
		if r.Access == 0 {
			return fmt.Errorf("rules[%d] (%s): no access rights", i, r.Path)
		}
	}
	return nil
}

// needsABI is the oldest Landlock ABI that handles every right in a.
func needsABI(a uint64) int {
	v := 1
	for r, abi := range minABI {
		if a&r != 0 && abi > v {
			v = abi
		}
	}
	return v
}

func ruleset(rs []rule, handled uint64) *stagev1.Landlock {
	l := &stagev1.Landlock{HandledAccessFs: handled}
	for _, r := range rs {
		l.Rules = append(l.Rules, &stagev1.LandlockPathRule{Path: r.Path, AllowedAccess: uint64(r.Access)})
	}
	return l
}
