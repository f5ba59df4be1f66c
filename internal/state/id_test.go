package state

import (
	"regexp"
	"strings"
	"testing"
)

// runcID is runc's own rule; ValidateID spells it out by hand and must
// accept exactly what it accepts.
var runcID = regexp.MustCompile(`^[\w+\-.]+$`)

func TestValidateIDMatchesRuncRule(t *testing.T) {
	ids := []string{"a", "web-1", "A_b+c.d", "x..y", "ünicode", "a b", "a/b", "a\x00", "-", "+", "..", ".", "", "é", strings.Repeat("a", 1024), strings.Repeat("a", 1025)}
	for c := 0; c < 256; c++ {
		ids = append(ids, "id"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, id := range ids {
		checkAgainstRunc(t, id)
	}
}

func FuzzValidateID(f *testing.F) {
	f.Add("web-1")
	f.Add("a/b")
	f.Fuzz(checkAgainstRunc)
}

func checkAgainstRunc(t *testing.T, id string) {
	want := id != "" && len(id) <= 1024 && runcID.MatchString(id) && id != "." && id != ".."
	if got := ValidateID(id) == nil; got != want {
		t.Errorf("ValidateID(%q) accepted=%v, runc's rule says %v", id, got, want)
	}
}
