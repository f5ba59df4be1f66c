// Command rung-cgroupv2 is rung's cgroup stage: it owns linux.cgroupsPath
// and linux.resources and serves the Resources service (update, stats,
// pause, resume, ps, kill --all, oom events) with a cgroupfs driver for the
// cgroup v2 hierarchy. The host starts it; it is not run by hand.
package main

import "github.com/rung-runtime/rung/sdk"

func main() { sdk.Serve(newStage()) }
