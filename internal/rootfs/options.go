//go:build linux

package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOptions is a spec mount's option list split the way runc splits it.
type MountOptions struct {
	// Flags are the MS_* flags to pass to mount(2) (no propagation flags).
	Flags uintptr
	// Cleared are MS_* flags an option explicitly turned off ("rw",
	// "suid", "dev", "exec", ...). For bind mounts they matter: a remount
	// keeps the source's flags unless the spec cleared them.
	Cleared uintptr
	// Propagation holds MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (each
	// possibly |MS_REC), applied in order after the mount.
	Propagation []uintptr
	// RecAttrSet and RecAttrClr are MOUNT_ATTR_* bits for
	// mount_setattr(AT_RECURSIVE) ("rro", "rnosuid", ...).
	RecAttrSet, RecAttrClr uint64
	// Data is every option mount(2) does not know as a flag, comma-joined,
	// passed to the filesystem ("mode=755,size=65536k").
	Data string
	// CopyUp is the "tmpcopyup" extension: fill a new tmpfs with what the
	// directory under it held.
	CopyUp bool
	// IDMap and RecIDMap are "idmap" and "ridmap".
	IDMap, RecIDMap bool
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

// mountFlags lists the mount(8) options that are MS_* flags.
var mountFlags = map[string]flagOpt{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// atimeFlags are the mutually exclusive access-time modes.
const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

type attrOpt struct {
	clear bool
	attr  uint64
}

// recAttrFlags are runc's recursive options, applied with mount_setattr.
var recAttrFlags = map[string]attrOpt{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// ParseMountOptions splits a spec mount's options. It never fails: options
// it does not know are filesystem data, as for mount(8) and runc.
func ParseMountOptions(opts []string) MountOptions {
	var mo MountOptions
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				mo.Flags &^= f.flag
				mo.Cleared |= f.flag
			} else {
				if f.flag&atimeFlags != 0 {
					// Access-time modes replace each other; the last wins.
					mo.Flags &^= atimeFlags
				}
				mo.Flags |= f.flag
				mo.Cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			mo.Propagation = append(mo.Propagation, p)
			continue
		}
		if a, ok := recAttrFlags[o]; ok {
			if a.clear {
				mo.RecAttrClr |= a.attr
				mo.RecAttrSet &^= a.attr
			} else {
				mo.RecAttrSet |= a.attr
				mo.RecAttrClr &^= a.attr
				if a.attr&unix.MOUNT_ATTR__ATIME == a.attr {
					// mount_setattr(2): an access-time mode in attr_set
					// needs MOUNT_ATTR__ATIME in attr_clr.
					mo.RecAttrClr |= unix.MOUNT_ATTR__ATIME
				}
			}
			continue
		}
		switch o {
		case "tmpcopyup":
			mo.CopyUp = true
			continue
		case "idmap":
			mo.IDMap = true
			continue
		case "ridmap":
			mo.RecIDMap = true
			continue
		}
		data = append(data, o)
	}
	mo.Data = strings.Join(data, ",")
	return mo
}

// IsBind reports whether the options make this a bind mount.
func (mo MountOptions) IsBind() bool { return mo.Flags&unix.MS_BIND != 0 }

// hasDataOption reports whether data has key=... (or the bare key).
func hasDataOption(data, key string) bool {
	for _, o := range strings.Split(data, ",") {
		if o == key || strings.HasPrefix(o, key+"=") {
			return true
		}
	}
	return false
}

// formatMountLabel adds an SELinux context= option to data, quoted because
// contexts contain commas in their category sets.
func formatMountLabel(data, label string) string {
	if label == "" {
		return data
	}
	c := fmt.Sprintf("context=%q", label)
	if data == "" {
		return c
	}
	return data + "," + c
}

// RootPropagation maps linux.rootfsPropagation to MS_* flags; "" means
// runc's default, MS_SLAVE|MS_REC.
func RootPropagation(s string) (uintptr, error) {
	if s == "" {
		return unix.MS_SLAVE | unix.MS_REC, nil
	}
	if p, ok := propagationFlags[s]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("linux.rootfsPropagation: unknown propagation %q", s)
}

// statfsToMountFlags converts statfs f_flags (ST_*) to MS_* flags, which
// differ for relatime and nosymfollow.
func statfsToMountFlags(st uint64) uintptr {
	const stNoSymFollow = 0x2000 // ST_NOSYMFOLLOW, not in x/sys
	pairs := [][2]uint64{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_SYNCHRONOUS, unix.MS_SYNCHRONOUS},
		{unix.ST_MANDLOCK, unix.MS_MANDLOCK},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{stNoSymFollow, unix.MS_NOSYMFOLLOW},
	}
	var f uintptr
	for _, p := range pairs {
		if st&p[0] != 0 {
			f |= uintptr(p[1])
		}
	}
	return f
}
