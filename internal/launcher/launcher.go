// Package launcher finds, checks and starts stage plugins (go-plugin's
// launch protocol, then gRPC) and gives the host typed calls with deadlines.
package launcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/wire"
)

// Spec names one configured plugin.
type Spec struct {
	Stage string
	// Name is the operator config's name for the plugin (the stage's own
	// plugin, or one of its annotation-selectable alternatives); informative.
	Name   string
	Binary string // a name searched in the plugin dirs, or an absolute path
	// SHA256 pins the binary's content (lowercase hex). Empty: not pinned.
	SHA256 string
	Args   []string
	// Config is the plugin's own block, passed through to it.
	Config []byte
	// Timeout bounds each call; StartTimeout bounds launch and handshake.
	Timeout      time.Duration
	StartTimeout time.Duration
	// PoolIdle keeps the plugin warm: one process serves every command of
	// the same binary, and ends after this long with none connected. 0
	// launches it for each command and ends it with the command.
	PoolIdle time.Duration
}

// Defaults are the four built-in stages, in the order the host reports them.
func Defaults() []Spec {
	return []Spec{
		{Stage: "namespaces", Binary: "rung-namespaces"},
		{Stage: "cgroups", Binary: CgroupsBinary()},
		{Stage: "seccomp", Binary: "rung-seccomp"},
		{Stage: "lsm", Binary: "rung-lsm"},
	}
}

// CgroupsBinary is the built-in plugin for the cgroups stage on this host:
// rung-cgroupv2 where /sys/fs/cgroup is a cgroup2 mount (unified mode),
// rung-cgroupv1 on hybrid and legacy hosts, whose controllers are in the v1
// hierarchies - the choice runc makes between its two managers.
func CgroupsBinary() string {
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &fs); err == nil && fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return "rung-cgroupv1"
	}
	return "rung-cgroupv2"
}

