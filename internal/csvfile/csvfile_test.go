package csvfile

import (
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	f, err := Read(strings.NewReader("\ufeffAddress; Owners\n4405.a; x@y z@w\n\n4405.b;\"unclosed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has("address") || !f.Has("owners") || f.Has("policy") || len(f.Rows) != 2 {
		t.Fatalf("%+v", f)
	}
	r := f.Rows[0]
	if r.Line != 2 || r.Err != nil || r.Field("address") != "4405.a" || r.Field("policy") != "" ||
		strings.Join(SplitList(r.Field("owners")), "|") != "x@y|z@w" {
		t.Fatalf("row 1: %+v", r)
	}
	if f.Rows[1].Err == nil || f.Rows[1].Line != 4 {
		t.Fatalf("row 2: %+v", f.Rows[1])
	}
	if _, err := Read(strings.NewReader("")); err == nil {
		t.Fatal("no header accepted")
	}
}
