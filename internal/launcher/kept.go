package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/internal/version"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/wire"
)

// Kept answers (lever 0 of docs/performance.md): a plugin whose Describe
// lists plan inputs may mark a Prepare answer reusable, and the host keeps
// that answer and gives it, without launching or calling the plugin, to
// every later create whose spec has the same values at those inputs, for
// the same plugin binary, arguments, config and pin, the same rung build,
// protocol and boot, and the same view of the world (the caller's
// namespaces). The Describe answer is kept too, under everything but the
// spec, since it decides whether the plugin's answers may be kept at all.
// The files live in the pool's root-only tmpfs directory (gone at reboot)
// and are checked like a fresh answer when used.

// keptPrefix names the files in the socket directory; the socket sweep
// leaves them alone.
const keptPrefix = "kept-"

// maxKept bounds the kept files (each is a few KB; the typical host runs a
// handful of distinct pipelines): see evictOldestKept.
const maxKept = 512

// maxKeptFile bounds what is read back: a seccomp program is at most 4096
// instructions of 8 bytes, the rest is small.
const maxKeptFile = 1 << 20

// keepable says whether a plugin's Describe answer allows kept Prepare
// answers: the host must owe it no Destroy, no Resources calls, and no
// separate Validate (the kept answer was validated as it was made).
func keepable(d *stagev1.DescribeResponse) bool {
	return d != nil && len(d.GetPlanInputs()) > 0 && d.GetValidatesInPrepare() && d.GetNoDestroy() && !d.GetResources()
}

// KeptAnswer says whether an answer may be kept: the plugin said so, the
// host has no Attach to call, and it refused nothing.
func KeptAnswer(d *stagev1.DescribeResponse, r *stagev1.PrepareResponse) bool {
	return keepable(d) && r.GetReusable() && (d.GetNoAttach() || r.GetSkipAttach()) && len(r.GetErrors()) == 0
}

// bootID tells boots apart: what the kernel supports and what a plugin
// found loaded may differ after a reboot (the tmpfs is gone then too, but
// a /dev/shm that survives must not carry answers across).
var bootID = sync.OnceValue(func() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
})

// writeBinaryIdentity writes what makes two launches of s's binary at path
// the same program seeing the same world: the file (device, inode, size,
// mtime), its pin and arguments, the stage protocol, and the caller's
// namespaces (a plugin sees the world as the command that started it).
func writeBinaryIdentity(h io.Writer, s Spec, path string, bin *unix.Stat_t) {
	fmt.Fprintf(h, "%d\x00%s\x00%d %d %d %d.%d\x00%s\x00",
		wire.ProtocolVersion, path, bin.Dev, bin.Ino, bin.Size,
		bin.Mtim.Sec, bin.Mtim.Nsec, strings.ToLower(s.SHA256))
	for _, a := range s.Args {
		fmt.Fprintf(h, "%d:%s\x00", len(a), a)
	}
	for _, ns := range []string{"mnt", "pid", "net", "user", "cgroup", "ipc", "uts"} {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+ns, &st); err == nil {
			fmt.Fprintf(h, "%s:%d:%d\x00", ns, st.Dev, st.Ino)
		}
	}
}

// keptIdentity is the hash state of everything a kept answer of p's
// plugin depends on but the spec; nil where nothing may be kept.
type keptIdentity struct {
	dir string
	sum []byte
}

func identityFor(s Spec, path string) *keptIdentity {
	dir := socketDir()
	boot := bootID()
	var bin unix.Stat_t
	if dir == "" || boot == "" || unix.Stat(path, &bin) != nil {
		return nil
	}
	h := sha256.New()
	io.WriteString(h, "rung-kept\x00")
	writeBinaryIdentity(h, s, path, &bin)
	// Unlike a warm plugin's binary, which the kernel keeps from being
	// written while it runs, a kept answer's binary runs nowhere: a rewrite
	// that restores the mtime still moves the ctime.
	fmt.Fprintf(h, "%d.%d\x00%s\x00%s\x00%s\x00%d:", bin.Ctim.Sec, bin.Ctim.Nsec, s.Stage, version.Version, boot, len(s.Config))
	h.Write(s.Config)
	return &keptIdentity{dir: dir, sum: h.Sum(nil)}
}

