package launcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func inputDigest(t *testing.T, spec string, inputs ...string) (string, bool) {
	t.Helper()
	h := sha256.New()
	ok := writeInputs(h, []byte(spec), inputs)
	return hex.EncodeToString(h.Sum(nil)), ok
}

// The digest follows the values at the inputs alone: the container's id,
// bundle and every other field may differ.
func TestInputDigestIgnoresOtherFields(t *testing.T) {
	in := []string{"linux.seccomp", "hostname?"}
	a, okA := inputDigest(t, `{"hostname":"a","process":{"args":["sh"]},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"},"cgroupsPath":"/x"}}`, in...)
	b, okB := inputDigest(t, `{"linux":{"cgroupsPath":"/y","seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}},"hostname":"b","process":{"args":["true"]}}`, in...)
	if !okA || !okB || a != b {
		t.Fatalf("equal inputs gave digests %s (%v) and %s (%v)", a, okA, b, okB)
	}
}

func TestInputDigestTellsValuesApart(t *testing.T) {
	base := `{"hostname":"a","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`
	in := []string{"linux.seccomp", "hostname?"}
	want, _ := inputDigest(t, base, in...)
	for name, spec := range map[string]string{
		"another profile":          `{"hostname":"a","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"}}}`,
		"no profile":               `{"hostname":"a","linux":{}}`,
		"null profile":             `{"hostname":"a","linux":{"seccomp":null}}`,
		"no hostname":              `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`,
		"empty hostname":           `{"hostname":"","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`,
		"profile spaced otherwise": `{"hostname":"a","linux":{"seccomp":{ "defaultAction":"SCMP_ACT_ALLOW"}}}`,
	} {
		got, ok := inputDigest(t, spec, in...)
		if !ok || got == want {
			t.Errorf("%s: digest %s (ok %v), the same as the base's", name, got, ok)
		}
	}
}

// A missing parent and an empty one can mean different things to a plugin
// (the namespaces stage checks nothing without "linux"): the digest says
// at which depth the path ended.
func TestInputDigestMissingDepth(t *testing.T) {
	none, _ := inputDigest(t, `{"hostname":"h"}`, "linux.namespaces")
	empty, _ := inputDigest(t, `{"hostname":"h","linux":{}}`, "linux.namespaces")
	null, _ := inputDigest(t, `{"hostname":"h","linux":null}`, "linux.namespaces")
	if none == empty || none != null {
		t.Fatalf("absent linux %s, null linux %s, empty linux %s", none, null, empty)
	}
}

func TestInputDigestPresenceOnly(t *testing.T) {
	set1, _ := inputDigest(t, `{"linux":{"maskedPaths":["/proc/kcore"]}}`, "linux.maskedPaths?")
	set2, _ := inputDigest(t, `{"linux":{"maskedPaths":["/a","/b"]}}`, "linux.maskedPaths?")
	unset1, _ := inputDigest(t, `{"linux":{"maskedPaths":[]}}`, "linux.maskedPaths?")
	unset2, _ := inputDigest(t, `{"linux":{"maskedPaths":[ ]}}`, "linux.maskedPaths?")
	if set1 != set2 || unset1 != unset2 || set1 == unset1 {
		t.Fatalf("set %s %s, unset %s %s", set1, set2, unset1, unset2)
	}
}

// The plugin's decoder takes "Hostname" for "hostname", and merges or
// replaces a key given twice: such a spec is never served from a kept
// answer, at any depth of a path.
func TestInputDigestRefusesWhatTheDecoderReadsOtherwise(t *testing.T) {
	in := []string{"hostname?", "linux.seccomp", "linux.maskedPaths?"}
	for name, spec := range map[string]string{
		"case variant":          `{"Hostname":"h","linux":{}}`,
		"kelvin sign":           `{"linux":{"mas\u212aedPaths":["/x"]}}`,
		"case variant below":    `{"linux":{"Seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`,
		"twice":                 `{"hostname":"h","hostname":""}`,
		"parent twice":          `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"}},"linux":{}}`,
		"parent in other case":  `{"LINUX":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"}}}`,
		"escaped variant":       `{"hostnam\u0065":"h","hostname":"i"}`,
		"not an object":         `[1]`,
		"parent not an object":  `{"linux":[1]}`,
		"truncated":             `{"linux":{"seccomp":`,
		"seccomp twice in case": `{"linux":{"seccomp":{},"sEccomp":{}}}`,
	} {
		if d, ok := inputDigest(t, spec, in...); ok {
			t.Errorf("%s: %s gave digest %s, want refused", name, spec, d)
		}
	}
	// Where the decoder could not confuse them, unrelated keys in another
	// case are fine.
	if _, ok := inputDigest(t, `{"Process":{},"hostname":"h","linux":{"Sysctl":{}}}`, in...); !ok {
		t.Error("unrelated case variants refused")
	}
}

// Annotation keys have dots, and a map's keys are matched exactly.
func TestInputDigestAnnotations(t *testing.T) {
	in := "annotations.org.example.rules"
	a, okA := inputDigest(t, `{"annotations":{"org.example.rules":"x","org.example.Rules":"y"}}`, in)
	b, okB := inputDigest(t, `{"annotations":{"org.example.rules":"x"}}`, in)
	c, _ := inputDigest(t, `{"annotations":{"org.example.rules":"z"}}`, in)
	if !okA || !okB || a != b || a == c {
		t.Fatalf("digests %s (%v) %s (%v) %s", a, okA, b, okB, c)
	}
	if _, ok := inputDigest(t, `{"annotations":{"org.example.rules":"x","org.example.rules":"y"}}`, in); ok {
		t.Fatal("an annotation given twice was not refused")
	}
}

func TestCheckPlanInputs(t *testing.T) {
	if err := CheckPlanInputs([]string{"linux.seccomp", "hostname?", "annotations.a.b?"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{""}, {"linux..seccomp"}, {"a b"}, {"?"}, {"a?b"}, {"linux.\x01"}, make([]string, 65)} {
		if CheckPlanInputs(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The premise of the refusals above: encoding/json does read these
// spellings into the spec's fields.
func TestDecoderReadsOtherSpellings(t *testing.T) {
	var s specs.Spec
	if err := json.Unmarshal([]byte(`{"Hostname":"h","linux":{"mas\u212aedPaths":["/x"]}}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "h" || s.Linux == nil || len(s.Linux.MaskedPaths) != 1 {
		t.Fatalf("decoded %q and %+v", s.Hostname, s.Linux)
	}
}
