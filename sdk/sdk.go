package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/wire"
)

// ProtocolVersion is the stage protocol version this SDK speaks. The host
// refuses plugins that announce another.
const ProtocolVersion = wire.ProtocolVersion

// PluginName is the go-plugin plugin-map key under which the stage is served.
const PluginName = "stage"

// Handshake is the go-plugin handshake shared by the host and every plugin.
// The cookie only stops a plugin binary run by hand from waiting forever for a
// host; it is not a security feature (checksums are).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   wire.CookieKey,
	MagicCookieValue: wire.CookieValue,
}

// Container is what a call is about: the container's id, bundle, decoded spec,
// the state this plugin returned earlier, and its operator-given config block.
type Container struct {
	// ID is the container's id, as given to `rung create`.
	ID string
	// Bundle is the absolute path of the bundle directory.
	Bundle string
	// Spec is decoded from SpecJSON; nil only if SpecJSON is empty.
	Spec *specs.Spec
	// SpecJSON is the bundle's config.json, verbatim.
	SpecJSON []byte
	// State is what this plugin returned from Prepare and Attach, as stored by
	// the host. Empty in Validate and Prepare, possibly partial in Destroy.
	State map[string]string
	// Config is the plugin's own block from the operator's rung config
	// (the "config" object of its entry in /etc/rung/config.json); empty
	// when the operator gave none.
	Config json.RawMessage
	// Annotations are the spec's annotations.
	Annotations map[string]string
}

// Description is a plugin's answer to Describe.
type Description struct {
	// Name names the plugin in the host's errors and logs ("rung-seccomp").
	Name string
	// Version is the plugin's own version.
	Version string
	// Stage is the stage the plugin fills ("namespaces", "cgroups", "seccomp",
	// "lsm", or an extra stage's name).
	Stage string
	// Handles lists the spec fields the stage owns, as JSON paths.
	Handles []string
	// Features is this stage's part of `rung features`, a JSON object merged
	// into the runtime-spec features document.
	Features json.RawMessage
	// NoDestroy says the plugin makes nothing that outlives the container's
	// processes (namespaces die with them, a seccomp filter is the process's
	// own), so `delete` need not launch it. Leave it false if Destroy has any
	// work to do.
	NoDestroy bool
	// NoAttach says the plugin's Attach does nothing (it keeps Base's), so
	// the host need not call it and the init waits on one process fewer.
	// Leave it false if Attach has any work to do.
	NoAttach bool
	// PlanInputs are the spec fields a Plan marked Reusable depends on, as
	// JSON paths ("linux.seccomp"; "hostname?" counts only whether the field
	// is set). The host then keeps such a plan and gives it to every later
	// container with the same values there, without launching or calling
	// the plugin: list every field Validate and Prepare read. Honoured only
	// with NoDestroy and for plugins that serve no Resources.
	PlanInputs []string
}

// Plan is a plugin's answer to Prepare.
type Plan struct {
	// State is stored by the host and handed back on every later call.
	State map[string]string
	// Actions are applied by the container init (or, for placement, the host).
	Actions []*stagev1.Action
	// SkipAttach says Attach has nothing to do for this container, so the
	// host does not call it (Description.NoAttach says so for all).
	SkipAttach bool
	// Reusable says this plan follows from the values at
	// Description.PlanInputs, the plugin's Config and the kernel alone, not
	// from the container's id, bundle or other fields, nor from host state
	// that may change before a reboot (loaded profiles, files, other
	// containers), so the host may reuse it. It needs SkipAttach or NoAttach.
	Reusable bool
	// Teardown, when undoing this Prepare is only removing cgroup
	// directories once the container's processes are gone, names them: a
	// delete then removes them in the host and calls Destroy only if one of
	// Teardown.CgroupDirs is still there, so it launches no plugin. Destroy
	// must still do the whole job on its own.
	Teardown *Teardown
}

