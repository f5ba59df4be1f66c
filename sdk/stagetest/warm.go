package stagetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

// warmIdle is the idle time the warm check gives the plugin.
const warmIdle = 300 * time.Millisecond

// warm checks the plugin as rung's warm pool runs it: started on a bound
// socket, it says it is ready, answers Describe there as it did through
// go-plugin, and exits (its socket unlinked) once idle. A plugin served by
// go-plugin alone cannot be kept warm: a skip, since rung then launches it
// per command.
func (r *run) warm(ctx context.Context) {
	dir, err := os.MkdirTemp("", "stagetest-warm-")
	if err != nil {
		r.result("warm", err)
		return
	}
	defer os.RemoveAll(dir)
	bin, err := os.Open(r.o.Binary)
	if err != nil {
		r.result("warm", err)
		return
	}
	defer bin.Close()
	sock := filepath.Join(dir, "plugin.sock")
	pid, err := launcher.StartWarm(ctx, bin, r.o.Binary, r.o.Args, sock, warmIdle, r.o.StartTimeout)
	if errors.Is(err, launcher.ErrNoPool) {
		r.skip("warm", "served by go-plugin alone (not sdk.Serve): rung's pool launches it per command")
		return
	}
	if err != nil {
		r.result("warm", err)
		return
	}
	r.result("warm", r.warmAnswers(ctx, pid, sock))
}

func (r *run) warmAnswers(ctx context.Context, pid int, sock string) error {
	exited := func() bool {
		got, err := unix.Wait4(pid, nil, unix.WNOHANG, nil)
		return got == pid || errors.Is(err, unix.ECHILD)
	}
	defer func() {
		if !exited() {
			_ = unix.Kill(pid, unix.SIGKILL)
			_, _ = unix.Wait4(pid, nil, 0, nil)
		}
	}()
	cc, err := launcher.DialWarm(ctx, sock, nil)
	if err != nil {
		return err
	}
	var d *stagev1.DescribeResponse
	err = r.call(ctx, "describe", func(ctx context.Context) error {
		d, err = sdk.NewConn(cc).Stage.Describe(ctx, &stagev1.DescribeRequest{})
		return err
	})
	cc.Close()
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	if d.GetName() != r.desc.GetName() || d.GetStage() != r.desc.GetStage() {
		return fmt.Errorf("warm: describes itself as %s/%s, through go-plugin as %s/%s", d.GetName(), d.GetStage(), r.desc.GetName(), r.desc.GetStage())
	}
	for deadline := time.Now().Add(20*warmIdle + 5*time.Second); !exited(); {
		if time.Now().After(deadline) {
			return fmt.Errorf("warm: still running long after its idle time (%v) with no host connected", warmIdle)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("warm: exited when idle but left its socket %s", sock)
	}
	return nil
}
