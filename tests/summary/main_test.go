package main

import (
	"strings"
	"testing"
)

const first = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: boom\n"}
{"Action":"fail","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestS","Output":"    s_test.go:9: needs a guest\n"}
{"Action":"skip","Package":"p","Test":"TestS"}
{"Action":"fail","Package":"p"}
{"Action":"pass","Package":"q","Test":"TestQ"}
{"Action":"pass","Package":"q"}
`

const retry = `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestS","Output":"    s_test.go:9: needs a guest\n"}
{"Action":"skip","Package":"p","Test":"TestS"}
{"Action":"pass","Package":"p"}
`

func TestRetryReplacesFailedPackage(t *testing.T) {
	a, err := parse(strings.NewReader(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a["p"].bad() || a["q"].bad() {
		t.Fatalf("bad(): p=%v q=%v", a["p"].bad(), a["q"].bad())
	}
	if got := a["p"].tests["TestS"].why; got != "s_test.go:9: needs a guest" {
		t.Errorf("skip reason %q", got)
	}
	b, err := parse(strings.NewReader(retry), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b["p"].bad() {
		t.Error("retry should pass")
	}
}
