// Package stagetest is rung's conformance kit for stage plugins: it launches
// any plugin binary the way the rung host does and drives it through the
// stage protocol, reporting every way the plugin departs from what the host
// relies on.
//
// The checks, in order, each a named Result:
//
//	launch             the go-plugin handshake with the rung cookie succeeds
//	describe           name, version and stage set and printable, protocol
//	                   version = sdk.ProtocolVersion, features a JSON object
//	validate/good      the good spec gets no field errors
//	validate/bad/NAME  each bad spec gets a field error naming its field
//	validate/garbage   a spec that is not JSON, and a request with no
//	                   container, get an error, not a crash
//	prepare            the plan's actions pass the host's checks
//	attach             Attach on a real, sleeping child process that was
//	                   started in the namespaces and cgroup the plan asks for
//	teardown           (plans with a teardown) the host's rmdirs of it, once
//	                   the child is gone, remove the container's cgroups
//	destroy            Destroy after Attach (and any teardown), then again
//	                   (idempotent); a cgroup the plan placed the child in
//	                   is gone after it
//	validate/in-prepare (plugins that declare validates_in_prepare, as every
//	                   SDK plugin does) Prepare with validate set accepts the
//	                   good spec and refuses each bad one with the same
//	                   field, preparing nothing
//	destroy/half-made  Destroy after Prepare alone, then with empty state
//	destroy/empty      Destroy of a container never prepared
//	deadline           a call whose deadline passes leaves the plugin
//	                   answering; every call answers within Options.Timeout
//	resources          (plugins that serve it) Pids of an unknown container
//	                   is an error or empty, not a crash
//	alive              the plugin process is still running at the end
//
// From a Go test:
//
//	func TestConformance(t *testing.T) {
//		stagetest.Test(t, stagetest.Options{
//			Binary: "/path/to/rung-myplugin",
//			Stage:  "mystage",
//			Bad: []stagetest.Bad{{Name: "bad-level", Field: "annotations",
//				Mutate: func(s *specs.Spec) { s.Annotations = map[string]string{"my.level": "-1"} }}},
//		})
//	}
//
// or from the command line: go run github.com/rung-runtime/rung/sdk/stagetest/cmd/stagetest -h.
//
// Attach needs root (the child is started in new namespaces and cgroups as
// the host would start the container init); without root that check is
// skipped and the report says so. Everything the kit starts or prepares is
// killed and destroyed before Run returns.
package stagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
	"github.com/rung-runtime/rung/sdk/plancheck"
	"github.com/rung-runtime/rung/sdk/teardown"
)

// DefaultTimeout is the host's default per-call deadline; a plugin that
// needs longer must be configured with a longer timeout.
const DefaultTimeout = 10 * time.Second

// Options say which plugin to check and with what.
type Options struct {
	// Binary is the plugin executable.
	Binary string
	// Args are given to the plugin, as the config's "args" would be.
	Args []string
	// Stage is the stage the plugin must describe; empty accepts any.
	Stage string
	// Config is the plugin's own config block, as an operator would give it.
	Config json.RawMessage
	// Spec is a spec the plugin must accept; nil means DefaultSpec().
	Spec *specs.Spec
	// Bad are specs the plugin must refuse in Validate.
	Bad []Bad
	// Annotations are added to the spec's annotations in every call.
	Annotations map[string]string
	// Timeout bounds each call (DefaultTimeout when zero); StartTimeout
	// bounds the launch (5s when zero).
	Timeout, StartTimeout time.Duration
	// Log receives the plugin's log lines; discarded when nil.
	Log io.Writer
}

// Bad is a spec the plugin must refuse with a field error.
type Bad struct {
	// Name names the check: validate/bad/NAME.
	Name string
	// Field is the JSON path the error must name; a field error on a path
	// under it counts ("linux.seccomp" is matched by
	// "linux.seccomp.defaultAction"). Empty accepts any field.
	Field string
	// Mutate changes a copy of the good spec into the bad one.
	Mutate func(*specs.Spec)
	// Patch is an RFC 7386 JSON merge patch applied to the good spec
	// instead of Mutate (the command line's form).
	Patch json.RawMessage
}

