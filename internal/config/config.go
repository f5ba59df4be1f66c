// Package config reads the operator's rung config: which plugin fills each
// stage, its checksum, arguments, own config block and deadlines, the extra
// stages that join the pipeline, and which alternative plugins a container
// may pick by annotation.
//
// The file is JSON, like the bundle's config.json, so reading it needs no
// parser beyond encoding/json. It adjusts and extends the built-in pipeline
// (launcher.Defaults); without a file the built-in pipeline runs
// unchanged.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rung-runtime/rung/internal/launcher"
)

// DefaultPath is where rung looks for the config unless --config (or
// RUNG_CONFIG) says otherwise.
const DefaultPath = "/etc/rung/config.json"

// AnnotationPrefix, followed by a stage name, is the annotation with which
// a container picks one of the alternatives the config allows for that
// stage: io.github.rung-runtime.plugin.seccomp=seccomp-strict.
const AnnotationPrefix = "io.github.rung-runtime.plugin."

// maxFile bounds the config file; anything larger is not a config.
const maxFile = 1 << 20

// maxTimeout bounds a configured deadline: a plugin that may hang a create
// for longer is a hung create.
const maxTimeout = 10 * time.Minute

// File is the config file's JSON form.
type File struct {
	// Plugins adjust the built-in stages or add stages after them, in order.
	Plugins []Entry `json:"plugins"`
	// Alternatives are plugins a container may choose by annotation for a
	// stage whose entry lists them in allowAnnotationOverride.
	Alternatives []Entry `json:"alternatives,omitempty"`
	// Pool keeps plugin processes warm across rung commands.
	Pool *Pool `json:"pool,omitempty"`
}

// Pool is the warm plugin pool: each plugin binary runs once and serves
// every command (over a root-only unix socket) until it has had no command
// for IdleTimeout. Without it every command launches its plugins and ends
// them.
type Pool struct {
	IdleTimeout Duration `json:"idleTimeout"`
}

// maxPoolIdle bounds how long an idle plugin may linger: past an hour a
// warm plugin is a daemon, which wants a service manager, not a runtime.
const maxPoolIdle = time.Hour

// Entry is one plugin in the file.
type Entry struct {
	// Name is what an annotation selects; required for alternatives, the
	// stage name by default for pipeline entries.
	Name  string `json:"name,omitempty"`
	Stage string `json:"stage"`
	// Replace must be set for an entry that puts another binary in a
	// built-in stage, so a new plugin cannot take over one by accident.
	Replace bool `json:"replace,omitempty"`
	// Binary is a name looked up in the plugin directories or an absolute
	// path. Optional for an entry that only adjusts a built-in stage.
	Binary string `json:"binary,omitempty"`
	// SHA256 pins the binary's content (hex); rung refuses another.
	SHA256 string   `json:"sha256,omitempty"`
	Args   []string `json:"args,omitempty"`
	// Config is passed to the plugin as sdk.Container.Config; a JSON object.
	Config       json.RawMessage `json:"config,omitempty"`
	Timeout      Duration        `json:"timeout,omitempty"`
	StartTimeout Duration        `json:"startTimeout,omitempty"`
	// AllowAnnotationOverride names the alternatives a container may pick
	// for this stage with the annotation AnnotationPrefix+stage.
	AllowAnnotationOverride []string `json:"allowAnnotationOverride,omitempty"`
	// Warm false launches this plugin per command even when the pool is on
	// (a plugin that keeps something in memory between calls).
	Warm *bool `json:"warm,omitempty"`
}

// Duration is a Go duration string in JSON ("10s", "1m30s").
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Plugin is one resolved plugin of the config.
type Plugin struct {
	// Name selects the plugin in an annotation.
	Name string
	Spec launcher.Spec
	// Builtin is set for the four stages rung ships with; Replaced when the
	// config put another binary in one of them.
	Builtin, Replaced bool
	// Alternative is set for plugins only an annotation selects.
	Alternative bool
	// Selectable lists, for a pipeline plugin, the alternatives an
	// annotation may pick instead of it.
	Selectable []string
}

