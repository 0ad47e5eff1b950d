package hub

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"codeberg.org/relais/relais/internal/pgtest"
)

// storeEnv, set to "postgres", runs this package's tests on PostgreSQL
// (a throwaway cluster, a database per test hub: package pgtest).
const storeEnv = "RELAIS_TEST_STORE"

func onPostgres() bool { return os.Getenv(storeEnv) == "postgres" }

// The end-to-end suite runs on both engines: this test runs the package's
// tests again, in a child process of the same test binary, with the hub's
// store on PostgreSQL. It skips, saying what to install, where PostgreSQL's
// server binaries are absent. -run selects for both runs; the child's
// lines are prefixed "pg| ".
func TestSuiteOnPostgres(t *testing.T) {
	if onPostgres() {
		t.Skip("this is the PostgreSQL run")
	}
	if ok, why := pgtest.Available(); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("-short: SQLite only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.count=1", "-test.v"}
	for _, name := range []string{"test.run", "test.skip", "test.timeout", "test.short", "test.parallel", "test.cpu"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != f.DefValue {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), storeEnv+"=postgres")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	pass, fail, skip := 0, 0, 0
	top := regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+)`)
	var failed []string
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if m := top.FindStringSubmatch(sc.Text()); m != nil {
			switch m[1] {
			case "PASS":
				pass++
			case "FAIL":
				fail++
				failed = append(failed, m[2])
			case "SKIP":
				skip++
			}
		}
	}
	t.Logf("PostgreSQL run: %d passed, %d failed, %d skipped", pass, fail, skip)
	if err != nil || fail > 0 {
		var b strings.Builder
		for _, l := range strings.SplitAfter(out.String(), "\n") {
			b.WriteString("pg| " + l)
		}
		fmt.Fprint(os.Stdout, b.String())
		t.Fatalf("on PostgreSQL: %v; failed: %s", err, strings.Join(failed, " "))
	}
}

// sqliteFiles returns the database files to read byte by byte for what an
// erasure leaves: SQLite's; none on PostgreSQL, whose files are the
// server's (the rows are checked there by the erasure's own sweep).
func sqliteFiles(names ...string) []string {
	if onPostgres() {
		return nil
	}
	return names
}