// planKey is the name of the kept answer for specJSON, or "" when the spec
// cannot be served from one.
func (k *keptIdentity) planKey(d *stagev1.DescribeResponse, specJSON []byte) string {
	h := sha256.New()
	h.Write(k.sum)
	for _, in := range d.GetPlanInputs() {
		fmt.Fprintf(h, "%d:%s\x00", len(in), in)
	}
	if !writeInputs(h, specJSON, d.GetPlanInputs()) {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil)) + ".plan"
}

func (k *keptIdentity) descKey() string { return hex.EncodeToString(k.sum) + ".desc" }

// loadDescription is the kept Describe answer, or nil.
func (k *keptIdentity) loadDescription() *stagev1.DescribeResponse {
	d := &stagev1.DescribeResponse{}
	if !readTagged(filepath.Join(k.dir, keptPrefix+k.descKey()), k.descKey(), d) {
		return nil
	}
	return d
}

func (k *keptIdentity) loadPlan(key string) *stagev1.PrepareResponse {
	r := &stagev1.PrepareResponse{}
	if key == "" || !readTagged(filepath.Join(k.dir, keptPrefix+key), key, r) {
		return nil
	}
	return r
}

func (k *keptIdentity) keepDescription(d *stagev1.DescribeResponse) {
	k.store(k.descKey(), d)
}

func (k *keptIdentity) keepPlan(key string, r *stagev1.PrepareResponse) {
	if key != "" {
		k.store(key, r)
	}
}

func (k *keptIdentity) store(key string, m proto.Message) {
	evictOldestKept(k.dir)
	writeTagged(filepath.Join(k.dir, keptPrefix+key), key, m)
}

// countKept is how many of a directory's entries are kept answers.
func countKept(ents []os.DirEntry) int {
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), keptPrefix) {
			n++
		}
	}
	return n
}

// evictOldestKept makes room when the kept files reach maxKept: the oldest
// written go, down to three quarters of it, so that this happens once in a
// hundred stores and the answers of the pipelines in use stay (clearing
// them all made a busy host relaunch every pure stage now and then).
func evictOldestKept(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	n := countKept(ents)
	if n < maxKept {
		return
	}
	type kept struct {
		name string
		mod  time.Time
	}
	all := make([]kept, 0, n)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), keptPrefix) {
			continue
		}
		var mod time.Time
		if fi, err := e.Info(); err == nil {
			mod = fi.ModTime()
		}
		all = append(all, kept{e.Name(), mod})
	}
	slices.SortStableFunc(all, func(a, b kept) int { return a.mod.Compare(b.mod) })
	for _, f := range all[:len(all)-maxKept*3/4+1] {
		os.Remove(filepath.Join(dir, f.name))
	}
}

// writeTagged stores m after a first line, tag, that says what it is the
// answer of; the rename makes a reader see the whole file or none.
func writeTagged(path, tag string, m proto.Message) {
	body, err := proto.Marshal(m)
	if err != nil || tag == "" {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, append([]byte(tag+"\n"), body...), 0o600); err != nil {
		return
	}
	if os.Rename(tmp, path) != nil {
		os.Remove(tmp)
	}
}

// readTagged reads what writeTagged stored under tag into m: only a
// regular file of root's that no one else may write, as the directory is.
func readTagged(path, tag string, m proto.Message) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o077 != 0 {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeptFile+1))
	if err != nil || len(b) > maxKeptFile {
		return false
	}
	head, body, ok := bytes.Cut(b, []byte("\n"))
	return ok && string(head) == tag && proto.Unmarshal(body, m) == nil
}
