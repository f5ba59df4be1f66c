// Command rung-cgroupv1 is rung's cgroup stage for cgroup v1 (legacy and
// hybrid hosts): it owns linux.cgroupsPath and linux.resources, makes the
// container's cgroup in every v1 hierarchy (and in the cgroup2 mount of a
// hybrid host) with runc's cgroupfs semantics, and serves the Resources
// service (update, stats, pause, resume, ps, kill --all, oom events). The
// host starts it; it is not run by hand.
package main

import "github.com/rung-runtime/rung/sdk"

func main() { sdk.Serve(newStage()) }
