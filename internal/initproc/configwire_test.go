package initproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// How filler sets the leaves of what it fills.
const (
	// Every leaf non-zero and distinct (strings name their field), bools
	// true: a field the codec drops or mixes up with another shows.
	fillDistinct = iota
	// The same with bools alternating and integers at the far end of their
	// range (negative when signed): a bool or a varint read as its
	// neighbour, or truncated, shows.
	fillExtreme
	// Pointers set, lists of one item, every leaf zero: presence survives
	// even with nothing behind it.
	fillZeroLeaves
)

// filler sets every exported field of a value by reflection, so that a
// field a new runtime-spec adds to a type the init's spec carries is set
// without anyone writing it here.
type filler struct {
	t    testing.TB
	mode int
	n    int
	seen map[reflect.Type]bool
}

var specType = reflect.TypeFor[*specs.Spec]()

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	zero := f.mode == fillZeroLeaves
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!zero && (f.mode != fillExtreme || f.n%2 == 0))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := int64(f.n)
		if f.mode == fillExtreme {
			x = -1 << (v.Type().Bits() - 1)
			x += int64(f.n)
		}
		if v.OverflowInt(x) {
			x = int64(f.n%100 + 1)
		}
		if zero {
			x = 0
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x := uint64(f.n)
		if f.mode == fillExtreme {
			x = 1<<v.Type().Bits() - 1 - uint64(f.n)
		}
		if v.OverflowUint(x) {
			x = uint64(f.n%200 + 1)
		}
		if zero {
			x = 0
		}
		v.SetUint(x)
	case reflect.String:
		if !zero {
			v.SetString(fmt.Sprintf("%s=%d", path, f.n))
		}
	case reflect.Slice:
		n := 2
		if zero {
			n = 1
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			f.t.Fatalf("%s: cannot fill a map keyed by %s", path, v.Type().Key())
		}
		n := 2
		if zero {
			n = 1
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		for i := range n {
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString(fmt.Sprintf("%s.key%d", path, i))
			if zero {
				k.SetString("")
			}
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, fmt.Sprintf("%s[%q]", path, k.String()))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if v.Type() == specType {
			// The spec as the host has it: every field the init's spec
			// carries, and stage-only parts the codec must leave behind.
			var w initSpec
			f.fill(reflect.ValueOf(&w).Elem(), path)
			s := w.spec()
			s.Annotations = map[string]string{"stage": "only"}
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: new(int64(9))}}
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"}
			s.Linux.CgroupsPath = "/stage/only"
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
			s.Windows = &specs.Windows{}
			v.Set(reflect.ValueOf(s))
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		f.seen[v.Type()] = true
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				f.t.Fatalf("%s.%s is unexported: the test cannot fill it, nor the codec read it", path, sf.Name)
			}
			f.fill(v.Field(i), path+"."+sf.Name)
		}
	default:
		f.t.Fatalf("%s: cannot fill a %s; does configwire.go carry it?", path, v.Kind())
	}
}

// diffs lists the paths where got differs from want, down to the leaves.
func diffs(path string, want, got reflect.Value) []string {
	switch want.Kind() {
	case reflect.Pointer:
		if want.IsNil() != got.IsNil() {
			return []string{path}
		}
		if want.IsNil() {
			return nil
		}
		return diffs(path, want.Elem(), got.Elem())
	case reflect.Struct:
		var out []string
		for i := range want.NumField() {
			out = append(out, diffs(path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))...)
		}
		return out
	case reflect.Slice:
		if want.Len() != got.Len() || want.IsNil() != got.IsNil() {
			return []string{path}
		}
		var out []string
		for i := range want.Len() {
			out = append(out, diffs(fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))...)
		}
		return out
	}
	if !reflect.DeepEqual(want.Interface(), got.Interface()) {
		return []string{path}
	}
	return nil
}

func roundTrip(t *testing.T, c *Config) Config {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("decoding what was encoded: %v", err)
	}
	again, _ := got.MarshalBinary()
	if !bytes.Equal(again, b) {
		t.Error("re-encoding a decoded config gives other bytes")
	}
	return got
}

