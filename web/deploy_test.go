package web

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The reverse proxy of deploy/README.md forwards every path the server
// answers: a snippet that forwards only /u/ left the agenda's links and
// feeds answering 404 behind it.
func TestDeployProxyCoversEveryPath(t *testing.T) {
	b, err := os.ReadFile("../deploy/README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindStringSubmatch(string(b))
	if block == nil {
		t.Fatal("deploy/README.md has no nginx block")
	}
	var locations []string
	for _, m := range regexp.MustCompile(`location\s+(\S+)\s*\{[^}]*proxy_pass http://127\.0\.0\.1:8025;`).FindAllStringSubmatch(block[1], -1) {
		locations = append(locations, m[1])
	}
	s := New(Config{}, Domain{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(s.Routes()) < 9 {
		t.Fatalf("routes: %v", s.Routes())
	}
	for _, r := range s.Routes() {
		path := r[strings.IndexByte(r, '/'):]
		path = strings.NewReplacer("{token}", "TOKEN", "{kind}", "zone", "{file}", "44.ics", "{id}", "1", "{$}", "").Replace(path)
		covered := false
		for _, l := range locations {
			covered = covered || strings.HasPrefix(path, l)
		}
		if !covered {
			t.Errorf("the nginx snippet does not forward %s (locations %v)", path, locations)
		}
	}
	if !strings.Contains(block[1], "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") {
		t.Error("the nginx snippet does not pass the client's address (web.trusted_proxies)")
	}
}
