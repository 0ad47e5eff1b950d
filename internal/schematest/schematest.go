// Package schematest makes, for tests, a database as the previous release
// of relais left it: the store's migrations but the last.
package schematest

import (
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// PreviousRelease applies to raw the migrations of glob (a path to
// store/migrations/*.sql or store/migrations/postgres/*.sql) but the last,
// and returns the version the database is at and this binary's. A
// migrating open really brings it up to date, so an open that should not
// migrate and does is seen doing it. It sets no version number: the
// caller does, as its engine keeps it.
func PreviousRelease(t testing.TB, raw *sql.DB, glob string) (have, want int) {
	t.Helper()
	names, err := filepath.Glob(glob)
	if err != nil || len(names) < 2 {
		t.Fatalf("migrations %s: %v %v", glob, names, err)
	}
	sort.Strings(names)
	number := func(name string) int {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, name := range names[:len(names)-1] {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return number(names[len(names)-2]), number(names[len(names)-1])
}