// Every field of Config, and of the spec what toInitSpec keeps, comes back
// from the binary form; a field added to any of these types (by us or by a
// new runtime-spec) fails here until configwire.go carries it.
func TestConfigWireCarriesEveryField(t *testing.T) {
	for _, mode := range []int{fillDistinct, fillExtreme, fillZeroLeaves} {
		f := &filler{t: t, mode: mode, seen: map[reflect.Type]bool{}}
		var c Config
		f.fill(reflect.ValueOf(&c).Elem(), "Config")
		c.Build = BuildID()
		want := c
		want.Spec = toInitSpec(c.Spec).spec()
		got := roundTrip(t, &c)
		d := diffs("Config", reflect.ValueOf(want), reflect.ValueOf(got))
		for _, d := range d {
			t.Errorf("field %s not carried by the init's binary config; add it to configwire.go (fill mode %d)", d, mode)
		}
		if len(d) == 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("fill mode %d: round trip differs:\n got %+v\nwant %+v", mode, got, want)
		}
		if got.Spec.Annotations != nil || got.Spec.Linux.Resources != nil || got.Spec.Linux.CgroupsPath != "" ||
			got.Spec.Linux.UIDMappings != nil || got.Spec.Windows != nil {
			t.Errorf("stage-only parts of the spec reached the init: %+v", got.Spec)
		}
		for _, typ := range []reflect.Type{
			reflect.TypeFor[Config](), reflect.TypeFor[initSpec](), reflect.TypeFor[initLinux](),
			reflect.TypeFor[specs.Process](), reflect.TypeFor[specs.User](), reflect.TypeFor[specs.Box](),
			reflect.TypeFor[specs.POSIXRlimit](), reflect.TypeFor[specs.LinuxCapabilities](),
			reflect.TypeFor[specs.Scheduler](), reflect.TypeFor[specs.LinuxIOPriority](),
			reflect.TypeFor[specs.CPUAffinity](), reflect.TypeFor[specs.Root](), reflect.TypeFor[specs.Mount](),
			reflect.TypeFor[specs.LinuxIDMapping](), reflect.TypeFor[specs.Hooks](), reflect.TypeFor[specs.Hook](),
			reflect.TypeFor[specs.LinuxNamespace](), reflect.TypeFor[specs.LinuxDevice](),
			reflect.TypeFor[specs.State](), reflect.TypeFor[Plan](), reflect.TypeFor[Seccomp](),
			reflect.TypeFor[ProcAttr](), reflect.TypeFor[Landlock](), reflect.TypeFor[LandlockRule](),
		} {
			if !f.seen[typ] {
				t.Errorf("the fill never reached %s", typ)
			}
		}
	}
}

