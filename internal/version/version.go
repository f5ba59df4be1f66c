// Package version carries the build's version, set by the Makefile.
package version

// Version is replaced at link time with the git description.
var Version = "0.1.0-dev"

// Spec is the OCI runtime-spec version rung implements.
const Spec = "1.3.0"