// Status is a check's outcome.
type Status string

// The outcomes of a check.
const (
	Pass Status = "ok"
	Fail Status = "FAIL"
	Skip Status = "skip"
)

// Result is one check.
type Result struct {
	// Check is the check's name, e.g. "destroy/half-made".
	Check string
	// Status is Pass, Fail or Skip.
	Status Status
	// Detail says what failed, or why the check was skipped.
	Detail string
}

// Report is the outcome of Run.
type Report struct {
	// Binary is the plugin checked.
	Binary string
	// Results are the checks in the order they ran.
	Results []Result
}

// Failed returns the failed checks.
func (r *Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Status == Fail {
			out = append(out, x)
		}
	}
	return out
}

// String is one line per check.
func (r *Report) String() string {
	var b strings.Builder
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%-4s %s", x.Status, x.Check)
		if x.Detail != "" {
			fmt.Fprintf(&b, ": %s", x.Detail)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s: %d checks, %d failed\n", r.Binary, len(r.Results), len(r.Failed()))
	return b.String()
}

// Test runs the kit and reports each failed check as a test error and each
// skipped one in the log.
func Test(t *testing.T, o Options) *Report {
	t.Helper()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("stagetest: %v", err)
	}
	for _, x := range r.Results {
		switch x.Status {
		case Fail:
			t.Errorf("%s: %s: %s", filepath.Base(o.Binary), x.Check, x.Detail)
		case Skip:
			t.Logf("%s: %s skipped: %s", filepath.Base(o.Binary), x.Check, x.Detail)
		}
	}
	return r
}

type run struct {
	o      Options
	rep    *Report
	client *plugin.Client
	conn   *sdk.Conn
	desc   *stagev1.DescribeResponse
	bundle string
	good   []byte
	// prepared holds every container the kit prepared with its latest
	// state, so the end can destroy what a failed check left.
	prepared map[string]map[string]string
	// dead is set once a call found the plugin gone.
	dead   bool
	deadAt string
}

func (r *run) result(check string, err error) {
	if err != nil {
		r.rep.Results = append(r.rep.Results, Result{Check: check, Status: Fail, Detail: oneLine(err.Error())})
		return
	}
	r.rep.Results = append(r.rep.Results, Result{Check: check, Status: Pass})
}

func (r *run) skip(check, why string) {
	r.rep.Results = append(r.rep.Results, Result{Check: check, Status: Skip, Detail: why})
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Run checks the plugin and returns the report; the error is for options
// that cannot be run at all.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Binary == "" {
		return nil, errors.New("no plugin binary given")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 5 * time.Second
	}
	good := o.Spec
	if good == nil {
		good = DefaultSpec()
	}
	good = withAnnotations(good, o.Annotations)
	goodJSON, err := json.Marshal(good)
	if err != nil {
		return nil, fmt.Errorf("good spec: %w", err)
	}
	bundle, err := os.MkdirTemp("", "stagetest-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bundle)
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), goodJSON, 0o644); err != nil {
		return nil, err
	}
	r := &run{o: o, rep: &Report{Binary: o.Binary}, bundle: bundle, good: goodJSON, prepared: map[string]map[string]string{}}
	if err := r.launch(); err != nil {
		r.result("launch", err)
		return r.rep, nil
	}
	r.result("launch", nil)
	defer r.client.Kill()
	defer r.cleanup(ctx)
	if err := r.describe(ctx); err != nil {
		r.result("describe", err)
		return r.rep, nil
	}
	r.result("describe", nil)
	steps := []func(){
		func() { r.validate(ctx, good) },
		func() { r.lifecycle(ctx) },
		func() { r.validateInPrepare(ctx, good) },
		func() { r.reuse(ctx) },
		func() { r.halfMade(ctx) },
		func() { r.result("destroy/empty", r.destroy(ctx, newID(), nil)) },
		func() { r.result("deadline", r.deadline(ctx)) },
		func() { r.warm(ctx) },
		func() {
			if r.desc.GetResources() {
				r.result("resources", r.resources(ctx))
			}
		},
	}
	for _, step := range steps {
		step()
		if r.dead || r.client.Exited() {
			// Every later call would fail the same way; one line says it.
			at := r.deadAt
			if at == "" {
				at = r.rep.Results[len(r.rep.Results)-1].Check
			}
			r.result("alive", fmt.Errorf("the plugin process died (first seen in a %s call); the remaining checks were not run", at))
			r.prepared = nil
			return r.rep, nil
		}
	}
	r.result("alive", r.call(ctx, "describe", func(ctx context.Context) error {
		_, err := r.conn.Stage.Describe(ctx, &stagev1.DescribeRequest{})
		return err
	}))
	return r.rep, nil
}

