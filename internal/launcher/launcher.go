// Package launcher finds, checks and starts stage plugins (go-plugin over
// gRPC) and gives the host typed calls with deadlines.
package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

// Spec names one configured plugin.
type Spec struct {
	Stage  string
	Binary string // a name searched in the plugin dirs, or an absolute path
	Args   []string
	// Config is the plugin's own block, passed through to it.
	Config []byte
	// Timeout bounds each call; StartTimeout bounds launch and handshake.
	Timeout      time.Duration
	StartTimeout time.Duration
}

// Defaults are the four built-in stages, in the order the host reports them.
func Defaults() []Spec {
	return []Spec{
		{Stage: "namespaces", Binary: "rung-namespaces"},
		{Stage: "cgroups", Binary: "rung-cgroupv2"},
		{Stage: "seccomp", Binary: "rung-seccomp"},
		{Stage: "lsm", Binary: "rung-lsm"},
	}
}

const (
	defaultTimeout      = 10 * time.Second
	defaultStartTimeout = 5 * time.Second
)

// PluginDirs is where plugin names are looked up: $RUNG_PLUGIN_DIR alone
// when set, else next to the rung binary, then the libexec dirs.
func PluginDirs() []string {
	if d := os.Getenv("RUNG_PLUGIN_DIR"); d != "" {
		return []string{d}
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
	}
	return append(dirs, "/usr/local/libexec/rung", "/usr/libexec/rung")
}

// Resolve finds the plugin's binary and checks it may be trusted.
func Resolve(s Spec) (string, error) {
	if filepath.IsAbs(s.Binary) {
		return s.Binary, CheckTrusted(s.Binary)
	}
	for _, d := range PluginDirs() {
		p := filepath.Join(d, s.Binary)
		if _, err := os.Stat(p); err == nil {
			return p, CheckTrusted(p)
		}
	}
	return "", fmt.Errorf("plugin binary %s not found in %v", s.Binary, PluginDirs())
}

// CheckTrusted refuses binaries that someone other than root could have
// written: plugins run as root with the container's secrets.
func CheckTrusted(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin %s is not a regular file", path)
	}
	if err := trustedInode(path, fi); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return trustedInode(dir, di)
}

func trustedInode(path string, fi os.FileInfo) error {
	if uid, ok := ownerUID(fi); ok && uid != 0 {
		return fmt.Errorf("plugin path %s is owned by uid %d, not root", path, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0 && fi.Mode().Perm()&0o002 == 0) {
		return fmt.Errorf("plugin path %s is writable by group or others (mode %v)", path, fi.Mode().Perm())
	}
	return nil
}

// Plugin is a launched, described plugin.
type Plugin struct {
	Spec   Spec
	Path   string
	Desc   *stagev1.DescribeResponse
	conn   *sdk.Conn
	client *plugin.Client
}

// Name is the plugin's own name, or its binary before Describe answered.
func (p *Plugin) Name() string {
	if p.Desc != nil && p.Desc.Name != "" {
		return p.Desc.Name
	}
	return filepath.Base(p.Spec.Binary)
}

// Label names the plugin in errors: "stage seccomp (rung-seccomp)".
func (p *Plugin) Label() string { return fmt.Sprintf("stage %s (%s)", p.Spec.Stage, p.Name()) }

// Stage is the gRPC client of the plugin's Stage service.
func (p *Plugin) Stage() stagev1.StageClient { return p.conn.Stage }

// Resources is the gRPC client of the Resources service, or an error when the
// plugin does not serve it.
func (p *Plugin) Resources() (stagev1.ResourcesClient, error) {
	if p.Desc == nil || !p.Desc.Resources {
		return nil, fmt.Errorf("%s does not serve the resources service", p.Label())
	}
	return p.conn.Resources, nil
}

// Call runs f with the plugin's per-call deadline and names the plugin in
// the error.
func (p *Plugin) Call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	timeout := p.Spec.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: %s: no answer within %v", p.Label(), what, timeout)
		}
		if st, ok := status.FromError(err); ok {
			return fmt.Errorf("%s: %s: %s", p.Label(), what, st.Message())
		}
		return fmt.Errorf("%s: %s: %w", p.Label(), what, err)
	}
	return nil
}

// Close ends the plugin process.
func (p *Plugin) Close() {
	if p.client != nil {
		p.client.Kill()
	}
}

// Launch starts one plugin and asks Describe.
func Launch(ctx context.Context, log *logging.Logger, s Spec) (*Plugin, error) {
	p := &Plugin{Spec: s}
	path, err := Resolve(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Label(), err)
	}
	p.Path = path
	start := s.StartTimeout
	if start == 0 {
		start = defaultStartTimeout
	}
	cmd := exec.Command(path, s.Args...)
	// A plugin must not outlive a rung that was killed mid-call.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           log.Plugin(filepath.Base(path)),
		StartTimeout:     start,
	})
	rpc, err := p.client.Client()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: launching %s: %w", p.Label(), path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", p.Label(), err)
	}
	p.conn = raw.(*sdk.Conn)
	err = p.Call(ctx, "describe", func(ctx context.Context) error {
		d, err := p.conn.Stage.Describe(ctx, &stagev1.DescribeRequest{})
		p.Desc = d
		return err
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	if p.Desc.ProtocolVersion != sdk.ProtocolVersion {
		p.Close()
		return nil, fmt.Errorf("%s: speaks stage protocol %d, rung speaks %d", p.Label(), p.Desc.ProtocolVersion, sdk.ProtocolVersion)
	}
	if p.Desc.Stage != s.Stage {
		p.Close()
		return nil, fmt.Errorf("%s: describes itself as stage %q", p.Label(), p.Desc.Stage)
	}
	return p, nil
}

// Set is the plugins of one rung command.
type Set []*Plugin

// LaunchAll starts every plugin at once; on any failure it ends the others.
func LaunchAll(ctx context.Context, log *logging.Logger, specs []Spec) (Set, error) {
	set := make(Set, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set[i], errs[i] = Launch(ctx, log, s)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		set.Close()
		return nil, firstError(errs)
	}
	return set, nil
}

// firstError keeps error messages one line: the first failure in stage order.
func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Close ends every plugin.
func (s Set) Close() {
	for _, p := range s {
		if p != nil {
			p.Close()
		}
	}
}

// Each runs f on every plugin concurrently and returns the first error in
// stage order.
func (s Set) Each(f func(p *Plugin) error) error {
	errs := make([]error, len(s))
	var wg sync.WaitGroup
	for i, p := range s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(p)
		}()
	}
	wg.Wait()
	return firstError(errs)
}

// ByStage finds the plugin of a stage.
func (s Set) ByStage(stage string) *Plugin {
	for _, p := range s {
		if p.Spec.Stage == stage {
			return p
		}
	}
	return nil
}
