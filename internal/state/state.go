// Package state is rung's container state store: one directory per container
// under the --root, holding state.json (written atomically before every
// hand-off, so a rung killed at any instant leaves a record `delete --force`
// can act on), the exec fifo and a lock.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Status values beyond the OCI ones are not used; "paused" is runc's.
const (
	Creating = "creating"
	Created  = "created"
	Running  = "running"
	Stopped  = "stopped"
	Paused   = "paused"
)

const (
	stateFile = "state.json"
	// FifoName is the exec fifo the init blocks on until `start` opens it.
	FifoName = "exec.fifo"
)

// idCharsAllowed is runc's id rule, ^[\w+\-.]+$, written out: a regexp
// compiled at package init cost every rung command about 1% of its CPU.
func idCharsAllowed(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ValidateID applies runc's rule for container ids; it also keeps ids safe
// as directory names.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if len(id) > 1024 || !idCharsAllowed(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q: only letters, digits, '_', '+', '-' and '.' are allowed", id)
	}
	return nil
}

// Action is a plugin plan action as stored: the protobuf's JSON form.
type Action = json.RawMessage

// PluginRecord is what one stage plugin did for the container.
type PluginRecord struct {
	Stage  string `json:"stage"`
	Binary string `json:"binary"`
	// PrepareStarted is written before Prepare is called and Prepared after it
	// answered, so a container cut off between the two still gets Destroy.
	PrepareStarted bool              `json:"prepareStarted,omitempty"`
	Prepared       bool              `json:"prepared,omitempty"`
	State          map[string]string `json:"state,omitempty"`
	Actions        []Action          `json:"actions,omitempty"`
	Resources      bool              `json:"resources,omitempty"`
	// NoDestroy is the plugin's word (Describe) that Destroy has nothing to do.
	NoDestroy bool `json:"noDestroy,omitempty"`
	// Teardown is the plugin's word (Prepare) that Destroy is these rmdirs
	// once the processes are gone, so delete may do them without it.
	Teardown *Teardown `json:"teardown,omitempty"`
}

// Teardown is a stage's Destroy as cgroup rmdirs (stagev1.Teardown).
type Teardown struct {
	CgroupDirs   []string `json:"cgroupDirs"`
	EmptyParents []string `json:"emptyParents,omitempty"`
}

// NeedsDestroy says whether delete must call the plugin's Destroy: when it
// stored state, or when Prepare may have acted without a record of it.
func (p *PluginRecord) NeedsDestroy() bool {
	return !p.NoDestroy && ((p.PrepareStarted && !p.Prepared) || len(p.State) > 0)
}

// Container is state.json.
type Container struct {
	ID      string    `json:"id"`
	Bundle  string    `json:"bundle"`
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
	// Status is the last status rung set; Current derives the live one.
	Status string `json:"status"`
	// CreatorPid is the `rung create` that is building the container; while it
	// lives the container is "creating".
	CreatorPid int `json:"creatorPid,omitempty"`
	// CreatorStartTime tells the creator from a process that got its pid
	// after it died.
	CreatorStartTime uint64 `json:"creatorStartTime,omitempty"`
	// BootstrapPid is the pre-fork bootstrap, recorded so a create killed
	// between spawn and fork can still be cleaned up; cleared once the init
	// is forked (the bootstrap exits then, and its pid is anyone's).
	BootstrapPid       int      `json:"bootstrapPid,omitempty"`
	BootstrapStartTime uint64   `json:"bootstrapStartTime,omitempty"`
	Pid                int      `json:"pid,omitempty"`
	PidStartTime       uint64   `json:"pidStartTime,omitempty"`
	CgroupPath         string   `json:"cgroupPath,omitempty"`
	CgroupV1Paths      []string `json:"cgroupV1Paths,omitempty"`
	// SharesHostMounts marks a container without a mount namespace: its
	// mounts live under Rootfs in the host's namespace, and delete unmounts
	// all of them but RootfsMountsBefore (mount ids).
	SharesHostMounts   bool                     `json:"sharesHostMounts,omitempty"`
	RootfsMountsBefore []int                    `json:"rootfsMountsBefore,omitempty"`
	Paused             bool                     `json:"paused,omitempty"`
	Annotations        map[string]string        `json:"annotations,omitempty"`
	Plugins            map[string]*PluginRecord `json:"plugins,omitempty"`
	// RawSpec is the container's spec as the bundle's config.json had it.
	// It is decoded only by the commands that need it (Spec, Hooks): in a
	// fresh process decoding a whole spec costs ~1.2 ms of encoding/json's
	// type set-up, which start, delete and kill need not pay, and plugins
	// get these bytes as they are.
	RawSpec json.RawMessage `json:"spec,omitempty"`
	Steps   []string        `json:"steps,omitempty"`

	spec *specs.Spec
}

