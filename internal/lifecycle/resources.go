package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
)

// withResources runs f against the container's resources service.
func withResources(ctx context.Context, env *Env, id, what string, f func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error) (*state.Container, error) {
	rec, err := env.Store.Load(id)
	if err != nil {
		return nil, err
	}
	p, r, err := resourcesPlugin(ctx, env, rec)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	err = p.Call(ctx, what, func(ctx context.Context) error {
		rc, err := p.Resources()
		if err != nil {
			return err
		}
		return f(ctx, rc, storedContainer(rec, r, p))
	})
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	return rec, nil
}

// Pause freezes every process of a running container.
func Pause(ctx context.Context, env *Env, id string) error {
	return setPaused(ctx, env, id, true)
}

// Resume thaws a paused container.
func Resume(ctx context.Context, env *Env, id string) error {
	return setPaused(ctx, env, id, false)
}

func setPaused(ctx context.Context, env *Env, id string, pause bool) error {
	unlock, err := env.Store.Lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	st := rec.Current(env.Store)
	if pause && st != state.Running && st != state.Created {
		return fmt.Errorf("container %q: cannot pause a container in state %s", id, st)
	}
	if !pause && st != state.Paused {
		return fmt.Errorf("container %q: cannot resume a container that is not paused (%s)", id, st)
	}
	what := "resume"
	if pause {
		what = "pause"
	}
	if _, err := withResources(ctx, env, id, what, func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error {
		var err error
		if pause {
			_, err = rc.Pause(ctx, &stagev1.ContainerRef{Container: c})
		} else {
			_, err = rc.Resume(ctx, &stagev1.ContainerRef{Container: c})
		}
		return err
	}); err != nil {
		return err
	}
	rec.Paused = pause
	return env.Store.Save(rec)
}

// Pids lists the host pids of every process in the container.
func Pids(ctx context.Context, env *Env, id string) ([]int, error) {
	var pids []int
	_, err := withResources(ctx, env, id, "pids", func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error {
		resp, err := rc.Pids(ctx, &stagev1.ContainerRef{Container: c})
		for _, p := range resp.GetPids() {
			pids = append(pids, int(p))
		}
		return err
	})
	return pids, err
}

// Update applies new resource limits live.
func Update(ctx context.Context, env *Env, id string, resources json.RawMessage) error {
	_, err := withResources(ctx, env, id, "update", func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error {
		_, err := rc.Update(ctx, &stagev1.UpdateRequest{Container: c, ResourcesJson: resources})
		return err
	})
	return err
}

// Stats returns runc's `events --stats` data object.
func Stats(ctx context.Context, env *Env, id string) (json.RawMessage, error) {
	var out json.RawMessage
	_, err := withResources(ctx, env, id, "stats", func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error {
		resp, err := rc.Stats(ctx, &stagev1.StatsRequest{Container: c})
		out = resp.GetStatsJson()
		return err
	})
	return out, err
}

// Events streams the container's cgroup events (oom, ...) to send until ctx
// ends or the container's cgroup is gone. The stream has no deadline: it
// lasts as long as the caller watches.
func Events(ctx context.Context, env *Env, id string, send func(kind string, data json.RawMessage) error) error {
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	p, r, err := resourcesPlugin(ctx, env, rec)
	if err != nil {
		return err
	}
	defer p.Close()
	rc, err := p.Resources()
	if err != nil {
		return err
	}
	stream, err := rc.Events(ctx, &stagev1.EventsRequest{Container: storedContainer(rec, r, p)})
	if err != nil {
		return fmt.Errorf("container %q: %s: events: %w", id, p.Label(), err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("container %q: %s: events: %w", id, p.Label(), err)
		}
		if err := send(ev.GetType(), ev.GetDataJson()); err != nil {
			return err
		}
	}
}
