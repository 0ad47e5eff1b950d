// Package pgtest gives tests a PostgreSQL database of their own: a
// throwaway cluster started once per test binary (initdb and pg_ctl from
// Debian's postgresql package, in a temporary directory, as the postgres
// user when the tests run as root, listening on 127.0.0.1 and a Unix
// socket in that directory), and one database per test, copied from a
// template that holds the migrated schema. RELAIS_TEST_PG_URL names a
// server to use instead (a database URL whose user may create databases).
// Where there is neither, tests skip, saying what to install.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"codeberg.org/relais/relais/internal/freeport"
	"codeberg.org/relais/relais/store"
)

// Skip is the reason tests skip when no server can be had.
const Skip = "SKIP PostgreSQL: no server binaries (apt-get install postgresql, or set RELAIS_TEST_PG_URL)"

var (
	mu      sync.Mutex
	started bool
	base    string // URL of the server, database postgres
	dir     string // the cluster's directory, when this binary started it
	bin     string
	failed  error
	seq     atomic.Int64
	tmpl    bool
)

// Bin returns the directory of PostgreSQL's server binaries, or "".
func Bin() string {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(ms)
	if len(ms) == 0 {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
		return ""
	}
	return filepath.Dir(ms[len(ms)-1])
}

// Available says whether a server can be had, and if not why.
func Available() (bool, string) {
	if os.Getenv("RELAIS_TEST_PG_URL") != "" || Bin() != "" {
		return true, ""
	}
	return false, Skip
}

// server starts the cluster once.
func server() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return base, failed
	}
	started = true
	if u := os.Getenv("RELAIS_TEST_PG_URL"); u != "" {
		base = u
		return base, nil
	}
	bin = Bin()
	if bin == "" {
		failed = errors.New(Skip)
		return "", failed
	}
	base, dir, failed = start(false)
	return base, failed
}

// StartCluster starts a cluster of its own (benchmarks: with fsync as in
// production when fsync is true) and returns the URL of its postgres
// database and how to stop it.
func StartCluster(fsync bool) (string, func(), error) {
	if bin = Bin(); bin == "" {
		return "", nil, errors.New(Skip)
	}
	u, d, err := start(fsync)
	if err != nil {
		return "", nil, err
	}
	return u, func() { stopCluster(d) }, nil
}

func start(fsync bool) (u, dir string, err error) {
	dir, err = os.MkdirTemp("", "relais-pg-")
	if err != nil {
		return "", "", err
	}
	asRoot := os.Geteuid() == 0
	var uid, gid int
	if asRoot {
		// initdb refuses root: the cluster belongs to the postgres user.
		pu, err := user.Lookup("postgres")
		if err != nil {
			return "", dir, fmt.Errorf("pgtest: running as root and there is no postgres user: %w", err)
		}
		uid, _ = strconv.Atoi(pu.Uid)
		gid, _ = strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", dir, err
		}
	}
	run := func(name string, args ...string) ([]byte, error) {
		bin := bin
		var cmd *exec.Cmd
		if asRoot {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		} else {
			cmd = exec.Command(filepath.Join(bin, name), args...)
		}
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "relais", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return "", dir, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	// A port another process took between the look and the server's bind
	// (see internal/freeport) makes the start fail: another port is tried.
	for try := 1; ; try++ {
		port, err := freeport.Port()
		if err != nil {
			return "", dir, err
		}
		// fsync off for tests: a test cluster that dies is thrown away; the
		// hub's own sessions still ask synchronous_commit = on.
		opts := fmt.Sprintf("-k %s -h 127.0.0.1 -p %d -c max_connections=400 -c shared_buffers=128MB", dir, port)
		if !fsync {
			opts += " -c fsync=off -c full_page_writes=off"
		}
		// Server settings for a look inside (benchmarks: "-c log_statement=all").
		if extra := os.Getenv("RELAIS_PGTEST_OPTS"); extra != "" {
			opts += " " + extra
		}
		out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
		if err == nil {
			return fmt.Sprintf("postgres://relais@127.0.0.1:%d/postgres?sslmode=disable", port), dir, nil
		}
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		if try == 3 || !strings.Contains(string(log), "ddress already in use") {
			return "", dir, fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
}

// Stop stops the cluster this binary started, if any, and removes it.
// Call it from TestMain after m.Run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		return
	}
	stopCluster(dir)
	dir = ""
}

func stopCluster(dir string) {
	args := []string{"-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop"}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, "pg_ctl")}, args...)...)
	} else {
		cmd = exec.Command(filepath.Join(bin, "pg_ctl"), args...)
	}
	cmd.Run()
	os.RemoveAll(dir)
}

// withDB returns u naming database name.
func withDB(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + name
	return p.String()
}

// Server returns the URL of the server's postgres database, starting the
// cluster if needed, or skips t.
func Server(t testing.TB) string {
	t.Helper()
	u, err := server()
	if err != nil {
		if strings.HasPrefix(err.Error(), "SKIP") {
			t.Skip(err.Error())
		}
		t.Fatal(err)
	}
	return u
}

// URL returns the URL of a new, empty database with the hub's schema for
// t, dropped when t ends; or skips t when no server can be had.
func URL(t testing.TB) string {
	t.Helper()
	u := Server(t)
	name, err := create(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Drop(u, name) })
	return withDB(u, name)
}

// Bare returns the URL of a new database without any schema, dropped when
// t ends.
func Bare(t testing.TB) string {
	t.Helper()
	u := Server(t)
	name := fmt.Sprintf("relais_b%d_%d", os.Getpid(), seq.Add(1))
	if err := exec1(u, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Drop(u, name) })
	return withDB(u, name)
}

func exec1(u, q string) error {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = db.ExecContext(ctx, q)
	return err
}

// create makes a database from the template, migrating the template first
// if this binary has not.
func create(u string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	tname := fmt.Sprintf("relais_tmpl_%d", os.Getpid())
	if !tmpl {
		exec1(u, "DROP DATABASE IF EXISTS "+tname)
		if err := exec1(u, "CREATE DATABASE "+tname); err != nil {
			return "", err
		}
		db, err := store.OpenURL(withDB(u, tname), "")
		if err != nil {
			return "", fmt.Errorf("pgtest: migrate the template: %w", err)
		}
		db.Close()
		tmpl = true
	}
	name := fmt.Sprintf("relais_t%d_%d", os.Getpid(), seq.Add(1))
	var err error
	for i := 0; i < 50; i++ { // the template may still be held by a closing connection
		if err = exec1(u, "CREATE DATABASE "+name+" TEMPLATE "+tname); err == nil || !strings.Contains(err.Error(), "being accessed") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return name, err
}

// Drop drops database name of server u, closing its connections.
func Drop(u, name string) {
	exec1(u, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// CreateDatabase makes an empty database name on the server of u and
// returns its URL (benchmarks).
func CreateDatabase(u, name string) (string, error) {
	exec1(u, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if err := exec1(u, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return withDB(u, name), nil
}
