// Command stagetest runs rung's conformance kit (package stagetest) on a
// stage plugin binary and prints one line per check; it exits 1 if any
// check fails.
//
//	stagetest [flags] /path/to/plugin [plugin args...]
//
// Example, for the seccomp stage:
//
//	stagetest -stage seccomp \
//	  -bad 'linux.seccomp.defaultAction={"linux":{"seccomp":{"defaultAction":"SCMP_ACT_BOGUS"}}}' \
//	  bin/rung-seccomp
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk/stagetest"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var bads, anns list
	stage := flag.String("stage", "", "the stage the plugin must describe (any when empty)")
	cfg := flag.String("config", "", "the plugin's config block: JSON, or @file")
	specFile := flag.String("spec", "", "a config.json the plugin must accept (default: the kit's minimal spec)")
	timeout := flag.Duration("timeout", stagetest.DefaultTimeout, "per-call deadline")
	verbose := flag.Bool("v", false, "copy the plugin's log to stderr")
	flag.Var(&bads, "bad", "FIELD=PATCH: a JSON merge patch making the spec bad, refused with a field error under FIELD (repeatable)")
	flag.Var(&anns, "annotation", "KEY=VALUE added to the spec's annotations (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: stagetest [flags] PLUGIN [ARGS...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := stagetest.Options{Binary: flag.Arg(0), Args: flag.Args()[1:], Stage: *stage, Timeout: *timeout}
	if *verbose {
		o.Log = os.Stderr
	}
	if err := fill(&o, *cfg, *specFile, bads, anns); err != nil {
		fmt.Fprintln(os.Stderr, "stagetest:", err)
		os.Exit(2)
	}
	rep, err := stagetest.Run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stagetest:", err)
		os.Exit(2)
	}
	fmt.Print(rep)
	if len(rep.Failed()) > 0 {
		os.Exit(1)
	}
}

func fill(o *stagetest.Options, cfg, specFile string, bads, anns []string) error {
	if cfg != "" {
		data := []byte(cfg)
		if name, ok := strings.CutPrefix(cfg, "@"); ok {
			var err error
			if data, err = os.ReadFile(name); err != nil {
				return err
			}
		}
		if !json.Valid(data) {
			return fmt.Errorf("-config: not JSON")
		}
		o.Config = data
	}
	if specFile != "" {
		f, err := os.Open(specFile)
		if err != nil {
			return err
		}
		defer f.Close()
		var s specs.Spec
		if err := json.NewDecoder(io.LimitReader(f, 16<<20)).Decode(&s); err != nil {
			return fmt.Errorf("-spec %s: %w", specFile, err)
		}
		o.Spec = &s
	}
	for _, b := range bads {
		field, patch, ok := strings.Cut(b, "=")
		if !ok || !json.Valid([]byte(patch)) {
			return fmt.Errorf("-bad %q: want FIELD=JSON-MERGE-PATCH", b)
		}
		o.Bad = append(o.Bad, stagetest.Bad{Name: field, Field: field, Patch: json.RawMessage(patch)})
	}
	for _, a := range anns {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("-annotation %q: want KEY=VALUE", a)
		}
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[k] = v
	}
	return nil
}
