// Package plan turns the cgroup parts of an OCI spec into what the cgroup v2
// stage writes: the cgroup's path below the cgroup2 mount, the list of file
// writes for linux.resources and the device rules. It touches no files, so all
// of it is tested without root; package cgroupfs carries the result out.
package plan

import (
	"fmt"
	"path"
	"strings"
)

// DefaultParent is where a container without linux.cgroupsPath gets its cgroup.
const DefaultParent = "/rung"

// PathError is a problem with linux.cgroupsPath.
type PathError struct{ Msg string }

func (e *PathError) Error() string { return e.Msg }

// CgroupPath returns the container's cgroup as a clean absolute path relative
// to the cgroup2 mount root ("/a/b").
//
// An absolute cgroupsPath is taken relative to the cgroup2 mount root, as the
// runtime-spec says. A relative one is joined under the root too (runc's
// cgroupfs driver does the same), not under the runtime's own cgroup: a
// runtime that is itself in a leaf cgroup could not create children there
// without breaking the no-internal-processes rule. An empty cgroupsPath gives
// DefaultParent/<id>. Any ".." component is refused rather than cleaned away,
// so a path can never name a cgroup outside the one it spells.
func CgroupPath(cgroupsPath, id string) (string, error) {
	return CgroupPathFor(cgroupsPath, id, V2Path)
}

// PathOptions word CgroupPathFor's errors for the driver that uses it, so
// that one set of path rules can serve the cgroup v1 driver too and still
// name the right plugin and hierarchy.
type PathOptions struct {
	// Driver is the plugin named in the refusal of the systemd form
	// ("rung-cgroupv2").
	Driver string
	// Hierarchy is what the path lies in ("the cgroup2 hierarchy").
	Hierarchy string
}

// V2Path words the errors for this plugin: CgroupPath uses it.
var V2Path = PathOptions{Driver: "rung-cgroupv2", Hierarchy: "the cgroup2 hierarchy"}

// CgroupPathFor is CgroupPath with errors worded by o; the rules and the
// result are the same for every o.
func CgroupPathFor(cgroupsPath, id string, o PathOptions) (string, error) {
	if strings.IndexByte(cgroupsPath, 0) >= 0 {
		return "", &PathError{"contains a NUL byte"}
	}
	if cgroupsPath == "" {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
			return "", &PathError{fmt.Sprintf("container id %q cannot name a cgroup", id)}
		}
		return path.Join(DefaultParent, id), nil
	}
	if isSystemdForm(cgroupsPath) {
		return "", &PathError{fmt.Sprintf("%q is the systemd \"slice:prefix:name\" form; the systemd cgroup driver is not supported (%s is a cgroupfs driver), give a path such as \"/machine/%s\"", cgroupsPath, o.Driver, lastField(cgroupsPath))}
	}
	for _, c := range strings.Split(cgroupsPath, "/") {
		if c == ".." {
			return "", &PathError{fmt.Sprintf("%q has a \"..\" component; it must stay inside %s", cgroupsPath, o.Hierarchy)}
		}
	}
	p := path.Clean("/" + cgroupsPath)
	if p == "/" {
		return "", &PathError{fmt.Sprintf("%q names the root of %s; a container needs a cgroup of its own", cgroupsPath, o.Hierarchy)}
	}
	return p, nil
}

// isSystemdForm spots "system.slice:docker:abc": three colon-separated parts
// and no slash, which no one means as a directory name.
func isSystemdForm(p string) bool {
	return !strings.Contains(p, "/") && strings.Count(p, ":") == 2
}

func lastField(p string) string {
	i := strings.LastIndexByte(p, ':')
	if i < 0 || p[i+1:] == "" {
		return "NAME"
	}
	return p[i+1:]
}