// A plugin's start is exec plus the Go runtime plus the handshake: a few ms
// on an idle host, but seconds on a loaded one or under emulation, and a
// missed start deadline fails the create; a call on a started plugin is
// cheap, so its deadline is the one that catches hangs.
const (
	defaultTimeout      = 10 * time.Second
	defaultStartTimeout = 15 * time.Second
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

// Resolve finds the plugin's binary, follows symlinks to the file itself,
// and checks that every path on the way may be trusted.
func Resolve(s Spec) (string, error) {
	p := s.Binary
	if !filepath.IsAbs(p) {
		if p == "" || strings.ContainsRune(p, '/') {
			return "", fmt.Errorf("plugin binary %q is neither a plain name nor an absolute path", p)
		}
		p = ""
		for _, d := range PluginDirs() {
			cand := filepath.Join(d, s.Binary)
			if _, err := os.Lstat(cand); err == nil {
				p = cand
				break
			}
		}
		if p == "" {
			return "", fmt.Errorf("plugin binary %s not found in %v", s.Binary, PluginDirs())
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	if real != p {
		// The link's own directory decides where it points.
		if err := checkDir(filepath.Dir(p)); err != nil {
			return "", err
		}
	}
	return real, CheckTrusted(real)
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
	return checkDir(filepath.Dir(path))
}

func checkDir(dir string) error {
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

// Checksum is the lowercase hex sha256 of the file at path, as a config
// pins it.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return checksumOf(f)
}

func checksumOf(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// OpenVerified opens the binary that will be executed and checks that very
// inode: its owner and mode, and its content against the pin. The plugin is
// then executed from this descriptor, so nothing can swap the file between
// the check and the exec.
func OpenVerified(path, pin string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("plugin %s is not a regular file", path)
	}
	if err == nil {
		err = trustedInode(path, fi)
	}
	if err == nil && pin != "" {
		var sum string
		if sum, err = checksumOf(f); err == nil && sum != strings.ToLower(pin) {
			err = &ChecksumError{Path: path, Have: sum, Want: pin}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ChecksumError is a plugin binary whose content is not the one the config
// pins.
type ChecksumError struct {
	Path, Have, Want string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch: %s has sha256 %s, the config pins %s", e.Path, e.Have, e.Want)
}

// Plugin is a launched, described plugin.
type Plugin struct {
	Spec Spec
	Path string
	Desc *stagev1.DescribeResponse
	conn *wire.Conn
	proc *process
	// warm is the connection to a warm plugin; closing it leaves the
	// plugin running for the next command.
	warm *grpc.ClientConn
	log  *logging.Logger
	// Kept is a kept Prepare answer standing in for the plugin, which was
	// then neither launched nor dialled: its calls fail. See kept.go.
	Kept *stagev1.PrepareResponse
	// kept is where this plugin's answers may be kept, nil if nowhere.
	kept *keptIdentity
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
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p.conn == nil {
		return fmt.Errorf("%s: %s: not launched (a kept answer stands in for it)", p.Label(), what)
	}
	began := time.Now()
	err := f(ctx)
	if p.log != nil && p.log.Debugging() {
		p.log.Debug("plugin call", "stage", p.Spec.Stage, "call", what, "ms", logging.MsSince(began))
	}
	if err != nil {
		// gRPC hands the deadline to the plugin, whose server may reset the
		// stream a moment before our own timer fires; a cancel we did not
		// ask for is the deadline too.
		code := status.Code(err)
		deadline := errors.Is(ctx.Err(), context.DeadlineExceeded) ||
			((code == codes.DeadlineExceeded || code == codes.Canceled) && parent.Err() == nil)
		if deadline {
			return fmt.Errorf("%s: %s: no answer within %v", p.Label(), what, timeout)
		}
		if st, ok := status.FromError(err); ok {
			return fmt.Errorf("%s: %s: %s", p.Label(), what, st.Message())
		}
		return fmt.Errorf("%s: %s: %w", p.Label(), what, err)
	}
	return nil
}

// Warm says whether the plugin is a warm one this command connected to.
func (p *Plugin) Warm() bool { return p.warm != nil }

// Close ends the plugin process, or this command's connection to a warm one.
func (p *Plugin) Close() {
	if p.proc != nil {
		p.proc.close()
	}
	if p.warm != nil {
		p.warm.Close()
	}
}

// SpecSource gives the launcher the container's config.json once the
// bundle is read (nil if it could not be), so that a kept answer may stand
// in for a plugin; a nil SpecSource keeps and uses nothing.
type SpecSource func() []byte

// Launch starts one plugin, or connects to its warm process, and asks
// Describe.
func Launch(ctx context.Context, log *logging.Logger, s Spec) (*Plugin, error) {
	return launchOne(ctx, log, s, nil)
}

func launchOne(ctx context.Context, log *logging.Logger, s Spec, spec SpecSource) (*Plugin, error) {
	p := &Plugin{Spec: s, log: log}
	path, err := Resolve(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Label(), err)
	}
	p.Path = path
	var id *keptIdentity
	var keptDesc *stagev1.DescribeResponse
	if spec != nil {
		id = identityFor(s, path)
	}
	if id != nil {
		keptDesc = id.loadDescription()
		if p.useKept(id, keptDesc, spec) {
			log.Debug("plugin kept answer", "stage", s.Stage)
			return p, nil
		}
	}
	if err := p.start(ctx, log); err != nil {
		return nil, err
	}
	if id != nil && keepable(p.Desc) {
		p.kept = id
	}
	if id != nil && (keepable(p.Desc) || keptDesc != nil) && !proto.Equal(keptDesc, p.Desc) {
		id.keepDescription(p.Desc)
	}
	return p, nil
}

// useKept takes the kept answer for this container's spec, if there is
// one the host may use; it waits for the spec only when the plugin's kept
// Describe allows kept answers.
func (p *Plugin) useKept(id *keptIdentity, d *stagev1.DescribeResponse, spec SpecSource) bool {
	if d == nil {
		return false
	}
	p.Desc = d
	if p.checkDescription() == nil && keepable(d) {
		if raw := spec(); raw != nil {
			if r := id.loadPlan(id.planKey(d, raw)); r != nil && KeptAnswer(d, r) {
				p.Kept = r
				return true
			}
		}
	}
	p.Desc = nil
	return false
}

// KeepAnswer keeps r, the plugin's answer to specJSON, for later
// containers, when the plugin and the answer allow it.
func (p *Plugin) KeepAnswer(specJSON []byte, r *stagev1.PrepareResponse) {
	if p.kept != nil && p.Kept == nil && KeptAnswer(p.Desc, r) {
		p.kept.keepPlan(p.kept.planKey(p.Desc, specJSON), r)
	}
}

// start connects to the plugin's warm process or launches its own, and
// has its Describe answer.
func (p *Plugin) start(ctx context.Context, log *logging.Logger) error {
	s, path := p.Spec, p.Path
	idle, err := poolIdle(s)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Label(), err)
	}
	if idle > 0 {
		// A warm plugin that goes idle just as we dial it answers nothing;
		// the second try starts a new one.
		for try := 0; try < 2; try++ {
			cc, m, err := dialWarm(ctx, log, s, path, idle)
			if errors.Is(err, ErrNoPool) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: warm plugin: %w", p.Label(), err)
			}
			p.warm, p.conn = cc, wire.NewConn(cc)
			// A kept answer the host could not use is asked again (and
			// replaced) rather than trusted or fatal.
			if p.Desc = m.cachedDescription(); p.Desc != nil {
				if p.checkDescription() == nil {
					return nil
				}
				p.Desc = nil
			}
			err = p.describe(ctx)
			if err == nil {
				m.keepDescription(p.Desc)
				return nil
			}
			if !errors.Is(err, errWarmGone) || try == 1 {
				return err
			}
			log.Debugf("%s: %v; starting another", p.Label(), err)
			p.warm, p.conn, p.Desc = nil, nil, nil
		}
	}
	if err := p.launch(ctx, log); err != nil {
		return err
	}
	return p.describe(ctx)
}

// errWarmGone is a warm plugin that stopped answering as we connected: it
// reached its idle time.
var errWarmGone = errors.New("warm plugin went away")

// launch starts the plugin's own process for this command.
func (p *Plugin) launch(ctx context.Context, log *logging.Logger) error {
	s, path := p.Spec, p.Path
	bin, err := OpenVerified(path, s.SHA256)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Label(), err)
	}
	defer bin.Close()
	proc, err := startProcess(ctx, bin, path, s.Args, log.PluginLog(filepath.Base(path)), startTimeout(s))
	if err != nil {
		return fmt.Errorf("%s: launching %s: %w", p.Label(), path, err)
	}
	p.proc, p.conn = proc, wire.NewConn(proc.cc)
	return nil
}