// Config is the loaded config.
type Config struct {
	// Source is the file read, or "" for the embedded default.
	Source string
	// Pipeline is every stage's plugin in the order they run and report.
	Pipeline []Plugin
	// Alternatives are the annotation-selectable plugins.
	Alternatives []Plugin
}

// Compiled on first use: every rung command (and the container's init, the
// same binary) would otherwise pay for it at start-up.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// Default is the built-in pipeline, as when there is no config file:
// launcher.Defaults, whose cgroups plugin fits the host's cgroup mode.
func Default() *Config {
	c := &Config{}
	for _, s := range launcher.Defaults() {
		s.Name = s.Stage
		c.Pipeline = append(c.Pipeline, Plugin{Name: s.Stage, Spec: s, Builtin: true})
	}
	return c
}

// Load reads the config at path. A missing file means the embedded
// default; a file that exists must be root-owned, not writable by group or
// others (it decides what runs as root), and valid.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	if err := trusted(path, f); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxFile)
	}
	return Parse(data, path)
}

func trusted(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	check := func(what string, fi os.FileInfo) error {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return fmt.Errorf("%s is owned by uid %d, not root", what, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0 && fi.Mode().Perm()&0o002 == 0) {
			return fmt.Errorf("%s is writable by group or others (mode %v)", what, fi.Mode().Perm())
		}
		return nil
	}
	if err := check("the file", fi); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	di, err := os.Stat(filepath.Dir(real))
	if err != nil {
		return err
	}
	return check("its directory "+filepath.Dir(real), di)
}

// Parse reads a config file's content; source names it in errors.
func Parse(data []byte, source string) (*Config, error) {
	c, err := build(data, source, Default())
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", source, err)
	}
	return c, nil
}

func decode(data []byte) (*File, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return &f, nil
}

// build applies a file to base (nil: data is the built-in pipeline itself).
func build(data []byte, source string, base *Config) (*Config, error) {
	f, err := decode(data)
	if err != nil {
		return nil, err
	}
	c := &Config{Source: source}
	c.Pipeline = append(c.Pipeline, base.Pipeline...)
	seen := map[string]bool{}
	for i, e := range f.Plugins {
		where := fmt.Sprintf("plugins[%d]", i)
		if err := e.check(where, false); err != nil {
			return nil, err
		}
		if seen[e.Stage] {
			return nil, fmt.Errorf("%s: stage %q is configured twice", where, e.Stage)
		}
		seen[e.Stage] = true
		idx := -1
		for j := range c.Pipeline {
			if c.Pipeline[j].Spec.Stage == e.Stage {
				idx = j
			}
		}
		switch {
		case idx < 0:
			if e.Replace {
				return nil, fmt.Errorf("%s: stage %q is not a built-in stage, so there is nothing to replace", where, e.Stage)
			}
			if e.Binary == "" {
				return nil, fmt.Errorf("%s: binary is required for the new stage %q", where, e.Stage)
			}
			c.Pipeline = append(c.Pipeline, Plugin{Name: e.name(), Spec: e.spec()})
		case e.Replace:
			if e.Binary == "" {
				return nil, fmt.Errorf("%s: replace needs the binary that replaces stage %q", where, e.Stage)
			}
			c.Pipeline[idx] = Plugin{Name: e.name(), Spec: e.spec(), Builtin: true, Replaced: true}
		default:
			b := &c.Pipeline[idx]
			if e.Binary != "" && e.Binary != b.Spec.Binary {
				return nil, fmt.Errorf("%s: stage %q is a built-in stage (%s); set \"replace\": true to put %s in its place",
					where, e.Stage, b.Spec.Binary, e.Binary)
			}
			b.adjust(e)
		}
		c.Pipeline[indexOf(c.Pipeline, e.Stage)].Selectable = e.AllowAnnotationOverride
	}
	alts := map[string]int{}
	for i, e := range f.Alternatives {
		where := fmt.Sprintf("alternatives[%d]", i)
		if err := e.check(where, true); err != nil {
			return nil, err
		}
		if _, dup := alts[e.Name]; dup {
			return nil, fmt.Errorf("%s: alternative %q is named twice", where, e.Name)
		}
		j := indexOf(c.Pipeline, e.Stage)
		if j < 0 {
			return nil, fmt.Errorf("%s (%s): stage %q is not in the pipeline", where, e.Name, e.Stage)
		}
		if c.Pipeline[j].Name == e.Name {
			return nil, fmt.Errorf("%s: %q already names the stage's own plugin", where, e.Name)
		}
		alts[e.Name] = len(c.Alternatives)
		c.Alternatives = append(c.Alternatives, Plugin{Name: e.Name, Spec: e.spec(), Alternative: true})
	}
	if err := c.applyPool(f); err != nil {
		return nil, err
	}
	for _, p := range c.Pipeline {
		for _, n := range p.Selectable {
			k, ok := alts[n]
			if !ok {
				return nil, fmt.Errorf("stage %s: allowAnnotationOverride names %q, which is not among the alternatives", p.Spec.Stage, n)
			}
			if c.Alternatives[k].Spec.Stage != p.Spec.Stage {
				return nil, fmt.Errorf("stage %s: allowAnnotationOverride names %q, an alternative for stage %s", p.Spec.Stage, n, c.Alternatives[k].Spec.Stage)
			}
		}
	}
	return c, nil
}

