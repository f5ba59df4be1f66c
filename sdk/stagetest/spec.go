package stagetest

import (
	"encoding/json"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSpec is the good spec the kit uses when Options.Spec is nil: what
// `runc spec` writes, less the mounts and masks no stage looks at — new
// pid, network, ipc, uts and mount namespaces, no resources, no seccomp,
// no LSM label.
func DefaultSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{"sh"},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Effective: []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
				Permitted: []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "stagetest",
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
		},
	}
}

func withAnnotations(s *specs.Spec, ann map[string]string) *specs.Spec {
	if len(ann) == 0 {
		return s
	}
	c := cloneSpec(s)
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	for k, v := range ann {
		c.Annotations[k] = v
	}
	return c
}

func cloneSpec(s *specs.Spec) *specs.Spec {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a spec always encodes
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

// badSpec is the good spec changed by b, as JSON.
func badSpec(good *specs.Spec, b Bad) ([]byte, error) {
	switch {
	case b.Mutate != nil:
		c := cloneSpec(good)
		b.Mutate(c)
		return json.Marshal(c)
	case len(b.Patch) > 0:
		base, err := json.Marshal(good)
		if err != nil {
			return nil, err
		}
		return MergePatch(base, b.Patch)
	}
	return nil, errors.New("a bad spec needs Mutate or Patch")
}

// MergePatch applies an RFC 7386 JSON merge patch to doc.
func MergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("merge patch target: %w", err)
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return json.Marshal(merge(d, p))
}

func merge(doc, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	dm, ok := doc.(map[string]any)
	if !ok {
		dm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(dm, k)
		} else {
			dm[k] = merge(dm[k], v)
		}
	}
	return dm
}
