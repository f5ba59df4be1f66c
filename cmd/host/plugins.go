package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/rung-runtime/rung/internal/config"
	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
)

// loadConfig reads (once per command) the operator config --config names.
func loadConfig(c *cli.Context) (*config.Config, error) {
	if cfg, ok := c.App.Metadata["config"].(*config.Config); ok {
		return cfg, nil
	}
	path := c.String("config")
	if path == "" {
		return nil, errors.New("--config: must not be empty")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	c.App.Metadata["config"] = cfg
	return cfg, nil
}

// pluginsFor is the pipeline for this command's container. create and run
// honour the annotations of the bundle's config.json where the config lets
// them pick a plugin; later commands repeat the choice from the container's
// stored annotations, so delete reaches the plugin that made it.
func pluginsFor(c *cli.Context, root string) ([]launcher.Spec, error) {
	id := c.Args().First()
	cfg, err := loadConfig(c)
	if err != nil {
		// state and list never launch a plugin, and a broken config must
		// not stop containerd's delete --force of a container that never
		// came to be either: it needs none.
		if c.Command.Name == "state" || c.Command.Name == "list" {
			return config.Default().Specs(), nil
		}
		if c.Command.Name != "create" && c.Command.Name != "run" && state.ValidateID(id) == nil {
			if _, lerr := (state.Store{Root: root}).Load(id); errors.Is(lerr, state.ErrNotExist) {
				return config.Default().Specs(), nil
			}
		}
		return nil, err
	}
	switch c.Command.Name {
	case "create", "run":
		specs, err := cfg.Select(bundleAnnotations(c.String("bundle")))
		if err != nil {
			return nil, fmt.Errorf("container %q: %w", id, err)
		}
		return specs, nil
	}
	if id == "" || state.ValidateID(id) != nil || !cfg.HasChoices() {
		return cfg.Specs(), nil
	}
	rec, err := (state.Store{Root: root}).Load(id)
	if err != nil || len(rec.Annotations) == 0 {
		return cfg.Specs(), nil
	}
	specs, problems := cfg.SelectLenient(rec.Annotations)
	for _, p := range problems {
		logFrom(c).Warnf("container %q: %v; using the stage's configured plugin", id, p)
	}
	return specs, nil
}

// bundleAnnotations reads only the annotations of the bundle's config.json;
// any problem with the file is create's to report, with the bundle's own
// error, so here it just means no annotations.
func bundleAnnotations(bundle string) map[string]string {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil
	}
	var doc struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	return doc.Annotations
}

// pluginReport is one configured plugin as `rung plugins` shows it.
type pluginReport struct {
	Stage string `json:"stage"`
	Name  string `json:"name"`
	// Role: "built-in", "replaced" (a built-in stage with another binary),
	// "extra" (a stage the config adds) or "alternative".
	Role string `json:"role"`
	// Annotation selects this alternative (or names the alternatives a
	// pipeline plugin may be swapped for).
	Annotation string   `json:"annotation,omitempty"`
	Selectable []string `json:"selectable,omitempty"`
	Binary     string   `json:"binary"`
	Path       string   `json:"path,omitempty"`
	SHA256     string   `json:"sha256,omitempty"`
	Pinned     string   `json:"pinned,omitempty"`
	// Checksum: "match", "mismatch", "not pinned" or "unknown".
	Checksum string          `json:"checksum"`
	Describe *describeReport `json:"describe,omitempty"`
	Error    string          `json:"error,omitempty"`
	desc     *stagev1.DescribeResponse
}

type describeReport struct {
	Name            string   `json:"name"`
	Version         string   `json:"version"`
	ProtocolVersion uint32   `json:"protocolVersion"`
	Stage           string   `json:"stage"`
	Handles         []string `json:"handles,omitempty"`
	Resources       bool     `json:"resources,omitempty"`
}

