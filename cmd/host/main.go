// Command rung is the rung OCI runtime: runc's command line, with every
// isolation stage delegated to a plugin process.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/config"
	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/lifecycle"
	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/internal/version"
)

func main() {
	if initproc.IsInit() {
		initproc.Main()
	}
	// Nothing we inherited beyond stdio may reach a plugin or the init: exec
	// keeps fds that lack close-on-exec (containerd's shim socket is fd 3).
	// Preserved fds are handed on explicitly, which clears the flag again.
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	stdin := launcher.ShieldStdin()
	app := newApp(stdin)
	if err := app.Run(os.Args); err != nil {
		os.Exit(exitCode(err))
	}
}

// exitStatus carries a container's exit code out of `run`.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(err error) int {
	if e, ok := err.(exitStatus); ok {
		return e.code
	}
	return 1
}

func newApp(stdin *os.File) *cli.App {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "rung version %s\nspec: %s\n", version.Version, version.Spec)
	}
	app := &cli.App{
		Name:                   "rung",
		Usage:                  "an OCI runtime whose isolation stages are plugins",
		Version:                version.Version,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/rung", Usage: "directory for container state"},
			&cli.StringFlag{Name: "log", Usage: "log file (default stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "debug logging", EnvVars: []string{"RUNG_DEBUG"}},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "use the systemd cgroup driver (not supported)"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "path to criu"},
			&cli.BoolFlag{Name: "rootless", Usage: "ignored; rung runs as root"},
			&cli.StringFlag{Name: "config", Value: config.DefaultPath, EnvVars: []string{"RUNG_CONFIG"},
				Usage: "operator config naming the stage plugins (the built-in pipeline when the file is missing)"},
		},
		Commands: commands(),
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			if _, ok := err.(exitStatus); ok {
				return
			}
			log := logFrom(c)
			log.Error(err)
		},
	}
	app.Metadata = map[string]any{"stdin": stdin}
	return app
}

// logFrom builds (once) the logger for the global flags; a bad --log falls
// back to stderr so the error is still seen.
func logFrom(c *cli.Context) *logging.Logger {
	if l, ok := c.App.Metadata["log"].(*logging.Logger); ok {
		return l
	}
	l, err := logging.Open(c.String("log"), c.String("log-format"), c.Bool("debug"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		l, _ = logging.Open("", "text", false)
	}
	c.App.Metadata["log"] = l
	return l
}

// envFrom assembles what every lifecycle call needs.
func envFrom(c *cli.Context) (*lifecycle.Env, error) {
	log := logFrom(c)
	if c.Bool("systemd-cgroup") {
		return nil, fmt.Errorf("--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs paths")
	}
	root := c.String("root")
	if root == "" {
		return nil, fmt.Errorf("--root: must not be empty")
	}
	plugins, err := pluginsFor(c, root)
	if err != nil {
		return nil, err
	}
	stdin, _ := c.App.Metadata["stdin"].(*os.File)
	if stdin == nil {
		stdin = os.Stdin
	}
	return &lifecycle.Env{
		Store:   state.Store{Root: root},
		Log:     log,
		Plugins: plugins,
		Stdio:   [3]*os.File{stdin, os.Stdout, os.Stderr},
	}, nil
}

func ctxOf(c *cli.Context) context.Context { return c.Context }
