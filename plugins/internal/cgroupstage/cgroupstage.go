// Package cgroupstage holds what the two cgroups-stage plugins,
// rung-cgroupv2 and rung-cgroupv1, do alike before any cgroup file is
// touched: reading the cgroup parts of a spec, turning FieldErrors into
// one error, and checking hugepageLimits against the page sizes a host
// has. Keeping it in one place means a spec is judged the same way on
// either kind of host.
package cgroupstage

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk"
)

// Description is what a cgroups-stage plugin says of itself: both own the
// same stage and the same spec fields, and differ in name and in the
// linux.cgroup features they report.
func Description(name, version string, features json.RawMessage) sdk.Description {
	return sdk.Description{
		Name:     name,
		Version:  version,
		Stage:    "cgroups",
		Handles:  []string{"linux.cgroupsPath", "linux.resources"},
		Features: features,
	}
}

// ResourcesOf is the spec's linux.resources, nil where the spec has none.
func ResourcesOf(sp *specs.Spec) *specs.LinuxResources {
	if sp == nil || sp.Linux == nil {
		return nil
	}
	return sp.Linux.Resources
}

// CgroupsPathOf is the spec's linux.cgroupsPath, "" where the spec has none.
func CgroupsPathOf(sp *specs.Spec) string {
	if sp == nil || sp.Linux == nil {
		return ""
	}
	return sp.Linux.CgroupsPath
}

// FieldErrors joins errs into one error, for the calls (Prepare, Update)
// that cannot return a list; each keeps its field in the message.
func FieldErrors(errs []sdk.FieldError) error {
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// CheckPageSizes refuses each page size of sizes (page size → the field
// it comes from, as the plans' PageSizes give it) that is not in have,
// the sizes the host supports in the order the message lists them. The
// errors come in page-size order, so that a spec always gets the same
// list.
func CheckPageSizes(sizes map[string]string, have []string) []sdk.FieldError {
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []sdk.FieldError
	for _, size := range names {
		if !slices.Contains(have, size) {
			errs = append(errs, sdk.FieldError{Field: sizes[size] + ".pageSize",
				Message: fmt.Sprintf("huge page size %s is not supported here (have: %s)", size, strings.Join(have, ", "))})
		}
	}
	return errs
}

// Teardown is a Prepare's answer for what its Destroy would remove once the
// container's processes are gone: the cgroups made at leaves, then parents,
// given outermost first as the drivers made and remove them (RemoveIfEmpty
// walks them backwards), and handed to the host innermost first.
func Teardown(leaves, parents []string) *sdk.Teardown {
	inner := slices.Clone(parents)
	slices.Reverse(inner)
	return &sdk.Teardown{CgroupDirs: leaves, EmptyParents: inner}
}
