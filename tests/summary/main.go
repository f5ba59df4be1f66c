// Command summary reads `go test -json` streams and prints what a person
// needs from them: the output as `go test -v` shows it (with -stream), the
// packages that failed (with -failed), or (by default) why each test was
// skipped, which tests failed on a first run and passed on the retry, and
// one closing line "tests: N passed, N failed, N skipped".
//
// With several files, a later file's results replace an earlier one's for
// the packages it covers: that is how a retry of failed packages counts.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type result struct {
	action string // pass, fail, skip
	why    string // a skip's reason: its last log line
}

// run is one package's results in one file.
type run struct {
	tests map[string]*result
	// failed marks a package that failed outside any test (build error, panic).
	failed bool
	last   map[string]string
}

func parse(r io.Reader, stream io.Writer) (map[string]*run, error) {
	pkgs := map[string]*run{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not test2json (a build error printed by go itself): show it.
			if stream != nil {
				fmt.Fprintln(stream, sc.Text())
			}
			continue
		}
		p := pkgs[e.Package]
		if p == nil {
			p = &run{tests: map[string]*result{}, last: map[string]string{}}
			pkgs[e.Package] = p
		}
		switch e.Action {
		case "output":
			if stream != nil {
				fmt.Fprint(stream, e.Output)
			}
			if t := strings.TrimSpace(e.Output); e.Test != "" && t != "" && !strings.HasPrefix(t, "---") && !strings.HasPrefix(t, "===") {
				p.last[e.Test] = t
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" {
					p.failed = true
				}
				continue
			}
			p.tests[e.Test] = &result{action: e.Action, why: p.last[e.Test]}
		}
	}
	return pkgs, sc.Err()
}

func (p *run) bad() bool {
	if p.failed {
		return true
	}
	for _, r := range p.tests {
		if r.action == "fail" {
			return true
		}
	}
	return false
}

func main() {
	streamFlag := flag.Bool("stream", false, "copy stdin (go test -json) to stdout as go test -v prints it, and to -out")
	out := flag.String("out", "", "with -stream: also save the raw JSON here")
	failed := flag.Bool("failed", false, "print the packages that failed in the files given (a later file's results replace an earlier one's)")
	flag.Parse()

	if *streamFlag {
		var in io.Reader = os.Stdin
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			defer f.Close()
			in = io.TeeReader(os.Stdin, f)
		}
		if _, err := parse(in, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}

	var runs []map[string]*run
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pkgs, err := parse(f, nil)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		runs = append(runs, pkgs)
	}
	final := map[string]*run{}
	var flaky []string
	for i, pkgs := range runs {
		for name, p := range pkgs {
			if prev := final[name]; prev != nil && i > 0 {
				for t, r := range prev.tests {
					if r.action == "fail" && p.tests[t] != nil && p.tests[t].action == "pass" {
						flaky = append(flaky, name+" "+t)
					}
				}
			}
			final[name] = p
		}
	}
	if *failed {
		var names []string
		for name, p := range final {
			if p.bad() {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
		return
	}
	var pass, fail, skip int
	var skips, fails []string
	for name, p := range final {
		if p.failed && len(p.tests) == 0 {
			fail++
			fails = append(fails, name+" (no test ran: build error or panic)")
		}
		for t, r := range p.tests {
			switch r.action {
			case "pass":
				pass++
			case "fail":
				fail++
				fails = append(fails, name+" "+t)
			case "skip":
				skip++
				skips = append(skips, fmt.Sprintf("%s: %s", t, r.why))
			}
		}
	}
	sort.Strings(skips)
	sort.Strings(fails)
	sort.Strings(flaky)
	fmt.Println("\nskipped tests and why:")
	for _, s := range skips {
		fmt.Println("  " + s)
	}
	if len(flaky) > 0 {
		fmt.Println("failed on the first run, passed on the retry (flaky):")
		for _, s := range flaky {
			fmt.Println("  " + s)
		}
	}
	if len(fails) > 0 {
		fmt.Println("failed:")
		for _, s := range fails {
			fmt.Println("  " + s)
		}
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", pass, fail, skip)
	if fail > 0 {
		os.Exit(1)
	}
}
