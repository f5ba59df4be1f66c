package compile

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Compiled is Compile with its answers kept: the same profile gives the
// same program on this host for the life of the process (libseccomp and
// the kernel do not change under it). A create validates and prepares,
// which compiled the profile twice, and nearly every container of an
// engine carries the same default profile: compiling Docker's takes
// 11-13 ms here, a warm plugin now pays it once. Results are shared;
// callers must not modify them.
func Compiled(s *specs.LinuxSeccomp) (*Result, error) {
	if s == nil {
		return nil, nil
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return Compile(s)
	}
	key := sha256.Sum256(raw)
	compiledMu.Lock()
	if e, ok := compiledCache[key]; ok {
		compiledMu.Unlock()
		return e.res, e.err
	}
	compiledMu.Unlock()
	res, err := Compile(s)
	compiledMu.Lock()
	defer compiledMu.Unlock()
	if len(compiledCache) >= maxCompiled {
		// Engines use a handful of profiles; one past the bound clears
		// the lot rather than tracking use.
		clear(compiledCache)
	}
	compiledCache[key] = compiledEntry{res, err}
	return res, err
}

type compiledEntry struct {
	res *Result
	err error
}

const maxCompiled = 32

var (
	compiledMu    sync.Mutex
	compiledCache = map[[sha256.Size]byte]compiledEntry{}
)
