package lsmhost

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestAppArmorDetection(t *testing.T) {
	tests := []struct {
		name    string
		build   func(*fake) *fake
		enabled bool
		reason  string
	}{
		{"enabled", func(f *fake) *fake { return f.apparmorOn("") }, true, ""},
		{"no module", func(f *fake) *fake { return f }, false, "no AppArmor module"},
		{"module disabled", func(f *fake) *fake {
			return f.file(AppArmorParam, "N\n").mount("/sys/kernel/security", "securityfs").dir(AppArmorFS)
		}, false, "module is disabled"},
		{"securityfs not mounted", func(f *fake) *fake {
			return f.file(AppArmorParam, "Y\n").dir(SecurityFS)
		}, false, "securityfs is not mounted at /sys/kernel/security"},
		{"securityfs without apparmor", func(f *fake) *fake {
			return f.file(AppArmorParam, "Y\n").mount("/sys/kernel/security", "securityfs").dir(SecurityFS)
		}, false, "/sys/kernel/security/apparmor is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Detect(tc.build(newFake(t)).done())
			if h.AppArmor.Enabled != tc.enabled {
				t.Errorf("enabled = %v, want %v (reason %q)", h.AppArmor.Enabled, tc.enabled, h.AppArmor.Reason)
			}
			if tc.reason == "" && h.AppArmor.Reason != "" || !strings.Contains(h.AppArmor.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", h.AppArmor.Reason, tc.reason)
			}
			if ok, why := h.AppArmorEnabled(); ok != tc.enabled || why != h.AppArmor.Reason {
				t.Errorf("AppArmorEnabled() = %v, %q", ok, why)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	root := newFake(t).apparmorOn("rung-default (enforce)\n/usr/bin/man (complain)\nodd (name) (kill)\nunnamed\n").done()
	got, err := Detect(root).AppArmorProfiles()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rung-default": "enforce", "/usr/bin/man": "complain", "odd (name)": "kill", "unnamed": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profiles %v, want %v", got, want)
	}
	if _, err := Detect(newFake(t).done()).AppArmorProfiles(); err == nil {
		t.Error("profiles listed with AppArmor disabled")
	}
}

func TestSELinuxDetection(t *testing.T) {
	tests := []struct {
		name    string
		build   func(*fake) *fake
		enabled bool
		mount   string
		reason  string
	}{
		{"enabled", func(f *fake) *fake { return f.selinuxOn() }, true, "/sys/fs/selinux", ""},
		{"not mounted", func(f *fake) *fake { return f }, false, "", "selinuxfs is not mounted"},
		{"no enforce file", func(f *fake) *fake { return f.mount("/sys/fs/selinux", "selinuxfs").dir("sys/fs/selinux") }, false, "", "no enforce file"},
		{"elsewhere", func(f *fake) *fake { return f.mount("/selinux", "selinuxfs").file("selinux/enforce", "0") }, true, "/selinux", ""},
		{"a directory named selinux is not selinuxfs", func(f *fake) *fake { return f.file("sys/fs/selinux/enforce", "1") }, false, "", "not mounted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Detect(tc.build(newFake(t)).done())
			if h.SELinux.Enabled != tc.enabled || h.SELinux.Mount != tc.mount {
				t.Errorf("enabled=%v mount=%q, want %v %q (reason %q)", h.SELinux.Enabled, h.SELinux.Mount, tc.enabled, tc.mount, h.SELinux.Reason)
			}
			if !strings.Contains(h.SELinux.Reason, tc.reason) || (tc.reason == "" && h.SELinux.Reason != "") {
				t.Errorf("reason %q, want %q", h.SELinux.Reason, tc.reason)
			}
		})
	}
	h := Detect(t.TempDir()) // no mountinfo at all
	if h.SELinux.Enabled || !strings.Contains(h.SELinux.Reason, "cannot read") {
		t.Errorf("no mountinfo: %+v", h.SELinux)
	}
}

// On the real host the answer agrees with the files it is based on.
func TestDetectThisHost(t *testing.T) {
	h := Detect("/")
	param, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	st, err := os.Stat("/sys/kernel/security/apparmor")
	wantAA := bytes.HasPrefix(param, []byte("Y")) && err == nil && st.IsDir()
	if h.AppArmor.Enabled != wantAA {
		t.Errorf("AppArmor enabled = %v, want %v (reason %q)", h.AppArmor.Enabled, wantAA, h.AppArmor.Reason)
	}
	_, err = os.Stat(h.SELinux.Mount + "/enforce")
	if h.SELinux.Enabled && err != nil {
		t.Errorf("SELinux enabled but %s/enforce: %v", h.SELinux.Mount, err)
	}
	t.Logf("AppArmor %v (%s), SELinux %v (%s)", h.AppArmor.Enabled, h.AppArmor.Reason, h.SELinux.Enabled, h.SELinux.Reason)
}