func pluginsCommand() *cli.Command {
	return &cli.Command{
		Name:  "plugins",
		Usage: "list the configured stage plugins, what each says of itself and whether its checksum matches",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "table" && format != "json" {
				return fmt.Errorf("plugins: --format %q: use table or json", format)
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			reports := inspectPlugins(c, cfg)
			bad := 0
			for _, r := range reports {
				if r.Error != "" {
					bad++
				}
			}
			if format == "json" {
				doc := map[string]any{"config": c.String("config"), "file": cfg.Source != "", "plugins": reports}
				if err := printJSON(doc); err != nil {
					return err
				}
			} else {
				source := cfg.Source
				if source == "" {
					source = c.String("config") + " (missing: the built-in pipeline)"
				}
				printPluginTable(c, source, reports)
			}
			if bad > 0 {
				return fmt.Errorf("plugins: %d of %d configured plugins have problems", bad, len(reports))
			}
			return nil
		},
	}
}

// inspectPlugins launches every configured plugin, alternatives included,
// at once, and asks each to describe itself.
func inspectPlugins(c *cli.Context, cfg *config.Config) []*pluginReport {
	all := append(append([]config.Plugin{}, cfg.Pipeline...), cfg.Alternatives...)
	reports := make([]*pluginReport, len(all))
	var wg sync.WaitGroup
	for i, p := range all {
		r := &pluginReport{Stage: p.Spec.Stage, Name: p.Name, Binary: p.Spec.Binary, Pinned: p.Spec.SHA256,
			Selectable: p.Selectable, Checksum: "unknown"}
		switch {
		case p.Alternative:
			r.Role, r.Annotation = "alternative", config.AnnotationPrefix+p.Spec.Stage+"="+p.Name
		case p.Replaced:
			r.Role = "replaced"
		case p.Builtin:
			r.Role = "built-in"
		default:
			r.Role = "extra"
		}
		if !p.Alternative && len(p.Selectable) > 0 {
			r.Annotation = config.AnnotationPrefix + p.Spec.Stage
		}
		reports[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			inspect(ctxOf(c), c, p.Spec, r)
		}()
	}
	wg.Wait()
	return reports
}

func inspect(ctx context.Context, c *cli.Context, s launcher.Spec, r *pluginReport) {
	if ctx == nil {
		ctx = context.Background()
	}
	path, err := launcher.Resolve(s)
	r.Path = path
	if err != nil {
		r.Error = err.Error()
		return
	}
	if sum, err := launcher.Checksum(path); err == nil {
		r.SHA256 = sum
		switch {
		case s.SHA256 == "":
			r.Checksum = "not pinned"
		case sum == s.SHA256:
			r.Checksum = "match"
		default:
			r.Checksum = "mismatch"
		}
	}
	p, err := launcher.Launch(ctx, logFrom(c), s)
	if err != nil {
		r.Error = strings.ReplaceAll(err.Error(), "\n", " ")
		return
	}
	defer p.Close()
	d := p.Desc
	r.desc = d
	r.Describe = &describeReport{Name: d.GetName(), Version: d.GetVersion(), ProtocolVersion: d.GetProtocolVersion(),
		Stage: d.GetStage(), Handles: d.GetHandles(), Resources: d.GetResources()}
}

func printPluginTable(c *cli.Context, source string, reports []*pluginReport) {
	out := c.App.Writer
	fmt.Fprintf(out, "config: %s\n", source)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STAGE\tNAME\tROLE\tPLUGIN\tVERSION\tPROTOCOL\tCHECKSUM\tPATH")
	for _, r := range reports {
		plugin, version, proto := "-", "-", "-"
		if d := r.desc; d != nil {
			plugin, version, proto = d.GetName(), d.GetVersion(), fmt.Sprint(d.GetProtocolVersion())
		}
		path := r.Path
		if path == "" {
			path = r.Binary
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Stage, r.Name, r.Role, plugin, version, proto, r.Checksum, path)
	}
	w.Flush()
	for _, r := range reports {
		if r.Annotation != "" && r.Role != "alternative" {
			fmt.Fprintf(out, "stage %s: a container may pick %s with the annotation %s=<name>\n",
				r.Stage, strings.Join(r.Selectable, ", "), r.Annotation)
		}
	}
	for _, r := range reports {
		if r.SHA256 != "" {
			fmt.Fprintf(out, "sha256 %s  %s\n", r.SHA256, r.Path)
		}
	}
	for _, r := range reports {
		if r.Error != "" {
			fmt.Fprintf(out, "error: %s/%s: %s\n", r.Stage, r.Name, r.Error)
		}
	}
}