// applyPool gives every plugin the pool's idle time, unless its entry says
// warm: false.
func (c *Config) applyPool(f *File) error {
	if f.Pool == nil {
		return nil
	}
	idle := time.Duration(f.Pool.IdleTimeout)
	if idle <= 0 || idle > maxPoolIdle {
		return fmt.Errorf("pool.idleTimeout: %v is not in (0, %v]", idle, maxPoolIdle)
	}
	cold := map[string]bool{}
	for _, e := range append(append([]Entry(nil), f.Plugins...), f.Alternatives...) {
		if e.Warm != nil && !*e.Warm {
			cold[e.name()] = true
		}
	}
	for _, ps := range [][]Plugin{c.Pipeline, c.Alternatives} {
		for i := range ps {
			if !cold[ps[i].Name] {
				ps[i].Spec.PoolIdle = idle
			}
		}
	}
	return nil
}

func indexOf(ps []Plugin, stage string) int {
	for i := range ps {
		if ps[i].Spec.Stage == stage {
			return i
		}
	}
	return -1
}

func (e *Entry) check(where string, alternative bool) error {
	if !launcher.ValidStageName(e.Stage) {
		return fmt.Errorf("%s: stage %q is not a stage name (lowercase letters, digits and '-', at most 32, starting with a letter)", where, e.Stage)
	}
	if alternative {
		if e.Name == "" {
			return fmt.Errorf("%s: an alternative needs a name", where)
		}
		if e.Binary == "" {
			return fmt.Errorf("%s (%s): binary is required", where, e.Name)
		}
		if e.Replace || len(e.AllowAnnotationOverride) > 0 {
			return fmt.Errorf("%s (%s): replace and allowAnnotationOverride belong on the stage's entry in plugins", where, e.Name)
		}
	}
	if e.Name != "" && !nameRE().MatchString(e.Name) {
		return fmt.Errorf("%s: name %q is not a plugin name (lowercase letters, digits, '.', '_', '-', at most 64)", where, e.Name)
	}
	if b := e.Binary; b != "" {
		if strings.ContainsRune(b, '/') {
			if !filepath.IsAbs(b) || filepath.Clean(b) != b {
				return fmt.Errorf("%s: binary %q is neither a plain name nor a clean absolute path", where, b)
			}
		} else if b == "." || b == ".." {
			return fmt.Errorf("%s: binary %q is not a file name", where, b)
		}
	}
	if s := e.SHA256; s != "" {
		if len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
			return fmt.Errorf("%s: sha256 %q is not 64 hex digits", where, s)
		}
	}
	for _, a := range e.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%s: an argument holds a NUL byte", where)
		}
	}
	if len(e.Config) > 0 && string(e.Config) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Config, &obj); err != nil {
			return fmt.Errorf("%s: config must be a JSON object", where)
		}
	}
	for _, t := range []struct {
		what string
		d    Duration
	}{{"timeout", e.Timeout}, {"startTimeout", e.StartTimeout}} {
		if t.d < 0 || time.Duration(t.d) > maxTimeout {
			return fmt.Errorf("%s: %s %v is not between 0 and %v", where, t.what, time.Duration(t.d), maxTimeout)
		}
	}
	return nil
}

