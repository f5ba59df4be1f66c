// Package logging writes rung's log in runc's shapes, so containerd's shim
// and podman read it unchanged: JSON lines {"level","msg","time"} or logrus
// text. Plugin logs (hclog JSON on a plugin's stderr) are rewritten into the same
// shape, so the one log holds host and plugins alike.
package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Logger is rung's process-wide log.
type Logger struct {
	mu    sync.Mutex
	out   io.Writer
	json  bool
	debug bool
	// echo also prints errors to stderr: only when no --log was given, or
	// stderr is a terminal, because in a non-tty create stderr is the
	// container's.
	echo io.Writer
}

// Open builds the logger for the global flags.
func Open(path, format string, debug bool) (*Logger, error) {
	l := &Logger{json: format == "json", debug: debug}
	switch format {
	case "", "text", "json":
	default:
		return nil, fmt.Errorf("--log-format: unknown format %q (want text or json)", format)
	}
	if path == "" || path == "-" {
		l.out = os.Stderr
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--log %s: %w", path, err)
	}
	l.out = f
	if isTerminal(os.Stderr) {
		l.echo = os.Stderr
	}
	return l, nil
}

// Discard is a logger that drops everything (tests, the init).
func Discard() *Logger { return &Logger{out: io.Discard} }

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// MsSince is the milliseconds since t, to the microsecond, as the debug
// log's timing fields give them.
func MsSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// Debugging says whether --debug was given.
func (l *Logger) Debugging() bool { return l.debug }

func (l *Logger) write(level, msg string, fields map[string]any) {
	if level == "debug" && !l.debug {
		return
	}
	now := time.Now()
	var line []byte
	if l.json {
		m := map[string]any{"level": level, "msg": msg, "time": now.Format(time.RFC3339Nano)}
		for k, v := range fields {
			if _, taken := m[k]; !taken {
				m[k] = v
			}
		}
		line, _ = json.Marshal(m)
		line = append(line, '\n')
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "time=%q level=%s msg=%q", now.Format(time.RFC3339Nano), level, msg)
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, strconv.Quote(fmt.Sprint(fields[k])))
		}
		b.WriteByte('\n')
		line = []byte(b.String())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out.Write(line)
	if level == "error" && l.echo != nil {
		fmt.Fprintln(l.echo, msg)
	}
}

func pairs(kv []any) map[string]any {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}

// Debugf logs only with --debug.
func (l *Logger) Debugf(format string, args ...any) {
	l.write("debug", fmt.Sprintf(format, args...), nil)
}

// Debug logs msg with key/value pairs, only with --debug.
func (l *Logger) Debug(msg string, kv ...any) { l.write("debug", msg, pairs(kv)) }

// Warnf logs a warning.
func (l *Logger) Warnf(format string, args ...any) {
	l.write("warning", fmt.Sprintf(format, args...), nil)
}

// Error logs the error that ends the command; one line, as containerd shows it.
func (l *Logger) Error(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	l.write("error", msg, nil)
}

// PluginLog is where a plugin's stderr goes: its hclog JSON lines (the
// SDK's Logger) become lines of this log, named after the plugin. Without
// --debug only its warnings and errors are kept, and a Go panic's trace;
// other text on its stderr is debug.
func (l *Logger) PluginLog(name string) io.Writer { return &pluginLog{l: l, name: name} }

type pluginLog struct {
	l     *Logger
	name  string
	buf   []byte
	panic bool
}

func (a *pluginLog) Write(p []byte) (int, error) {
	a.buf = append(a.buf, p...)
	for {
		i := bytes.IndexByte(a.buf, '\n')
		if i < 0 {
			break
		}
		a.line(a.buf[:i])
		a.buf = a.buf[i+1:]
	}
	return len(p), nil
}

func (a *pluginLog) line(b []byte) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		text := string(b)
		if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
			a.panic = true
		}
		level := "debug"
		if a.panic {
			level = "warning"
		}
		a.l.write(level, a.name+": "+text, nil)
		return
	}
	level, _ := m["@level"].(string)
	msg, _ := m["@message"].(string)
	if mod, ok := m["@module"].(string); ok {
		msg = mod + ": " + msg
	}
	fields := map[string]any{}
	for k, v := range m {
		if !strings.HasPrefix(k, "@") {
			fields[k] = v
		}
	}
	switch level {
	case "warn":
		level = "warning"
	case "error":
		// A plugin's error line is not the command's error; keep containerd's
		// "last error line" for the host's own message.
		level = "warning"
	default:
		// Plugins narrate every call at info and below; only --debug wants it.
		level = "debug"
	}
	a.l.write(level, a.name+": "+msg, fields)
}