// SetSpec records the spec and its bytes (they must say the same).
func (c *Container) SetSpec(raw []byte, s *specs.Spec) { c.RawSpec, c.spec = raw, s }

// Spec is the stored spec, decoded on first use.
func (c *Container) Spec() (*specs.Spec, error) {
	if c.spec == nil {
		if len(c.RawSpec) == 0 {
			return nil, fmt.Errorf("container %q: its state has no spec", c.ID)
		}
		var s specs.Spec
		if err := json.Unmarshal(c.RawSpec, &s); err != nil {
			return nil, fmt.Errorf("container %q: the spec in its state: %w", c.ID, err)
		}
		c.spec = &s
	}
	return c.spec, nil
}

// Hooks is the stored spec's hooks alone (nil if it has none), without
// decoding the rest of it.
func (c *Container) Hooks() (*specs.Hooks, error) {
	if c.spec != nil {
		return c.spec.Hooks, nil
	}
	// Without the key anywhere (most specs) there is nothing to decode;
	// the word inside some string only costs the decode.
	if !bytes.Contains(c.RawSpec, []byte(`"hooks"`)) {
		return nil, nil
	}
	var doc struct {
		Hooks *specs.Hooks `json:"hooks"`
	}
	if err := json.Unmarshal(c.RawSpec, &doc); err != nil {
		return nil, fmt.Errorf("container %q: the hooks in its state: %w", c.ID, err)
	}
	return doc.Hooks, nil
}

// Store is a --root directory.
type Store struct{ Root string }

// Dir is the container's state directory.
func (s Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// Init makes the root directory, private to root.
func (s Store) Init() error {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return fmt.Errorf("state root %s: %w", s.Root, err)
	}
	return nil
}

// ErrExists and ErrNotExist classify ids.
var (
	ErrExists   = errors.New("container already exists")
	ErrNotExist = errors.New("container does not exist")
)

// Reserve creates the container's directory, failing if the id is taken.
func (s Store) Reserve(id string) error {
	if err := s.Init(); err != nil {
		return err
	}
	if err := os.Mkdir(s.Dir(id), 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("container %q: %w", id, ErrExists)
		}
		return fmt.Errorf("container %q: state dir: %w", id, err)
	}
	return nil
}

// Save writes state.json atomically.
func (s Store) Save(c *Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := s.Dir(c.ID)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("container %q: saving state: %w", c.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("container %q: saving state: %w", c.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("container %q: saving state: %w", c.ID, err)
	}
	return nil
}

// Saver saves one container's state repeatedly (create saves before every
// hand-off) without a new inode per save: it rewrites a spare file and
// swaps it with state.json (renameat2 RENAME_EXCHANGE), which keeps each
// save atomic. A new inode costs a journal commit on disk file systems.
type Saver struct {
	store Store
	spare string
}

// Saver returns a Saver private to this process (the spare is per-pid, so
// two rung processes never write the same one).
func (s Store) Saver(id string) *Saver {
	return &Saver{store: s, spare: filepath.Join(s.Dir(id), ".state.spare."+strconv.Itoa(os.Getpid()))}
}

// Save writes state.json atomically.
func (sv *Saver) Save(c *Container) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(sv.spare, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("container %q: saving state: %w", c.ID, err)
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("container %q: saving state: %w", c.ID, werr)
	}
	target := filepath.Join(sv.store.Dir(c.ID), stateFile)
	err = unix.Renameat2(unix.AT_FDCWD, sv.spare, unix.AT_FDCWD, target, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
		// No state.json yet (or no RENAME_EXCHANGE here): a plain rename.
		err = os.Rename(sv.spare, target)
	}
	if err != nil {
		return fmt.Errorf("container %q: saving state: %w", c.ID, err)
	}
	return nil
}

