package sdk

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// FuzzDecodeContainer is the plugin side of the stage protocol: every call
// a plugin serves starts by decoding the host's Container (ids, bundle,
// stored state and the spec as JSON). Any wire bytes must decode or be
// refused with InvalidArgument, never panic, and a decoded Container must
// hold what the Stage methods rely on.
func FuzzDecodeContainer(f *testing.F) {
	if _, err := DecodeContainer(nil); status.Code(err) != codes.InvalidArgument {
		f.Errorf("DecodeContainer(nil) = %v, want InvalidArgument", err)
	}
	add := func(c *stagev1.Container) {
		b, err := proto.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(nil))
	}
	add(&stagev1.Container{Id: "c1", Bundle: "/b", SpecJson: []byte(`{"ociVersion":"1.3.0","linux":{"namespaces":[{"type":"pid"}]}}`),
		State: map[string]string{"cgroup": "/sys/fs/cgroup/rung/c1"}, PluginConfigJson: []byte(`{"x":1}`),
		Annotations: map[string]string{"a": "b"}})
	add(&stagev1.Container{Id: "c2"})
	add(&stagev1.Container{SpecJson: []byte(`{"process":`)})
	f.Add([]byte{0x0a, 0xff}, []byte(nil))
	f.Add([]byte(nil), []byte(`{"ociVersion":"1.3.0","linux":{"resources":{"memory":{"limit":-1}}}}`))
	f.Add([]byte(nil), []byte(`{"linux":{"seccomp":{"syscalls":[{"names":1}]}}}`))
	f.Fuzz(func(t *testing.T, wire, specJSON []byte) {
		var pc stagev1.Container
		if err := proto.Unmarshal(wire, &pc); err != nil {
			return
		}
		if len(specJSON) > 0 {
			pc.SpecJson = specJSON
		}
		c, err := DecodeContainer(&pc)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("refusal is %v, want InvalidArgument: %v", status.Code(err), err)
			}
			return
		}
		if c.State == nil {
			t.Fatal("decoded Container has a nil State map")
		}
		if (c.Spec != nil) != (len(c.SpecJSON) > 0) {
			t.Fatalf("Spec is %v with %d bytes of spec JSON", c.Spec != nil, len(c.SpecJSON))
		}
		if c.ID != pc.GetId() || c.Bundle != pc.GetBundle() {
			t.Fatalf("id or bundle changed: %q %q", c.ID, c.Bundle)
		}
	})
}
