// Command rung-init is the container's init on its own: the code of `rung
// init` without the runtime's CLI, gRPC and plugin launcher. rung starts it
// (sealed, as it would re-execute itself) when it is installed next to rung
// or in rung's libexec directory: it starts in half the time and maps a
// fifth of the memory, in every container until its process runs. Without
// it rung re-executes itself, which works the same.
package main

import (
	"fmt"
	"os"

	"github.com/rung-runtime/rung/internal/initproc"
	// The C bootstrap runs before the Go runtime in the binary the host
	// starts as the init.
	_ "github.com/rung-runtime/rung/internal/nsexec"
)

func main() {
	if initproc.IsInit() {
		initproc.Main()
	}
	fmt.Fprintln(os.Stderr, "rung-init is the container init of the rung runtime; rung starts it, it is not run by hand")
	os.Exit(2)
}
