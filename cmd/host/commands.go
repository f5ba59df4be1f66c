package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/lifecycle"
)

// withContainer is the action of a command that takes exactly a container
// id: it checks the argument and builds the environment first.
func withContainer(op func(c *cli.Context, env *lifecycle.Env, id string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := exactArgs(c, 1); err != nil {
			return err
		}
		env, err := envFrom(c)
		if err != nil {
			return err
		}
		return op(c, env, c.Args().First())
	}
}

func exactArgs(c *cli.Context, n int) error {
	if c.NArg() != n {
		return fmt.Errorf("%s: expects %d argument(s), got %d", c.Command.Name, n, c.NArg())
	}
	return nil
}

var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the init's pid to"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "use MS_MOVE and chroot instead of pivot_root"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (from 3) to the container"},
}

func createOptions(c *cli.Context, id string) lifecycle.CreateOptions {
	return lifecycle.CreateOptions{
		ID: id, Bundle: c.String("bundle"), PidFile: c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"), NoPivot: c.Bool("no-pivot"),
		NoNewKeyring: c.Bool("no-new-keyring"), PreserveFds: c.Int("preserve-fds"),
	}
}

func commands() []*cli.Command {
	return append(append(resourceCommands(), lifecycleCommands()...), pluginsCommand())
}

func lifecycleCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "create", Usage: "create a container", ArgsUsage: "<container-id>", Flags: createFlags,
			Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
				return lifecycle.Create(ctxOf(c), env, createOptions(c, id))
			}),
		},
		{
			Name: "start", Usage: "start a created container", ArgsUsage: "<container-id>",
			Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
				return lifecycle.Start(ctxOf(c), env, id)
			}),
		},
		{
			Name: "run", Usage: "create and start a container", ArgsUsage: "<container-id>",
			Flags: append(append([]cli.Flag{}, createFlags...),
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
				&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"}),
			Action: withContainer(runContainer),
		},
		{
			Name: "state", Usage: "print a container's OCI state", ArgsUsage: "<container-id>",
			Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
				st, err := lifecycle.State(env, id)
				if err != nil {
					return err
				}
				return printJSON(st)
			}),
		},
		{
			Name: "kill", Usage: "signal a container", ArgsUsage: "<container-id> [signal]",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process"}},
			Action: func(c *cli.Context) error {
				if c.NArg() < 1 || c.NArg() > 2 {
					return errors.New("kill: expects <container-id> [signal]")
				}
				sigName := "SIGTERM"
				if c.NArg() == 2 {
					sigName = c.Args().Get(1)
				}
				sig, err := lifecycle.ParseSignal(sigName)
				if err != nil {
					return err
				}
				env, err := envFrom(c)
				if err != nil {
					return err
				}
				return lifecycle.Kill(ctxOf(c), env, c.Args().First(), sig, c.Bool("all"))
			},
		},
		{
			Name: "delete", Usage: "delete a container", ArgsUsage: "<container-id>",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill it first if it runs"}},
			Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
				return lifecycle.Delete(ctxOf(c), env, id, c.Bool("force"))
			}),
		},
		{
			Name: "list", Aliases: []string{"ls"}, Usage: "list containers",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "ids only"},
			},
			Action: listCommand,
		},
		specCommand(),
		featuresCommand(),
		execCommand(),
		checkpointCommand(), restoreCommand(),
		{
			Name: "init", Hidden: true,
			Action: func(c *cli.Context) error {
				return errors.New("init: only rung itself starts the container init")
			},
		},
	}
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, string(b))
	return err
}

type listEntry struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

func listCommand(c *cli.Context) error {
	env, err := envFrom(c)
	if err != nil {
		return err
	}
	ids, err := env.Store.List()
	if err != nil {
		return err
	}
	entries := []listEntry{}
	for _, id := range ids {
		rec, err := env.Store.Load(id)
		if err != nil {
			continue
		}
		st := rec.OCIState(env.Store)
		entries = append(entries, listEntry{OCIVersion: st.Version, ID: id, Pid: st.Pid, Status: string(st.Status),
			Bundle: rec.Bundle, Rootfs: rec.Rootfs, Created: rec.Created, Annotations: rec.Annotations, Owner: rec.Owner})
	}
	switch {
	case c.Bool("quiet"):
		for _, e := range entries {
			fmt.Println(e.ID)
		}
	case c.String("format") == "json":
		return printJSON(entries)
	case c.String("format") == "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, e := range entries {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Pid, e.Status, e.Bundle, e.Created.Format(time.RFC3339Nano), e.Owner)
		}
		return w.Flush()
	default:
		return fmt.Errorf("list --format: unknown format %q", c.String("format"))
	}
	return nil
}

// runContainer is create+start; without --detach rung stays the container's
// subreaper, forwards signals, and exits with the container's code.
func runContainer(c *cli.Context, env *lifecycle.Env, id string) error {
	detach := c.Bool("detach")
	if !detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("run: becoming a subreaper: %w", err)
		}
	}
	sigs := make(chan os.Signal, 32)
	if !detach {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	env.KeepWarm = !c.Bool("keep")
	defer func() { env.Warm.Close() }()
	if err := lifecycle.Create(ctxOf(c), env, createOptions(c, id)); err != nil {
		return err
	}
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	if err := lifecycle.Start(ctxOf(c), env, id); err != nil {
		_ = lifecycle.Delete(ctxOf(c), env, id, true)
		return err
	}
	if detach {
		return nil
	}
	code := waitContainer(rec.Pid, sigs)
	if !c.Bool("keep") {
		if err := lifecycle.Delete(ctxOf(c), env, id, true); err != nil {
			logFrom(c).Warnf("%v", err)
		}
	}
	if code != 0 {
		return exitStatus{code}
	}
	return nil
}

// waitContainer reaps children until the init exits, forwarding signals.
// SIGCHLD is among the notified signals, so an exit wakes the loop at once.
func waitContainer(pid int, sigs chan os.Signal) int {
	for {
		for {
			var ws unix.WaitStatus
			got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || got <= 0 {
				break
			}
			if got == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
		select {
		case s := <-sigs:
			if sig, ok := s.(unix.Signal); ok && sig != unix.SIGCHLD && sig != unix.SIGURG && sig != unix.SIGPIPE {
				_ = unix.Kill(pid, sig)
			}
		case <-time.After(time.Second):
			// A lost SIGCHLD (coalesced) costs at most this long.
		}
	}
}