// Nil pointers stay nil, set ones stay set however empty.
func TestConfigWireZeroValues(t *testing.T) {
	for _, c := range []Config{
		{Build: BuildID()},
		{Build: BuildID(), Spec: &specs.Spec{}, State: &specs.State{}},
		{Build: BuildID(), Spec: &specs.Spec{Process: &specs.Process{}, Root: &specs.Root{}, Hooks: &specs.Hooks{}, Linux: &specs.Linux{}}},
	} {
		want := c
		want.Spec = toInitSpec(c.Spec).spec()
		if got := roundTrip(t, &c); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	// Empty lists and maps come back nil: the init tests them with len.
	c := Config{Build: BuildID(), Spec: &specs.Spec{Process: &specs.Process{Args: []string{}}}, State: &specs.State{Annotations: map[string]string{}}}
	got := roundTrip(t, &c)
	if got.Spec.Process.Args != nil || got.State.Annotations != nil {
		t.Errorf("empty became %#v, %#v", got.Spec.Process.Args, got.State.Annotations)
	}
}

func validConfigBytes(t testing.TB) []byte {
	f := &filler{t: t, seen: map[reflect.Type]bool{}}
	var c Config
	f.fill(reflect.ValueOf(&c).Elem(), "Config")
	c.Build = BuildID()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An init of another build names both builds, whatever follows Build.
func TestConfigWireOtherBuild(t *testing.T) {
	e := &enc{b: []byte(configMagic)}
	e.str("v0.1.0/init-wire-9")
	garbage := append(e.b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x42)
	check := func(err error, host string) {
		t.Helper()
		var other *otherBuildError
		if !errors.As(err, &other) || !strings.Contains(err.Error(), "install rung and rung-init from one build") ||
			!strings.Contains(err.Error(), fmt.Sprintf("rung as %q", host)) || !strings.Contains(err.Error(), BuildID()) {
			t.Errorf("another build's config: %v", err)
		}
	}
	var c Config
	check(c.UnmarshalBinary(garbage), "v0.1.0/init-wire-9")
	check(ReadConfig(bytes.NewReader(frame(garbage)), &c), "v0.1.0/init-wire-9")
	// A rung from before the binary form sends JSON.
	old := `{"build":"v0.1.0/init-wire-3","id":"c","spec":{"ociVersion":"1.3.0"}}`
	check(ReadConfig(bytes.NewReader(frame([]byte(old))), &c), "v0.1.0/init-wire-3")
}

// Every cut of a valid config, and a byte too many, is refused with an
// error that says where, never a panic; no byte changed makes it panic.
func TestConfigWireTruncatedAndGarbage(t *testing.T) {
	b := validConfigBytes(t)
	var c Config
	for i := range b {
		err := c.UnmarshalBinary(b[:i])
		if err == nil {
			t.Fatalf("a config cut at %d of %d bytes decoded", i, len(b))
		}
		if !strings.HasPrefix(err.Error(), "init config: ") {
			t.Fatalf("cut at %d: %v", i, err)
		}
		if !reflect.DeepEqual(c, Config{}) {
			t.Fatalf("cut at %d: a failed decode left %+v", i, c)
		}
	}
	if err := c.UnmarshalBinary(append(b, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	mut := bytes.Clone(b)
	for i := range mut {
		for _, x := range []byte{0x00, 0x02, 0x7f, 0x80, 0xff} {
			old := mut[i]
			mut[i] = x
			_ = c.UnmarshalBinary(mut)
			mut[i] = old
		}
	}
}

// A declared length or count the bytes cannot back is refused before
// anything is allocated for it.
func TestConfigWireHugeLengths(t *testing.T) {
	prefix := func() *enc {
		e := &enc{b: []byte(configMagic)}
		e.str(BuildID())
		return e
	}
	hugeString := prefix()
	hugeString.uvarint(1 << 60) // id
	hugeList := prefix()
	hugeList.str("id")
	hugeList.str("/b")
	hugeList.str("/r")
	hugeList.bool(true)         // spec
	hugeList.str("1.3.0")       // ociVersion
	hugeList.bool(false)        // process
	hugeList.bool(false)        // root
	hugeList.str("")            // hostname
	hugeList.str("")            // domainname
	hugeList.uvarint(1<<31 - 1) // mounts
	hugeList.b = append(hugeList.b, make([]byte, 64)...)
	overflow := prefix()
	overflow.b = append(overflow.b, bytes.Repeat([]byte{0xff}, 11)...)
	for name, b := range map[string][]byte{"string": hugeString.b, "list": hugeList.b, "varint": overflow.b} {
		var c Config
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := c.UnmarshalBinary(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("%s: allocated %d bytes for a %d-byte input", name, grew, len(b))
		}
		t.Logf("%s: %v", name, err)
	}
	// The frame's own length is bounded as every frame's.
	r := &limitReader{r: bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})}
	var c Config
	if err := ReadConfig(r, &c); err == nil || r.largest > MaxFrame {
		t.Errorf("frame of 4 GB: %v, read into %d bytes", err, r.largest)
	}
}

func typicalConfig(tb testing.TB) *Config {
	data, err := os.ReadFile("testdata/config.json") // `rung spec`'s
	if err != nil {
		tb.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		tb.Fatal(err)
	}
	return &Config{Build: BuildID(), ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Spec: &s, FifoFd: 3, NewPidNS: true, NewUTS: true,
		State: &specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 4242, Bundle: "/b"}}
}

// The warm decode; what matters is the cold one, in a fresh init, which
// has no caches to build.
func BenchmarkConfigDecode(b *testing.B) {
	data, err := typicalConfig(b).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c Config
		if err := c.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
