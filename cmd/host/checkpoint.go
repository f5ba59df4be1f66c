package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/lifecycle"
)

// criuFlags are the CRIU options runc takes on both checkpoint and restore;
// criuOptions reads them.
func criuFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "image-path", Usage: "directory for the CRIU images"},
		&cli.StringFlag{Name: "work-path", Usage: "directory for CRIU's log and work files (default: the image path)"},
		&cli.BoolFlag{Name: "tcp-established", Usage: "allow open tcp connections"},
		&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
		&cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs"},
		&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks"},
		&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft, full, strict (ignore on checkpoint only)"},
		&cli.StringSliceFlag{Name: "empty-ns", Usage: "namespace (network) to leave out of the images"},
		&cli.BoolFlag{Name: "auto-dedup", Usage: "deduplicate memory images"},
	}
}

func criuOptions(c *cli.Context) lifecycle.CriuOptions {
	return lifecycle.CriuOptions{
		Criu: c.String("criu"), ImagePath: c.String("image-path"), WorkPath: c.String("work-path"),
		TCPEstablished: c.Bool("tcp-established"), ExtUnixSk: c.Bool("ext-unix-sk"),
		ShellJob: c.Bool("shell-job"), FileLocks: c.Bool("file-locks"),
		ManageCgroupsMode: c.String("manage-cgroups-mode"), EmptyNs: c.StringSlice("empty-ns"),
		AutoDedup: c.Bool("auto-dedup"),
	}
}

func checkpointCommand() *cli.Command {
	return &cli.Command{
		Name: "checkpoint", Usage: "checkpoint a running container with CRIU", ArgsUsage: "<container-id>",
		Flags: append(criuFlags(),
			&cli.BoolFlag{Name: "leave-running", Usage: "leave the container running after the checkpoint"},
			&cli.StringFlag{Name: "parent-path", Usage: "previous (pre-dump) images, relative to --image-path"},
			&cli.BoolFlag{Name: "pre-dump", Usage: "dump memory only and leave the container running"},
			&cli.StringFlag{Name: "page-server", Usage: "not supported"},
			&cli.BoolFlag{Name: "lazy-pages", Usage: "not supported"},
			&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "not supported"}),
		Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
			for _, f := range []string{"page-server", "lazy-pages", "status-fd"} {
				if c.IsSet(f) {
					return fmt.Errorf("checkpoint: --%s is not supported", f)
				}
			}
			return lifecycle.Checkpoint(ctxOf(c), env, lifecycle.CheckpointOptions{
				ID: id, CriuOptions: criuOptions(c),
				LeaveRunning: c.Bool("leave-running"), ParentPath: c.String("parent-path"), PreDump: c.Bool("pre-dump"),
			})
		}),
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name: "restore", Usage: "restore a container from a CRIU checkpoint", ArgsUsage: "<container-id>",
		Flags: append(criuFlags(),
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
			&cli.StringFlag{Name: "pid-file", Usage: "file to write the init's pid to"},
			&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to"},
			&cli.BoolFlag{Name: "no-subreaper", Usage: "do not become the subreaper of the restored container"},
			&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility; CRIU sets the root up"},
			&cli.BoolFlag{Name: "lazy-pages", Usage: "not supported"}),
		Action: withContainer(func(c *cli.Context, env *lifecycle.Env, id string) error {
			if c.Bool("lazy-pages") {
				return fmt.Errorf("restore: --lazy-pages is not supported")
			}
			detach := c.Bool("detach")
			var sigs chan os.Signal
			if !detach && !c.Bool("no-subreaper") {
				// CRIU detaches the tree; as subreaper rung gets it back
				// and can wait for it as `run` does.
				if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
					return err
				}
				sigs = make(chan os.Signal, 32)
				signal.Notify(sigs)
				defer signal.Stop(sigs)
			}
			pid, err := lifecycle.Restore(ctxOf(c), env, lifecycle.RestoreOptions{
				ID: id, CriuOptions: criuOptions(c),
				Bundle: c.String("bundle"), PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"),
			})
			if err != nil || detach {
				return err
			}
			code := 0
			if sigs != nil {
				code = waitContainer(pid, sigs)
			} else {
				// Not our child: only its end can be seen, not its status.
				waitExit(pid)
			}
			if err := lifecycle.Delete(ctxOf(c), env, id, true); err != nil {
				logFrom(c).Warnf("%v", err)
			}
			if code != 0 {
				return exitStatus{code}
			}
			return nil
		}),
	}
}

// waitExit blocks until a process that is not rung's child has exited.
func waitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, -1); n > 0 || (err != nil && err != unix.EINTR) {
			return
		}
	}
}
