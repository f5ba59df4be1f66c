package stagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// unrelatedAnnotation is the annotation the reuse check adds to the second
// container: no plugin's plan may depend on it.
const unrelatedAnnotation = "org.rung-runtime.stagetest.unrelated"

// reuse checks a plugin that lists plan inputs as the host relies on it:
// rung keeps a reusable answer and gives it to every later container with
// the same values at those inputs. So two containers that differ in their
// id, bundle and in fields outside the inputs (process.args, process.env,
// an annotation) must get the same answer, reusable both times; and a
// reusable answer must leave the host no Attach to call (or it is never
// kept), from a plugin the host owes no Destroy and no Resources calls.
func (r *run) reuse(ctx context.Context) {
	d := r.desc
	inputs := d.GetPlanInputs()
	if len(inputs) == 0 {
		return // its answers are never kept: nothing to check
	}
	if !d.GetNoDestroy() || d.GetResources() {
		r.result("reuse", errors.New("plan inputs listed, but rung keeps answers only from plugins with no_destroy that serve no resources: they would never be used"))
		return
	}
	first, err := r.prepareValidated(ctx, r.good, r.bundle)
	if err != nil {
		r.result("reuse", err)
		return
	}
	if !first.GetReusable() {
		r.result("reuse", nil)
		r.rep.Results[len(r.rep.Results)-1].Detail = "note: the good spec's answer is not marked reusable; none kept"
		return
	}
	if !d.GetNoAttach() && !first.GetSkipAttach() {
		r.result("reuse", errors.New("a reusable answer that needs Attach (neither no_attach nor skip_attach): rung never keeps it"))
		return
	}
	other, err := unrelatedChange(r.good, inputs)
	if err != nil {
		r.result("reuse", err)
		return
	}
	bundle, err := os.MkdirTemp("", "stagetest-bundle-")
	if err != nil {
		r.result("reuse", err)
		return
	}
	defer os.RemoveAll(bundle)
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		r.result("reuse", err)
		return
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), other, 0o644); err != nil {
		r.result("reuse", err)
		return
	}
	second, err := r.prepareValidated(ctx, other, bundle)
	switch {
	case err != nil:
		err = fmt.Errorf("a second container, changed only outside the plan inputs: %w", err)
	case !proto.Equal(first, second):
		err = fmt.Errorf("two containers with the same values at the plan inputs %v got different answers (%s and %s): rung would give the second the first's", inputs, summarize(first), summarize(second))
	}
	r.result("reuse", err)
}

// prepareValidated asks Prepare{validate} for specJSON in a new container,
// as rung's create does, and wants an answer without field errors.
func (r *run) prepareValidated(ctx context.Context, specJSON []byte, bundle string) (*stagev1.PrepareResponse, error) {
	id := newID()
	r.prepared[id] = nil
	pc := r.container(id, specJSON, nil)
	pc.Bundle = bundle
	var resp *stagev1.PrepareResponse
	err := r.call(ctx, "prepare", func(ctx context.Context) error {
		var err error
		resp, err = r.conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: pc, Validate: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.prepared[id] = resp.GetState()
	if len(resp.GetErrors()) > 0 {
		e := resp.GetErrors()[0]
		return nil, fmt.Errorf("the good spec refused: %s: %s", e.GetField(), e.GetMessage())
	}
	return resp, nil
}

// unrelatedChange is the good spec with fields outside the plan inputs
// changed: process.args and process.env, and one more annotation.
func unrelatedChange(good []byte, inputs []string) ([]byte, error) {
	var s specs.Spec
	if err := json.Unmarshal(good, &s); err != nil {
		return nil, fmt.Errorf("good spec: %w", err)
	}
	overlaps := func(field string) bool {
		for _, in := range inputs {
			in = strings.TrimSuffix(in, "?")
			if in == field || strings.HasPrefix(field, in+".") || strings.HasPrefix(in, field+".") {
				return true
			}
		}
		return false
	}
	if s.Process != nil && !overlaps("process.args") && !overlaps("process.env") {
		s.Process.Args = append(append([]string{}, s.Process.Args...), "stagetest-unrelated")
		s.Process.Env = append(append([]string{}, s.Process.Env...), "STAGETEST_UNRELATED=1")
	}
	if !overlaps("annotations." + unrelatedAnnotation) {
		ann := map[string]string{unrelatedAnnotation: newID()}
		for k, v := range s.Annotations {
			ann[k] = v
		}
		s.Annotations = ann
	}
	return json.Marshal(&s)
}
