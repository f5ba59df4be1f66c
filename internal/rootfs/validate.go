//go:build linux

package rootfs

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Validate checks the rootfs-related parts of a spec without touching the
// kernel or the rootfs, so the host can report problems at create time with
// the spec field named: mounts (destination, type, unsupported options,
// mounts into /proc), linux.rootfsPropagation and linux.devices. Prepare
// still checks everything again against the real rootfs.
func Validate(spec *specs.Spec) []error {
	if spec == nil {
		return []error{errors.New("no spec")}
	}
	var errs []error
	for i, m := range spec.Mounts {
		if err := validateMount(m); err != nil {
			errs = append(errs, fmt.Errorf("mounts[%d]: mount %q on %q: %w", i, mountSourceName(m), m.Destination, err))
		}
	}
	if spec.Linux != nil {
		if _, err := RootPropagation(spec.Linux.RootfsPropagation); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, ValidateDevices(spec.Linux)...)
	}
	return errs
}

func validateMount(m specs.Mount) error {
	if m.Destination == "" {
		return errors.New("destination is empty")
	}
	dest := cleanDest(m.Destination)
	if dest == "/" {
		return errors.New("cannot mount over the container's root; use root.path")
	}
	mo := ParseMountOptions(m.Options)
	if m.Type == "bind" {
		mo.Flags |= unix.MS_BIND
	}
	if mo.IDMap || mo.RecIDMap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return errors.New("id-mapped mounts (idmap, ridmap, uidMappings, gidMappings) are not supported yet")
	}
	if m.Type == "" && !mo.IsBind() {
		return errors.New("mount has no type and is not a bind mount")
	}
	if mo.IsBind() && m.Source == "" {
		return errors.New("bind mount without a source")
	}
	return checkProcDest(dest, m, mo.IsBind())
}