// describe asks Describe and checks the answer; on any problem it ends the
// plugin.
func (p *Plugin) describe(ctx context.Context) error {
	var rpcErr error
	err := p.Call(ctx, "describe", func(ctx context.Context) error {
		p.Desc, rpcErr = p.conn.Stage.Describe(ctx, &stagev1.DescribeRequest{})
		return rpcErr
	})
	if err != nil {
		p.Close()
		if p.warm != nil && status.Code(rpcErr) == codes.Unavailable {
			return fmt.Errorf("%w: %v", errWarmGone, err)
		}
		return err
	}
	if err := p.checkDescription(); err != nil {
		p.Close()
		return err
	}
	return nil
}

// checkDescription refuses a Describe answer, asked or kept, that the host
// cannot use.
func (p *Plugin) checkDescription() error {
	if p.Desc.ProtocolVersion != wire.ProtocolVersion {
		return fmt.Errorf("%s: protocol version mismatch: the plugin speaks stage protocol %d, rung speaks %d", p.Label(), p.Desc.ProtocolVersion, wire.ProtocolVersion)
	}
	if err := CheckDescription(p.Desc); err != nil {
		desc := p.Desc
		p.Desc = nil // its name is suspect too; name the binary
		return fmt.Errorf("%s: invalid describe answer: %w (name %.64q)", p.Label(), err, desc.GetName())
	}
	if p.Desc.Stage != p.Spec.Stage {
		return fmt.Errorf("%s: describes itself as stage %q", p.Label(), p.Desc.Stage)
	}
	return nil
}

// Bounds on a Describe answer: it names the plugin in errors and logs, so it
// must be short and printable.
const (
	maxNameLen  = 128
	maxHandles  = 256
	maxFeatures = 1 << 20
)

// CheckDescription refuses Describe answers the host cannot use: a missing
// or unprintable name, version or stage, or features that are not a JSON
// object.
func CheckDescription(d *stagev1.DescribeResponse) error {
	for _, f := range []struct{ what, v string }{{"name", d.GetName()}, {"version", d.GetVersion()}, {"stage", d.GetStage()}} {
		if f.v == "" {
			return fmt.Errorf("%s is empty", f.what)
		}
		if len(f.v) > maxNameLen || !printable(f.v) {
			return fmt.Errorf("%s is not a short printable string", f.what)
		}
	}
	if !ValidStageName(d.GetStage()) {
		return fmt.Errorf("stage %q is not a stage name (lowercase letters, digits and '-', at most 32)", d.GetStage())
	}
	if err := CheckPlanInputs(d.GetPlanInputs()); err != nil {
		return err
	}
	if len(d.GetHandles()) > maxHandles {
		return fmt.Errorf("%d handled fields, at most %d", len(d.GetHandles()), maxHandles)
	}
	for _, h := range d.GetHandles() {
		if h == "" || len(h) > maxNameLen || !printable(h) || strings.ContainsRune(h, ' ') {
			return fmt.Errorf("handled field %.64q is not a JSON path", h)
		}
	}
	if fj := d.GetFeaturesJson(); len(fj) > 0 {
		var obj map[string]json.RawMessage
		if len(fj) > maxFeatures {
			return fmt.Errorf("features of %d bytes, at most %d", len(fj), maxFeatures)
		}
		if err := json.Unmarshal(fj, &obj); err != nil {
			return fmt.Errorf("features are not a JSON object: %w", err)
		}
	}
	return nil
}

var stageNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`) })

// ValidStageName says whether s may name a stage: it becomes part of
// annotation keys and state file keys.
func ValidStageName(s string) bool { return stageNameRE().MatchString(s) }

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// Set is the plugins of one rung command.
type Set []*Plugin

// LaunchAll starts every plugin at once; on any failure it ends the others.
// With spec, a kept answer may stand in for a plugin (see SpecSource).
func LaunchAll(ctx context.Context, log *logging.Logger, specs []Spec, spec SpecSource) (Set, error) {
	set := make(Set, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set[i], errs[i] = launchOne(ctx, log, s, spec)
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

// Close ends every plugin, all at once: each waits for its process to exit.
// Connections to warm plugins are closed without waiting: the plugin owes
// this command nothing more, and a command that exits meanwhile closes them
// with its sockets (2-3 ms of a create otherwise).
func (s Set) Close() {
	var wg sync.WaitGroup
	for _, p := range s {
		if p == nil {
			continue
		}
		if p.proc == nil {
			go p.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Close()
		}()
	}
	wg.Wait()
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

var (
	socketDirOnce sync.Once
	socketDirPath string
)

// socketDir is where plugins put their gRPC sockets: a root-only directory
// on tmpfs rather than the world-writable /tmp. On a disk file system every
// socket (and go-plugin's temp file) costs a journalled inode, about 1 ms
// each here; on tmpfs a few microseconds. "" leaves go-plugin's default.
func socketDir() string {
	socketDirOnce.Do(func() {
		const dir = "/dev/shm/rung-plugins"
		var fs unix.Statfs_t
		if unix.Statfs("/dev/shm", &fs) != nil || fs.Type != unix.TMPFS_MAGIC {
			return
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return
		}
		// Someone else's directory (or a symlink) there is not ours to use.
		var st unix.Stat_t
		if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o077 != 0 {
			return
		}
		socketDirPath = dir
		go func() {
			if sweepDue(dir, time.Now()) {
				sweepStaleSockets(dir)
			}
		}()
	})
	return socketDirPath
}

// sweepStamp's mtime is when a command last swept the socket directory.
const sweepStamp = "sweep-stamp"

// sweepDue says whether this command sweeps, and if so stamps the time: at
// most one sweep a minute, since nothing younger than a minute is swept,
// and reading a directory of hundreds of kept answers cost a delete more
// than its Destroy call.
func sweepDue(dir string, now time.Time) bool {
	stamp := filepath.Join(dir, sweepStamp)
	var st unix.Stat_t
	if unix.Lstat(stamp, &st) == nil && now.Sub(time.Unix(st.Mtim.Unix())) < time.Minute {
		return false
	}
	if f, err := os.OpenFile(stamp, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600); err == nil {
		f.Close()
	}
	_ = os.Chtimes(stamp, now, now)
	return true
}

// sweepStaleSockets removes the sockets of per-command plugins that died
// without closing them: a rung killed mid-command takes its plugins with it
// (SIGKILL, Pdeathsig), and go-plugin's socket file stays; and those of
// warm plugins that were killed (a new one would replace them anyway). Only
// when there are many, and only sockets a minute old that nobody listens
// on: a live plugin always does; then the files of warm members left with no
// plugin. It runs in the background; a command that ends first leaves the
// rest to the next.
func sweepStaleSockets(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	// Kept answers are many by design and bounded on their own (maxKept):
	// they must not make every command sweep.
	if len(ents)-countKept(ents) < staleSweepAt {
		return
	}
	for _, e := range ents {
		n := e.Name()
		stale := strings.HasPrefix(n, "plugin") || (strings.HasPrefix(n, "warm-") && strings.HasSuffix(n, ".sock"))
		if !stale || e.Type()&os.ModeSocket == 0 {
			continue
		}
		path := filepath.Join(dir, n)
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, unix.ECONNREFUSED) {
			_ = os.Remove(path)
		}
	}
	sweepIdleMembers(dir, ents)
}

// staleSweepAt is how many entries the socket directory may hold before a
// command sweeps it.
const staleSweepAt = 64
