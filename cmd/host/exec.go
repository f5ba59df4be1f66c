package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/lifecycle"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name: "exec", Usage: "run a new process in a running container", ArgsUsage: "<container-id> [command args...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "an OCI process JSON file"},
			&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pty"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
			&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's pid to"},
			&cli.StringFlag{Name: "cwd", Usage: "working directory"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "KEY=VALUE to add"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
			&cli.IntSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "extra group ids"},
			&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "capability to add"},
			&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
			&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile"},
			&cli.StringFlag{Name: "process-label", Usage: "SELinux label"},
			&cli.IntFlag{Name: "preserve-fds", Usage: "pass N extra fds (from 3)"},
			&cli.BoolFlag{Name: "ignore-paused", Usage: "accepted for runc compatibility"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("exec: a container id is required")
			}
			env, err := envFrom(c)
			if err != nil {
				return err
			}
			id := c.Args().First()
			p, err := execProcess(c, env, id)
			if err != nil {
				return fmt.Errorf("container %q: exec: %w", id, err)
			}
			detach := c.Bool("detach")
			sigs := make(chan os.Signal, 32)
			if !detach {
				if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
					return fmt.Errorf("exec: becoming a subreaper: %w", err)
				}
				signal.Notify(sigs)
				defer signal.Stop(sigs)
			}
			pid, err := lifecycle.Exec(ctxOf(c), env, lifecycle.ExecOptions{
				ID: id, Process: p, PidFile: c.String("pid-file"),
				ConsoleSocket: c.String("console-socket"), PreserveFds: c.Int("preserve-fds"),
			})
			if err != nil || detach {
				return err
			}
			if code := waitContainer(pid, sigs); code != 0 {
				return exitStatus{code}
			}
			return nil
		},
	}
}

// execProcess is the --process file, or the container's own process with
// the command line's args and overrides, as runc builds it.
func execProcess(c *cli.Context, env *lifecycle.Env, id string) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		return lifecycle.LoadProcess(path)
	}
	rec, err := lifecycle.Load(env, id)
	if err != nil {
		return nil, err
	}
	if c.NArg() < 2 {
		return nil, fmt.Errorf("give a command to run, or --process")
	}
	spec, err := rec.Spec()
	if err != nil {
		return nil, err
	}
	p := specs.Process{}
	if spec.Process != nil {
		p = *spec.Process
		if caps := p.Capabilities; caps != nil {
			cp := *caps
			p.Capabilities = &cp
		}
		p.Env = append([]string(nil), p.Env...)
	}
	p.Args = c.Args().Slice()[1:]
	p.Terminal = c.Bool("tty")
	if c.IsSet("cwd") {
		p.Cwd = c.String("cwd")
	}
	p.Env = append(p.Env, c.StringSlice("env")...)
	if u := c.String("user"); u != "" {
		uid, gid, _ := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user: %q is not uid[:gid]", u)
		}
		p.User.UID = uint32(n)
		if gid != "" {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user: %q is not uid[:gid]", u)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range c.IntSlice("additional-gids") {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, cp := range caps {
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, cp)
			p.Capabilities.Effective = append(p.Capabilities.Effective, cp)
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, cp)
		}
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if c.IsSet("apparmor") {
		p.ApparmorProfile = c.String("apparmor")
	}
	if c.IsSet("process-label") {
		p.SelinuxLabel = c.String("process-label")
	}
	return &p, nil
}
