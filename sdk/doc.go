// Package sdk is what a rung stage plugin imports.
//
// rung runs every isolation stage of an OCI container (namespaces, cgroups,
// seccomp, LSM, and any stage an operator adds) as a separate plugin process
// that speaks the stage protocol in proto/stagev1 over gRPC (hashicorp/go-plugin).
// A plugin implements Stage, usually by embedding Base and overriding what it
// needs, and calls Serve from main:
//
//	package main
//
//	import (
//		"context"
//
//		"github.com/rung-runtime/rung/sdk"
//	)
//
//	type hello struct{ sdk.Base }
//
//	func (hello) Describe(context.Context) (sdk.Description, error) {
//		return sdk.Description{Name: "hello", Version: "0.1.0", Stage: "hello"}, nil
//	}
//
//	func (hello) Prepare(ctx context.Context, c *sdk.Container) (*sdk.Plan, error) {
//		sdk.Logger().Info("preparing", "container", c.ID, "hostname", c.Spec.Hostname)
//		return &sdk.Plan{}, nil
//	}
//
//	func main() { sdk.Serve(hello{}) }
//
// The host calls Describe once per launch (a warm plugin: once per
// process), Validate and Prepare during create (the SDK lets the host fold
// Validate into the Prepare call: the plugin's Validate runs first all the
// same), Attach once the container's init exists (stopped before it runs
// any user code; not at all if Description.NoAttach says it does nothing),
// and Destroy on delete. Effects a plugin can make from outside the
// container it makes itself, in Prepare or Attach; effects only the container's
// own process can make it returns as typed Actions in its Plan, which the init
// applies at fixed points. Destroy must be idempotent and must cope with a
// container whose create stopped half way.
//
// A plugin must not write to its stdout (go-plugin's handshake uses it); logs
// go through Logger, which the host copies into its own log.
//
// An operator may keep plugins warm (the "pool" block of rung's config):
// Serve then runs one process that answers every rung command, many at
// once, over a root-only unix socket, and exits after an idle time; its
// logs are dropped. So a plugin keeps nothing about a container in memory
// between calls (what it needs later goes in Plan.State, which the host
// hands back), is safe for concurrent calls, and leaves its own process as
// it found it (a thread moved into a namespace is moved back). A plugin
// that cannot be warm says so to its operator, who sets "warm": false on
// its entry.
//
// The stagetest package checks any plugin binary against the protocol.
package sdk