func (r *run) launch() error {
	cmd := exec.Command(r.o.Binary, r.o.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := r.o.Log
	if out == nil {
		out = io.Discard
	}
	r.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: filepath.Base(r.o.Binary), Output: out, Level: hclog.Debug}),
		StartTimeout:     r.o.StartTimeout,
	})
	rpc, err := r.client.Client()
	if err != nil {
		r.client.Kill()
		return fmt.Errorf("handshake: %w", err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		r.client.Kill()
		return err
	}
	conn, ok := raw.(*sdk.Conn)
	if !ok {
		r.client.Kill()
		return fmt.Errorf("dispensed %T, not a stage connection", raw)
	}
	r.conn = conn
	return nil
}

// call runs one RPC under the per-call deadline and names a missed one.
func (r *run) call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	err := f(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %v (the host's per-call deadline)", what, r.o.Timeout)
	}
	if err != nil {
		if status.Code(err) == codes.Unavailable && !r.dead {
			r.dead, r.deadAt = true, what
		}
		return &callError{what: what, err: err}
	}
	return nil
}

// callError names the call and keeps the gRPC status for died().
type callError struct {
	what string
	err  error
}

func (e *callError) Error() string {
	if st, ok := status.FromError(e.err); ok {
		return e.what + ": " + st.Message()
	}
	return e.what + ": " + e.err.Error()
}

func (e *callError) Unwrap() error { return e.err }

// died says whether err means the plugin process is gone rather than that
// it answered with an error.
func (r *run) died(err error) bool {
	var ce *callError
	if errors.As(err, &ce) {
		err = ce.err
	}
	return r.dead || r.client.Exited() || status.Code(err) == codes.Unavailable
}

func (r *run) describe(ctx context.Context) error {
	err := r.call(ctx, "describe", func(ctx context.Context) error {
		d, err := r.conn.Stage.Describe(ctx, &stagev1.DescribeRequest{})
		r.desc = d
		return err
	})
	if err != nil {
		return err
	}
	d := r.desc
	if d.GetProtocolVersion() != sdk.ProtocolVersion {
		return fmt.Errorf("protocol version %d, the host speaks %d", d.GetProtocolVersion(), sdk.ProtocolVersion)
	}
	if err := launcher.CheckDescription(d); err != nil {
		return err
	}
	if r.o.Stage != "" && d.GetStage() != r.o.Stage {
		return fmt.Errorf("stage %q, expected %q", d.GetStage(), r.o.Stage)
	}
	return nil
}

func (r *run) container(id string, specJSON []byte, st map[string]string) *stagev1.Container {
	var ann map[string]string
	var s specs.Spec
	if json.Unmarshal(specJSON, &s) == nil {
		ann = s.Annotations
	}
	return &stagev1.Container{Id: id, Bundle: r.bundle, SpecJson: specJSON, State: st,
		PluginConfigJson: r.o.Config, Annotations: ann}
}

