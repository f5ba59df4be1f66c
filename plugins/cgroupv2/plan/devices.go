package plan

import (
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	"github.com/rung-runtime/rung/sdk"
)

// DefaultDevices is runc's AllowedDevices: mknod of any device, the standard
// character devices, ptys and /dev/net/tun. Like runc, they are appended to
// every container's rules, after the spec's own, so (last match winning) a
// spec cannot take them away; containerd and CRI specs start with a deny-all
// rule and rely on this to keep /dev/null usable.
var DefaultDevices = []devfilter.Rule{
	{Type: 'c', Major: devfilter.Wildcard, Minor: devfilter.Wildcard, Access: "m", Allow: true},
	{Type: 'b', Major: devfilter.Wildcard, Minor: devfilter.Wildcard, Access: "m", Allow: true},
	{Type: 'c', Major: 1, Minor: 3, Access: "rwm", Allow: true},                    // /dev/null
	{Type: 'c', Major: 1, Minor: 8, Access: "rwm", Allow: true},                    // /dev/random
	{Type: 'c', Major: 1, Minor: 7, Access: "rwm", Allow: true},                    // /dev/full
	{Type: 'c', Major: 5, Minor: 0, Access: "rwm", Allow: true},                    // /dev/tty
	{Type: 'c', Major: 1, Minor: 5, Access: "rwm", Allow: true},                    // /dev/zero
	{Type: 'c', Major: 1, Minor: 9, Access: "rwm", Allow: true},                    // /dev/urandom
	{Type: 'c', Major: 136, Minor: devfilter.Wildcard, Access: "rwm", Allow: true}, // /dev/pts/*
	{Type: 'c', Major: 5, Minor: 2, Access: "rwm", Allow: true},                    // /dev/ptmx
	{Type: 'c', Major: 10, Minor: 200, Access: "rwm", Allow: true},                 // /dev/net/tun
}

// DeviceRules converts linux.resources.devices into filter rules, appends
// DefaultDevices, and checks that the emulated result is one the filter can
// express (no hole punched in a wildcard allow, as runc refuses too).
func DeviceRules(list []specs.LinuxDeviceCgroup) ([]devfilter.Rule, []sdk.FieldError) {
	var errs []sdk.FieldError
	rules := make([]devfilter.Rule, 0, len(list)+len(DefaultDevices))
	for i, d := range list {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := devfilter.Rule{Major: devfilter.Wildcard, Minor: devfilter.Wildcard, Allow: d.Allow}
		switch d.Type {
		case "", "a":
			r.Type = 'a'
		case "b", "c":
			r.Type = d.Type[0]
		default:
			errs = append(errs, sdk.FieldError{Field: field + ".type", Message: fmt.Sprintf("%q is not a device cgroup type (a, b or c)", d.Type)})
			continue
		}
		bad := false
		for _, n := range []struct {
			name string
			v    *int64
			out  *int64
		}{{"major", d.Major, &r.Major}, {"minor", d.Minor, &r.Minor}} {
			if n.v == nil {
				continue
			}
			if *n.v < -1 || *n.v > math.MaxUint32 {
				errs = append(errs, sdk.FieldError{Field: field + "." + n.name, Message: fmt.Sprintf("%d is not a device number (or -1 for any)", *n.v)})
				bad = true
				continue
			}
			*n.out = *n.v
		}
		if d.Access == "" {
			errs = append(errs, sdk.FieldError{Field: field + ".access", Message: "must not be empty; use some of \"rwm\""})
			continue
		}
		if strings.Trim(d.Access, "rwm") != "" {
			errs = append(errs, sdk.FieldError{Field: field + ".access", Message: fmt.Sprintf("%q has letters other than r, w and m", d.Access)})
			continue
		}
		if bad {
			continue
		}
		r.Access = d.Access
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	rules = append(rules, DefaultDevices...)
	if _, err := devfilter.Emulate(rules); err != nil {
		return nil, []sdk.FieldError{{Field: "linux.resources.devices", Message: err.Error()}}
	}
	return rules, nil
}
