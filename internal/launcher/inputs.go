package launcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// A kept Prepare answer stands for a plugin's answer to every spec whose
// values at the plugin's plan inputs are the same bytes. The plugin reads
// those values through encoding/json into specs-go structs, so the digest
// walks the spec the way that decoder does: a struct field matches its key
// in any letter case (bytes.EqualFold, the decoder's own rule) and a key
// given twice is decoded twice, the second merging into or replacing the
// first. Two specs with equal bytes at a path may then still decode to
// different values there, so a spec where any key on a path appears more
// than once, or only in another case, is never served from a kept answer.

// Bounds on plan inputs: each is a JSON path like a handled field.
const (
	maxPlanInputs   = 64
	planInputOptSep = "?"
)

// CheckPlanInputs refuses plan inputs the host cannot walk.
func CheckPlanInputs(inputs []string) error {
	if len(inputs) > maxPlanInputs {
		return fmt.Errorf("%d plan inputs, at most %d", len(inputs), maxPlanInputs)
	}
	for _, in := range inputs {
		segs := inputSegments(strings.TrimSuffix(in, planInputOptSep))
		ok := len(in) <= maxNameLen && printable(in) && !strings.ContainsRune(in, ' ')
		for _, s := range segs {
			ok = ok && s != "" && !strings.Contains(s, planInputOptSep)
		}
		if !ok {
			return fmt.Errorf("plan input %.64q is not a JSON path", in)
		}
	}
	return nil
}

// inputSegments splits a path at its dots, except that what follows
// "annotations." is one key: annotation keys have dots of their own.
func inputSegments(path string) []string {
	if key, ok := strings.CutPrefix(path, "annotations."); ok {
		return []string{"annotations", key}
	}
	return strings.Split(path, ".")
}

// jsonObject is one object's members in document order, values undecoded.
type jsonObject struct {
	keys []string
	vals []json.RawMessage
}

func parseObject(raw []byte) (*jsonObject, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	o := &jsonObject{}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		o.keys, o.vals = append(o.keys, key), append(o.vals, v)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	return o, true
}

// member finds key's one value: found false when it is absent; ok false
// when the decoder could read it from another spelling, or twice. A map's
// keys (fold false) match exactly; a struct's fields in any case.
func (o *jsonObject) member(key string, fold bool) (val json.RawMessage, found, ok bool) {
	n := 0
	for i, k := range o.keys {
		switch {
		case k == key:
			val, found = o.vals[i], true
			n++
		case fold && strings.EqualFold(k, key):
			return nil, false, false
		}
	}
	return val, found, n <= 1
}

// isNull says whether raw is JSON null, which the decoder treats as absent
// for the pointers, slices, maps and strings of a spec.
func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

// isEmpty is "not set" for an input with the "?" suffix: null, "", [] or {}.
func isEmpty(raw []byte) bool {
	var b []byte
	for _, c := range raw {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			b = append(b, c)
		}
	}
	switch string(b) {
	case "null", `""`, "[]", "{}":
		return true
	}
	return false
}

// writeInputs writes to w, for each input path, what the plugin decodes
// there: where the path ends in an absent or null member (and at which
// depth, since an absent parent can mean another default than an empty
// one), whether it is set (a "?" input), or its exact bytes. ok is false
// when the spec cannot be served from a kept answer (see above), or is not
// a JSON object at all.
func writeInputs(w io.Writer, specJSON []byte, inputs []string) (ok bool) {
	// Inputs share their parents ("linux"): each object is parsed once.
	objects := map[string]*jsonObject{}
	object := func(prefix string, raw []byte) (*jsonObject, bool) {
		if o, seen := objects[prefix]; seen {
			return o, o != nil
		}
		o, ok := parseObject(raw)
		objects[prefix] = o
		return o, ok
	}
	for _, in := range inputs {
		path, presence := strings.CutSuffix(in, planInputOptSep)
		segs := inputSegments(path)
		fmt.Fprintf(w, "%d:%s\x00", len(in), in)
		raw, missingAt := json.RawMessage(specJSON), -1
		for depth, seg := range segs {
			o, ok := object(strings.Join(segs[:depth], "."), raw)
			if !ok {
				return false
			}
			val, found, ok := o.member(seg, !(depth == 1 && segs[0] == "annotations"))
			if !ok {
				return false
			}
			if !found || isNull(val) {
				missingAt = depth
				break
			}
			raw = val
		}
		switch {
		case missingAt >= 0:
			fmt.Fprintf(w, "missing %d\x00", missingAt)
		case presence && isEmpty(raw):
			io.WriteString(w, "unset\x00")
		case presence:
			io.WriteString(w, "set\x00")
		default:
			fmt.Fprintf(w, "value %d:", len(raw))
			w.Write(raw)
		}
	}
	return true
}
