package compile

import (
	"bytes"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The same profile is compiled once; any difference in it is a new compile,
// and a profile that fails keeps failing the same way.
func TestCompiledKeepsAnswersPerProfile(t *testing.T) {
	s := mobyToOCI(t, "testdata/moby-default.json")
	first, err := Compiled(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Compiled(mobyToOCI(t, "testdata/moby-default.json"))
	if err != nil || again != first {
		t.Fatalf("an equal profile was compiled again (%p, %p, %v)", first, again, err)
	}
	direct, err := Compile(s)
	if err != nil || !bytes.Equal(direct.Program, first.Program) {
		t.Fatalf("the kept program differs from a fresh compile (%v)", err)
	}

	changed := mobyToOCI(t, "testdata/moby-default.json")
	changed.Syscalls = append(changed.Syscalls, specs.LinuxSyscall{Names: []string{"reboot"}, Action: specs.ActKill})
	other, err := Compiled(changed)
	if err != nil {
		t.Fatal(err)
	}
	if other == first || bytes.Equal(other.Program, first.Program) {
		t.Fatal("a profile with one more rule got the first profile's program")
	}

	bad := &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}
	_, err1 := Compiled(bad)
	_, err2 := Compiled(bad)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("a refused profile: %v, then %v", err1, err2)
	}
}
