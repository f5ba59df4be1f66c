package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/lifecycle"
)

func idCommand(name, usage string, op func(c *cli.Context, env *lifecycle.Env, id string) error, flags ...cli.Flag) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "<container-id>", Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("%s: a container id is required", name)
			}
			env, err := envFrom(c)
			if err != nil {
				return err
			}
			return op(c, env, c.Args().First())
		},
	}
}

func resourceCommands() []*cli.Command {
	return []*cli.Command{
		idCommand("pause", "freeze every process of a container", func(c *cli.Context, env *lifecycle.Env, id string) error {
			return lifecycle.Pause(ctxOf(c), env, id)
		}),
		idCommand("resume", "thaw a paused container", func(c *cli.Context, env *lifecycle.Env, id string) error {
			return lifecycle.Resume(ctxOf(c), env, id)
		}),
		idCommand("ps", "list a container's processes", psCommand,
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}),
		idCommand("update", "change a container's resource limits", updateCommand,
			&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "LinuxResources JSON file, - for stdin"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit in bytes"},
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit in bytes"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit in bytes"},
			&cli.StringFlag{Name: "cpu-shares", Usage: "relative CPU weight"},
			&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota in microseconds"},
			&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period in microseconds"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
			&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes"},
			&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight"}),
		idCommand("events", "print cgroup stats of a container", eventsCommand,
			&cli.BoolFlag{Name: "stats", Usage: "print stats once and exit"},
			&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "stats interval"}),
	}
}

func psCommand(c *cli.Context, env *lifecycle.Env, id string) error {
	pids, err := lifecycle.Pids(ctxOf(c), env, id)
	if err != nil {
		return err
	}
	if pids == nil {
		pids = []int{}
	}
	switch c.String("format") {
	case "json":
		return json.NewEncoder(os.Stdout).Encode(pids)
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 8, 1, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, p := range pids {
			cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
			fmt.Fprintf(w, "%d\t%s\n", p, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
		return w.Flush()
	}
	return fmt.Errorf("ps --format: unknown format %q", c.String("format"))
}

func updateCommand(c *cli.Context, env *lifecycle.Env, id string) error {
	var r specs.LinuxResources
	if src := c.String("resources"); src != "" {
		var in io.Reader
		if src == "-" {
			stdin, _ := c.App.Metadata["stdin"].(*os.File)
			in = stdin
		} else {
			f, err := os.Open(src)
			if err != nil {
				return fmt.Errorf("update --resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(&r); err != nil {
			return fmt.Errorf("update --resources: %w", err)
		}
	}
	if err := applyUpdateFlags(c, &r); err != nil {
		return err
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	return lifecycle.Update(ctxOf(c), env, id, data)
}

func applyUpdateFlags(c *cli.Context, r *specs.LinuxResources) error {
	i64 := func(name string) (*int64, error) {
		if !c.IsSet(name) {
			return nil, nil
		}
		v, err := strconv.ParseInt(c.String(name), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("update --%s: %w", name, err)
		}
		return &v, nil
	}
	u64 := func(name string) (*uint64, error) {
		if !c.IsSet(name) {
			return nil, nil
		}
		v, err := strconv.ParseUint(c.String(name), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("update --%s: %w", name, err)
		}
		return &v, nil
	}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	var err error
	var v *int64
	var u *uint64
	if v, err = i64("memory"); err != nil {
		return err
	} else if v != nil {
		mem().Limit = v
	}
	if v, err = i64("memory-reservation"); err != nil {
		return err
	} else if v != nil {
		mem().Reservation = v
	}
	if v, err = i64("memory-swap"); err != nil {
		return err
	} else if v != nil {
		mem().Swap = v
	}
	if u, err = u64("cpu-shares"); err != nil {
		return err
	} else if u != nil {
		cpu().Shares = u
	}
	if v, err = i64("cpu-quota"); err != nil {
		return err
	} else if v != nil {
		cpu().Quota = v
	}
	if u, err = u64("cpu-period"); err != nil {
		return err
	} else if u != nil {
		cpu().Period = u
	}
	if c.IsSet("cpuset-cpus") {
		cpu().Cpus = c.String("cpuset-cpus")
	}
	if c.IsSet("cpuset-mems") {
		cpu().Mems = c.String("cpuset-mems")
	}
	if v, err = i64("pids-limit"); err != nil {
		return err
	} else if v != nil {
		r.Pids = &specs.LinuxPids{Limit: v}
	}
	if u, err = u64("blkio-weight"); err != nil {
		return err
	} else if u != nil {
		w := uint16(*u)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return nil
}

// eventsCommand prints runc's event JSON lines: with --stats one stats
// event; otherwise the cgroup's events (oom) as they happen and stats every
// --interval, until the container's cgroup is gone or rung is interrupted.
func eventsCommand(c *cli.Context, env *lifecycle.Env, id string) error {
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(kind string, data json.RawMessage) error {
		mu.Lock()
		defer mu.Unlock()
		ev := map[string]any{"type": kind, "id": id}
		if len(data) > 0 {
			ev["data"] = data
		}
		return enc.Encode(ev)
	}
	stats := func() error {
		data, err := lifecycle.Stats(ctxOf(c), env, id)
		if err != nil {
			return err
		}
		return emit("stats", data)
	}
	if c.Bool("stats") {
		return stats()
	}
	ctx, cancel := signal.NotifyContext(ctxOf(c), os.Interrupt, unix.SIGTERM)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lifecycle.Events(ctx, env, id, emit) }()
	tick := time.NewTicker(c.Duration("interval"))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := stats(); err != nil {
				return err
			}
		}
	}
}