// Close removes the spare.
func (sv *Saver) Close() { os.Remove(sv.spare) }

// Load reads a container's state. A directory without state.json (a create
// killed right after Reserve) loads as a bare "creating" record.
func (s Store) Load(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), stateFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(s.Dir(id)); serr == nil {
			return &Container{ID: id, Status: Creating}, nil
		}
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: reading state: %w", id, err)
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("container %q: state.json: %w", id, err)
	}
	return &c, nil
}

// List returns the ids under the root.
func (s Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Remove deletes the container's directory.
func (s Store) Remove(id string) error {
	if err := os.RemoveAll(s.Dir(id)); err != nil {
		return fmt.Errorf("container %q: removing state: %w", id, err)
	}
	return nil
}

// Lock takes the container's exclusive lock, a flock on its state
// directory, and returns the func that releases it. There is no lock file:
// a new inode costs a journal commit on disk file systems (start made one,
// delete removed it). A delete that held the lock before us may have
// removed the directory, and a create made a new one under the same id
// since; the lock is only ours once the path still names the directory
// we locked.
func (s Store) Lock(id string) (func(), error) {
	dir := s.Dir(id)
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("container %q: lock: %w", id, &os.PathError{Op: "open", Path: dir, Err: err})
		}
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("container %q: lock: %w", id, err)
		}
		var held, now unix.Stat_t
		if err := unix.Fstat(fd, &held); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("container %q: lock: %w", id, err)
		}
		err = unix.Lstat(dir, &now)
		if err == nil && held.Dev == now.Dev && held.Ino == now.Ino {
			return func() { unix.Close(fd) }, nil
		}
		unix.Close(fd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q: lock: %w", id, err)
		}
	}
}

// FifoPath is where the exec fifo lives.
func (s Store) FifoPath(id string) string { return filepath.Join(s.Dir(id), FifoName) }

// ProcessStartTime reads field 22 of /proc/PID/stat, which tells a live
// process from a later one that reused its pid.
func ProcessStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(s[i+1:])
	// After the comm: state is field 3, starttime is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, fmt.Errorf("process %d is a zombie", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Alive says whether the recorded init still runs (and is the same process).
func (c *Container) Alive() bool { return sameProcess(c.Pid, c.PidStartTime) }

// CreatorAlive says whether the recorded `rung create` still runs.
func (c *Container) CreatorAlive() bool { return sameProcess(c.CreatorPid, c.CreatorStartTime) }

// BootstrapAlive says whether the recorded bootstrap still runs.
func (c *Container) BootstrapAlive() bool { return sameProcess(c.BootstrapPid, c.BootstrapStartTime) }

// sameProcess says whether pid still names the process that started at
// start: a pid is reused once its process is reaped, and rung signals what
// it records. A record without a start time (written by an older rung)
// falls back to whether the pid exists.
func sameProcess(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if start == 0 {
		return syscall.Kill(pid, 0) == nil
	}
	st, err := ProcessStartTime(pid)
	return err == nil && st == start
}

// Current is the live OCI status.
func (c *Container) Current(s Store) string {
	if c.Pid == 0 {
		if c.CreatorAlive() {
			return Creating
		}
		return Stopped
	}
	if !c.Alive() {
		return Stopped
	}
	if c.Status == Creating {
		if c.CreatorAlive() {
			return Creating
		}
		return Stopped
	}
	if c.Paused {
		return Paused
	}
	if _, err := os.Stat(s.FifoPath(c.ID)); err == nil {
		return Created
	}
	return Running
}

// OCIState is the runtime-spec state document.
func (c *Container) OCIState(s Store) specs.State {
	st := specs.State{
		Version:     specs.Version,
		ID:          c.ID,
		Status:      specs.ContainerState(c.Current(s)),
		Bundle:      c.Bundle,
		Annotations: c.Annotations,
	}
	if st.Status != specs.StateStopped {
		st.Pid = c.Pid
	}
	return st
}
