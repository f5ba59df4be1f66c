package main

// The C bootstrap must be linked into the binary the init re-executes.
import _ "github.com/rung-runtime/rung/internal/nsexec"
