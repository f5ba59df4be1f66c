package plan

import (
	"fmt"
	"strings"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
)

const devicesField = "linux.resources.devices"

// ruleString is a rule as devices.allow and devices.deny take it.
func ruleString(r devfilter.Rule) string {
	num := func(n int64) string {
		if n == devfilter.Wildcard {
			return "*"
		}
		return fmt.Sprint(n)
	}
	if r.Type == 'a' {
		return "a *:* rwm"
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

func deviceWrite(allow bool, r devfilter.Rule) Write {
	file := "devices.deny"
	if allow {
		file = "devices.allow"
	}
	return Write{Resource: devicesField, Field: devicesField, Controller: "devices", File: file, Value: ruleString(r)}
}

var all = devfilter.Rule{Type: 'a', Major: devfilter.Wildcard, Minor: devfilter.Wildcard, Access: "rwm"}

// DeviceWrites is runc's transition from the devices cgroup's current state
// to target: when both are allow lists only the difference is written, so
// a live update never denies, even briefly, a device that stays allowed.
// Otherwise the cgroup is reset with "a" and the exceptions follow (the
// kernel does not list the exceptions of an allow-all cgroup, so they
// cannot be diffed).
func DeviceWrites(cur, target devfilter.Filter) []Write {
	if cur.DefaultAllow || target.DefaultAllow {
		out := []Write{deviceWrite(target.DefaultAllow, all)}
		for _, e := range target.Exceptions {
			out = append(out, deviceWrite(e.Allow, e))
		}
		return out
	}
	type key struct {
		typ          byte
		major, minor int64
	}
	have := map[key]string{}
	for _, e := range cur.Exceptions {
		have[key{e.Type, e.Major, e.Minor}] = e.Access
	}
	want := map[key]string{}
	for _, e := range target.Exceptions {
		want[key{e.Type, e.Major, e.Minor}] = e.Access
	}
	var out []Write
	for _, e := range cur.Exceptions {
		if extra := without(e.Access, want[key{e.Type, e.Major, e.Minor}]); extra != "" {
			e.Access = extra
			out = append(out, deviceWrite(false, e))
		}
	}
	for _, e := range target.Exceptions {
		if missing := without(e.Access, have[key{e.Type, e.Major, e.Minor}]); missing != "" {
			e.Access = missing
			out = append(out, deviceWrite(true, e))
		}
	}
	return out
}

// without is the accesses of a that b lacks, in "rwm" order.
func without(a, b string) string {
	var sb strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(a, c) && !strings.ContainsRune(b, c) {
			sb.WriteRune(c)
		}
	}
	return sb.String()
}

// ParseDevicesList reads devices.list into the emulator's normal form, so
// that it compares with a target from Resources: "a *:* rwm" alone is
// allow-all; anything else is deny-all with the listed allow exceptions.
func ParseDevicesList(list string) (devfilter.Filter, error) {
	rules := []devfilter.Rule{{Type: 'a', Major: devfilter.Wildcard, Minor: devfilter.Wildcard, Access: "rwm"}}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || len(f[0]) != 1 {
			return devfilter.Filter{}, fmt.Errorf("devices.list line %q is not \"type major:minor access\"", line)
		}
		r := devfilter.Rule{Type: f[0][0], Access: f[2], Allow: true}
		maj, min, ok := strings.Cut(f[1], ":")
		if !ok {
			return devfilter.Filter{}, fmt.Errorf("devices.list line %q has no major:minor", line)
		}
		var err error
		if r.Major, err = deviceNumber(maj); err != nil {
			return devfilter.Filter{}, fmt.Errorf("devices.list line %q: %w", line, err)
		}
		if r.Minor, err = deviceNumber(min); err != nil {
			return devfilter.Filter{}, fmt.Errorf("devices.list line %q: %w", line, err)
		}
		rules = append(rules, r)
	}
	return devfilter.Emulate(rules)
}

func deviceNumber(s string) (int64, error) {
	if s == "*" {
		return devfilter.Wildcard, nil
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a device number", s)
	}
	return n, nil
}