// validateSpec asks for the spec's field errors: through Validate, or with
// inPrepare through Prepare{validate}, which must then have made nothing
// if it found any.
func (r *run) validateSpec(ctx context.Context, specJSON []byte, inPrepare bool) ([]*stagev1.FieldError, error) {
	var errs []*stagev1.FieldError
	var err error
	if !inPrepare {
		err = r.call(ctx, "validate", func(ctx context.Context) error {
			resp, err := r.conn.Stage.Validate(ctx, &stagev1.ValidateRequest{Container: r.container(newID(), specJSON, nil)})
			errs = resp.GetErrors()
			return err
		})
	} else {
		id := newID()
		r.prepared[id] = nil // a spec it accepts is prepared, and destroyed at the end
		err = r.call(ctx, "prepare", func(ctx context.Context) error {
			resp, err := r.conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: r.container(id, specJSON, nil), Validate: true})
			if err != nil {
				return err
			}
			errs = resp.GetErrors()
			if len(errs) == 0 {
				r.prepared[id] = resp.GetState()
			} else if len(resp.GetState()) > 0 || len(resp.GetActions()) > 0 {
				return errors.New("Prepare{validate} answered field errors and a plan: a refused spec must prepare nothing")
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	for _, fe := range errs {
		if fe.GetField() == "" || strings.ContainsAny(fe.GetField(), " \n") || fe.GetMessage() == "" {
			return errs, fmt.Errorf("field error %q: %q is not a JSON path with a message", fe.GetField()+": "+fe.GetMessage(), fe.GetField())
		}
	}
	return errs, nil
}

func (r *run) validate(ctx context.Context, good *specs.Spec) {
	r.result("validate/good", r.validateGood(ctx, false))
	for i, b := range r.o.Bad {
		r.result("validate/bad/"+badName(i, b), r.validateBad(ctx, good, b, false))
	}
	// Garbage must cost an error, never the plugin.
	err := r.call(ctx, "validate", func(ctx context.Context) error {
		_, err := r.conn.Stage.Validate(ctx, &stagev1.ValidateRequest{Container: r.container(newID(), []byte("{not json"), nil)})
		return err
	})
	switch {
	case err == nil:
		err = errors.New("a spec that is not JSON was accepted")
	case r.died(err):
		err = fmt.Errorf("the plugin died on a spec that is not JSON: %v", err)
	default:
		err = r.call(ctx, "validate", func(ctx context.Context) error {
			_, err := r.conn.Stage.Validate(ctx, &stagev1.ValidateRequest{})
			return err
		})
		switch {
		case err == nil:
			err = errors.New("a request without a container was accepted")
		case r.died(err):
			err = fmt.Errorf("the plugin died on a request without a container: %v", err)
		default:
			err = nil
		}
	}
	r.result("validate/garbage", err)
}

// validateInPrepare checks a plugin that lets the host skip Validate:
// Prepare must then refuse the same specs, and prepare nothing for them.
func (r *run) validateInPrepare(ctx context.Context, good *specs.Spec) {
	if !r.desc.GetValidatesInPrepare() {
		return
	}
	for _, x := range r.rep.Results {
		if x.Check == "prepare" && x.Status != Pass {
			r.skip("validate/in-prepare", "prepare failed")
			return
		}
	}
	err := r.validateGood(ctx, true)
	for i, b := range r.o.Bad {
		if err != nil {
			break
		}
		if err = r.validateBad(ctx, good, b, true); err != nil {
			err = fmt.Errorf("bad spec %s: %w", badName(i, b), err)
		}
	}
	r.result("validate/in-prepare", err)
}

func badName(i int, b Bad) string {
	if b.Name == "" {
		return fmt.Sprint(i)
	}
	return b.Name
}

func (r *run) validateGood(ctx context.Context, inPrepare bool) error {
	errs, err := r.validateSpec(ctx, r.good, inPrepare)
	if err == nil && len(errs) > 0 {
		err = fmt.Errorf("the good spec got %d field error(s), first %s: %s", len(errs), errs[0].GetField(), errs[0].GetMessage())
	}
	return err
}

func (r *run) validateBad(ctx context.Context, good *specs.Spec, b Bad, inPrepare bool) error {
	bad, err := badSpec(good, b)
	if err != nil {
		return err
	}
	errs, err := r.validateSpec(ctx, bad, inPrepare)
	if err != nil {
		return err
	}
	if len(errs) == 0 {
		return errors.New("the bad spec got no field error")
	}
	var fields []string
	for _, fe := range errs {
		f := fe.GetField()
		if b.Field == "" || f == b.Field || strings.HasPrefix(f, b.Field+".") || strings.HasPrefix(f, b.Field+"[") {
			return nil
		}
		fields = append(fields, f)
	}
	return fmt.Errorf("field errors name %v, none under %s", fields, b.Field)
}

func (r *run) prepare(ctx context.Context, id string) (*stagev1.PrepareResponse, error) {
	r.prepared[id] = nil // Destroy it at the end even if Prepare fails half way
	var resp *stagev1.PrepareResponse
	err := r.call(ctx, "prepare", func(ctx context.Context) error {
		var err error
		resp, err = r.conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: r.container(id, r.good, nil)})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.prepared[id] = resp.GetState()
	if err := checkState(resp.GetState()); err != nil {
		return resp, err
	}
	if err := plancheck.Teardown(resp.GetTeardown(), resp.GetActions()); err != nil {
		return resp, err
	}
	return resp, CheckActions(resp.GetActions())
}

// tearDown is what a delete does for a plan with a Teardown once the
// container's processes are gone: the host's own rmdirs, which must leave
// none of the container's cgroups (else every delete pays the Destroy
// fallback); Destroy afterwards must still succeed.
func tearDown(resp *stagev1.PrepareResponse) error {
	t := resp.GetTeardown()
	if t == nil {
		return nil
	}
	if err := teardown.Run(t.GetCgroupDirs(), t.GetEmptyParents()); err != nil {
		return fmt.Errorf("the host's teardown of the plan's teardown dirs, with the processes gone: %w", err)
	}
	for _, d := range t.GetCgroupDirs() {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("teardown dir %s still exists after the host's teardown (err %v)", d, err)
		}
	}
	if err := cgroupGone(resp.GetActions()); err != nil {
		return fmt.Errorf("the plan's teardown does not remove its cgroup: %w", err)
	}
	return nil
}

func (r *run) destroy(ctx context.Context, id string, st map[string]string) error {
	err := r.call(ctx, "destroy", func(ctx context.Context) error {
		_, err := r.conn.Stage.Destroy(ctx, &stagev1.DestroyRequest{Container: r.container(id, r.good, st)})
		return err
	})
	if err == nil {
		delete(r.prepared, id)
	}
	return err
}

// lifecycle is create then delete, as the host does them: Prepare, a child
// in the planned namespaces and cgroup, Attach, kill, Destroy twice.
func (r *run) lifecycle(ctx context.Context) {
	id := newID()
	resp, err := r.prepare(ctx, id)
	r.result("prepare", err)
	if err == nil {
		r.rep.Results[len(r.rep.Results)-1].Detail = summarize(resp)
	}
	if resp == nil {
		r.skip("attach", "prepare failed")
		r.skip("destroy", "prepare failed")
		return
	}
	st := copyState(resp.GetState())
	var child *exec.Cmd
	why := "the plan is invalid"
	if err == nil {
		child, why, err = startChild(resp.GetActions())
	}
	switch {
	case child == nil && why == "the plan is invalid":
		r.skip("attach", why)
	case err != nil:
		r.result("attach", fmt.Errorf("starting the child the plan describes: %w", err))
	case child == nil:
		r.skip("attach", why)
	default:
		err := r.call(ctx, "attach", func(ctx context.Context) error {
			a, err := r.conn.Stage.Attach(ctx, &stagev1.AttachRequest{Container: r.container(id, r.good, st), Pid: int32(child.Process.Pid)})
			for k, v := range a.GetState() {
				st[k] = v
			}
			return err
		})
		r.prepared[id] = st
		if err == nil {
			err = checkState(st)
		}
		r.result("attach", err)
		if err == nil && why != "" {
			r.rep.Results[len(r.rep.Results)-1].Detail = "note: " + why
		}
		stopChild(child)
	}
	if err := tearDown(resp); err != nil {
		r.result("teardown", err)
	} else if resp.GetTeardown() != nil {
		r.result("teardown", nil)
	} else {
		r.skip("teardown", "the plan has no teardown: delete always calls Destroy")
	}
	err = r.destroy(ctx, id, st)
	if err == nil {
		if err = r.destroy(ctx, id, st); err != nil {
			err = fmt.Errorf("second destroy (must be idempotent): %w", err)
		}
	}
	if err == nil {
		err = cgroupGone(resp.GetActions())
	}
	r.result("destroy", err)
}

func (r *run) halfMade(ctx context.Context) {
	id := newID()
	resp, err := r.prepare(ctx, id)
	if err != nil && resp == nil {
		r.skip("destroy/half-made", "prepare failed")
		return
	}
	err = r.destroy(ctx, id, resp.GetState())
	if err == nil {
		if err = r.destroy(ctx, id, nil); err != nil {
			err = fmt.Errorf("destroy with empty state after a destroy: %w", err)
		}
	}
	if err == nil {
		err = cgroupGone(resp.GetActions())
	}
	r.result("destroy/half-made", err)
}

func (r *run) deadline(ctx context.Context) error {
	id := newID()
	r.prepared[id] = nil
	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	_, err := r.conn.Stage.Prepare(short, &stagev1.PrepareRequest{Container: r.container(id, r.good, nil)})
	cancel()
	if err == nil {
		return errors.New("a Prepare whose deadline had passed succeeded")
	}
	// Whatever the plugin did with it, it must still answer, and the
	// container must still be destroyable.
	if err := r.call(ctx, "describe after a missed deadline", func(ctx context.Context) error {
		_, err := r.conn.Stage.Describe(ctx, &stagev1.DescribeRequest{})
		return err
	}); err != nil {
		return err
	}
	return r.destroy(ctx, id, nil)
}

func (r *run) resources(ctx context.Context) error {
	return r.call(ctx, "pids", func(ctx context.Context) error {
		resp, err := r.conn.Resources.Pids(ctx, &stagev1.ContainerRef{Container: r.container(newID(), r.good, nil)})
		if err != nil && r.died(err) {
			return fmt.Errorf("the plugin died on Pids of an unknown container: %v", err)
		}
		if err == nil && len(resp.GetPids()) > 0 {
			return fmt.Errorf("an unknown container has pids %v", resp.GetPids())
		}
		return nil
	})
}

// cleanup destroys whatever a failed check left prepared.
func (r *run) cleanup(ctx context.Context) {
	for id, st := range r.prepared {
		if err := r.destroy(ctx, id, st); err != nil {
			r.result("cleanup", fmt.Errorf("container %s: %w", id, err))
		}
	}
}

// summarize says what a plan holds, e.g. "actions: 5 namespace, 1 cgroup; state: 3 keys".
func summarize(resp *stagev1.PrepareResponse) string {
	counts := map[string]int{}
	var order []string
	for _, a := range resp.GetActions() {
		k := strings.TrimPrefix(fmt.Sprintf("%T", a.GetKind()), "*stagev1.Action_")
		k = strings.ToLower(k)
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	return fmt.Sprintf("actions: %s; state: %d keys", strings.Join(parts, ", "), len(resp.GetState()))
}

func newID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "stagetest-" + hex.EncodeToString(b)
}

func copyState(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func checkState(st map[string]string) error {
	if len(st) > MaxStateKeys {
		return fmt.Errorf("invalid state: %d keys, at most %d", len(st), MaxStateKeys)
	}
	n := 0
	for k, v := range st {
		if k == "" {
			return errors.New("state has an empty key")
		}
		n += len(k) + len(v)
	}
	if n > MaxStateBytes {
		return fmt.Errorf("invalid state: %d bytes, at most %d", n, MaxStateBytes)
	}
	return nil
}
