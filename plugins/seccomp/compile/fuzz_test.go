package compile

import (
	"encoding/json"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// FuzzCompile feeds linux.seccomp JSON through decode, Validate and Compile.
// Beyond never panicking: Validate and Compile agree, every error from
// Compile that Check did not predict names a field, and every program is one
// the kernel's checks accept and that runs to a return for any syscall.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16<<10 {
			return // libseccomp's time grows with the profile; big inputs only slow the fuzzer
		}
		var s specs.LinuxSeccomp
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		checkErrs := Check(&s, HostSupport())
		valErrs := Validate(&s)
		res, err := Compile(&s)
		if len(checkErrs) > 0 && err == nil {
			t.Fatalf("Check found %v but Compile succeeded", checkErrs)
		}
		if (len(valErrs) == 0) != (err == nil) {
			t.Fatalf("Validate = %v but Compile error = %v", valErrs, err)
		}
		for _, e := range valErrs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("field error without field or message: %+v", e)
			}
		}
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile error names no field: %v", err)
			}
			return
		}
		prog, err := decode(res.Program)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(prog); err != nil {
			t.Fatalf("program fails the kernel's checks: %v", err)
		}
		archs := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64}
		nrs := []int32{-1, 0, 1, 2, 59, 135, 435, 452, 1000, x32Bit | 1}
		vals := []uint64{0, 1, 0xffffffff, 1 << 32, ^uint64(0)}
		for _, a := range archs {
			for _, nr := range nrs {
				for _, v := range vals {
					d := seccompData{nr: nr, arch: a}
					for i := range d.args {
						d.args[i] = v
					}
					if _, err := run(prog, d); err != nil {
						t.Fatalf("arch %#x nr %d: %v", a, nr, err)
					}
				}
			}
		}
	})
}