// Teardown is the whole of a Destroy that only removes cgroup directories.
type Teardown struct {
	// CgroupDirs are the container's cgroups, removed in this order
	// (children first); absolute paths on a cgroup v1 or v2 filesystem.
	CgroupDirs []string
	// EmptyParents are removed after them if empty by then; one still in
	// use (another container's parent too) stays, and that is no failure.
	EmptyParents []string
}

// FieldError is a validation error about one spec field.
type FieldError struct {
	// Field is a JSON path into the spec, e.g. "linux.seccomp.defaultAction".
	Field string
	// Message says what is wrong with it, for the user.
	Message string
}

// Error is "field: message", as the host shows it.
func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Stage is the interface every stage plugin implements.
type Stage interface {
	// Describe names the plugin and its stage; called once per launch.
	Describe(ctx context.Context) (Description, error)
	// Validate returns the problems it finds in the spec fields it owns. It must
	// have no side effects.
	Validate(ctx context.Context, c *Container) ([]FieldError, error)
	// Prepare does the stage's work outside the container (before the init
	// exists) and returns what to store and what the init must apply. The
	// host stores the answer before it goes on, so Destroy can undo it.
	Prepare(ctx context.Context, c *Container) (*Plan, error)
	// Attach acts on the container's init, which waits at pid until every stage
	// has answered. The returned map is merged into the stored state.
	Attach(ctx context.Context, c *Container, pid int) (map[string]string, error)
	// Destroy undoes Prepare and Attach; idempotent, and must work on a
	// container whose state is partial or empty.
	Destroy(ctx context.Context, c *Container) error
}

// Event is one cgroup event, as runc's `events` names them ("oom", ...).
type Event struct {
	// Type is the event's name, e.g. "oom".
	Type string
	// Data is the event's JSON payload, if any.
	Data json.RawMessage
}

// ResourceStage is implemented by the stage that owns the container's cgroup.
type ResourceStage interface {
	Stage
	// Update applies new limits (`rung update`).
	Update(ctx context.Context, c *Container, r *specs.LinuxResources) error
	// Stats returns runc's `events --stats` data object.
	Stats(ctx context.Context, c *Container) (json.RawMessage, error)
	// Pause freezes every process of the container; Resume thaws them.
	Pause(ctx context.Context, c *Container) error
	Resume(ctx context.Context, c *Container) error
	// Pids lists the container's processes as host pids (`rung ps`).
	Pids(ctx context.Context, c *Container) ([]int, error)
	// KillAll signals every process of the container (`rung kill --all`).
	KillAll(ctx context.Context, c *Container, sig syscall.Signal) error
	// Events calls send for each event until ctx ends or the cgroup is gone.
	Events(ctx context.Context, c *Container, send func(Event) error) error
}

// Base gives every Stage method except Describe a harmless default, so a
// plugin only writes the calls it cares about.
type Base struct{}

// Validate accepts every spec.
func (Base) Validate(context.Context, *Container) ([]FieldError, error) { return nil, nil }

// Prepare does nothing and asks nothing of the init.
func (Base) Prepare(context.Context, *Container) (*Plan, error) { return &Plan{}, nil }

// Attach does nothing.
func (Base) Attach(context.Context, *Container, int) (map[string]string, error) { return nil, nil }

// Destroy has nothing to undo.
func (Base) Destroy(context.Context, *Container) error { return nil }

var logger = hclog.New(&hclog.LoggerOptions{
	Name:       "plugin",
	Level:      hclog.Trace,
	Output:     os.Stderr,
	JSONFormat: true,
})

// Logger returns the plugin's logger. Its lines reach the host's log (the host
// decides the level that is kept); never print to stdout instead.
func Logger() hclog.Logger { return logger }

// Serve runs impl as a stage plugin until the host ends it, or, kept warm
// for many rung commands (EnvPoolFD), until it has been idle. It does not
// return.
func Serve(impl Stage) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintln(os.Stderr, "this is a rung stage plugin; the rung runtime starts it, it is not run by hand")
		os.Exit(1)
	}
	if fd := os.Getenv(EnvPoolFD); fd != "" {
		servePool(impl, fd, os.Getenv(EnvPoolIdle))
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          logger,
	})
}