func (e *Entry) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Stage
}

func (e *Entry) spec() launcher.Spec {
	return withEntry(launcher.Spec{Stage: e.Stage, Name: e.name(), Binary: e.Binary}, e)
}

// adjust applies an entry's settings to a built-in stage's plugin.
func (p *Plugin) adjust(e Entry) {
	if e.Name != "" {
		p.Name = e.Name
	}
	p.Spec = withEntry(p.Spec, &e)
	p.Spec.Name = p.Name
}

// withEntry sets what the entry sets and keeps the rest of s.
func withEntry(s launcher.Spec, e *Entry) launcher.Spec {
	if e.SHA256 != "" {
		s.SHA256 = strings.ToLower(e.SHA256)
	}
	if e.Args != nil {
		s.Args = append([]string(nil), e.Args...)
	}
	if len(e.Config) > 0 && string(e.Config) != "null" {
		s.Config = append([]byte(nil), e.Config...)
	}
	if e.Timeout != 0 {
		s.Timeout = time.Duration(e.Timeout)
	}
	if e.StartTimeout != 0 {
		s.StartTimeout = time.Duration(e.StartTimeout)
	}
	return s
}

// Specs is the pipeline as the launcher takes it, every stage with its own
// plugin.
func (c *Config) Specs() []launcher.Spec {
	out := make([]launcher.Spec, len(c.Pipeline))
	for i, p := range c.Pipeline {
		out[i] = p.Spec
	}
	return out
}

// Select is the pipeline for a container with these annotations: a stage
// whose entry allows it gets the alternative its annotation names. An
// annotation the config does not allow is an error; a container must not
// run with another plugin than the one it asked for.
func (c *Config) Select(annotations map[string]string) ([]launcher.Spec, error) {
	specs, problems := c.choose(annotations)
	if len(problems) > 0 {
		return nil, problems[0]
	}
	return specs, nil
}

// SelectLenient is Select for a container that already exists (start,
// kill, delete): a choice the config no longer allows leaves the stage's
// own plugin, with the problem returned for a warning, so such a container
// can still be deleted.
func (c *Config) SelectLenient(annotations map[string]string) ([]launcher.Spec, []error) {
	return c.choose(annotations)
}

// HasChoices says whether any annotation could select another plugin than
// the configured one: without, a container's annotations change nothing.
func (c *Config) HasChoices() bool {
	for _, p := range c.Pipeline {
		if len(p.Selectable) > 0 {
			return true
		}
	}
	return false
}

func (c *Config) choose(annotations map[string]string) ([]launcher.Spec, []error) {
	specs := c.Specs()
	var keys []string
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var problems []error
	for _, k := range keys {
		stage, want := strings.TrimPrefix(k, AnnotationPrefix), annotations[k]
		i := indexOf(c.Pipeline, stage)
		if i < 0 {
			problems = append(problems, fmt.Errorf("annotation %s: no stage %q is configured", k, stage))
			continue
		}
		p := c.Pipeline[i]
		if want == p.Name {
			continue
		}
		if !contains(p.Selectable, want) {
			allowed := "allows no other plugin for it"
			if len(p.Selectable) > 0 {
				allowed = "allows only " + strings.Join(append([]string{p.Name}, p.Selectable...), ", ")
			}
			problems = append(problems, fmt.Errorf("annotation %s=%q: the rung config (%s) %s", k, want, c.describeSource(), allowed))
			continue
		}
		for _, a := range c.Alternatives {
			if a.Name == want {
				specs[i] = a.Spec
			}
		}
	}
	return specs, problems
}

func (c *Config) describeSource() string {
	if c.Source == "" {
		return "the built-in default"
	}
	return c.Source
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
