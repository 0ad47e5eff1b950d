// Package store is in charge of the hub's database: SQLite, the embedded
// default (one file in the data directory), or PostgreSQL, shared by
// several nodes (store.url = postgres://…). It opens it with the settings
// that make a commit durable, applies the schema migrations
// (migrations/NNN_*.sql for SQLite, migrations/postgres/ for PostgreSQL),
// holds the SQL as named queries (queries/*.sql, shared; queries/postgres/
// holds a variant only where PostgreSQL's SQL really differs), and funnels
// writes through writers that commit concurrent writes together.
//
// # PostgreSQL
//
// The same named queries run on both: "?" and "?N" placeholders become
// "$N", an INSERT into a table with an id gets RETURNING id (LastInsertId),
// booleans travel as 0 and 1 as in SQLite's INTEGER columns. Every session
// runs with synchronous_commit = on: a commit returns once its WAL is
// flushed. PostgreSQL has many writers: several writes run at once, each
// in its own transaction, and the server flushes the WAL of commits that
// come together once (its own group commit); a write that meets a
// deadlock or a serialization failure is run again. Nodes share the
// database: scheduled work takes an advisory lock (Exclusive), workers are
// woken across nodes by LISTEN/NOTIFY (Notify, Listen). See postgres.go.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: a commit returns only
// after the write-ahead log has been fsync'd, so anything committed survives
// a crash or a power cut. Message bodies live in the database too (BLOBs),
// so a message and the decision of where it goes are written in one
// transaction: there is no state where one exists without the other.
//
// # Group commit
//
// SQLite has one writer at a time and each commit costs an fsync. Write
// queues its function to a single writer goroutine, which runs every
// function waiting at that moment inside one transaction, each under its own
// SAVEPOINT (so one failing function rolls back only itself), and commits
// once. While that fsync runs, new writes gather for the next batch. Under
// load, dozens of SMTP sessions share one fsync; alone, a write waits for
// nobody. Write returns nil only once its changes are committed.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"codeberg.org/relais/relais/internal/mention"
)

//go:embed migrations/*.sql queries/*.sql migrations/postgres/*.sql queries/postgres/*.sql
var sqlFiles embed.FS

// FileName is the database file inside the data directory.
const FileName = "relais.db"

// maxBatch bounds how many writes share one transaction, so that one commit
// never holds a very large batch of callers waiting.
const maxBatch = 256

// ErrClosed is returned by Write once the database is closed.
var ErrClosed = errors.New("store: closed")

// DB is the hub's database. Reads go through a pool of read-only
// connections; writes go through Write.
type DB struct {
	r       *sql.DB
	w       *sql.DB
	ckpt    *sql.DB  // one connection for checkpoints (SQLite)
	pg      *pgState // PostgreSQL's part; nil on SQLite
	queries map[string]string
	// Every named query prepared once on each side: parsing SQL is a good
	// part of the cost of a small statement.
	rst, wst map[string]*sql.Stmt
	reqs     chan *writeReq
	done     chan struct{}
	wg       sync.WaitGroup

	// onCommit, if set, is told of each commit (metrics).
	onCommit func(n int, took time.Duration)

	closeOnce sync.Once
	mu        sync.RWMutex // held for reading by senders on reqs, for writing by Close
	closed    bool
}

type writeReq struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
	lazy bool // may wait up to lazyDelay for a commit to share
	// shared: may share a PostgreSQL transaction with other shared writes
	// without savepoints (WriteShared).
	shared bool
}

// lazyDelay is the longest a WriteLazy waits for another write to share
// its commit.
const lazyDelay = 10 * time.Millisecond

// Open opens (creating if needed) the SQLite database in dir and brings
// its schema up to date.
func Open(dir string) (*DB, error) {
	return openSQLite(dir, Options{})
}

func openSQLite(dir string, o Options) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	// Truncate the WAL back to 64 MB after checkpoints: large messages
	// would otherwise leave it as big as the largest batch ever written.
	q.Set("_journal_size_limit", strconv.Itoa(64<<20))
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	registerDriver()
	w, err := sql.Open(driverName, "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Set("_query_only", "1")
	r, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{r: r, w: w, reqs: make(chan *writeReq, maxBatch), done: make(chan struct{})}
	if db.queries, err = loadQueries(SQLite); err != nil {
		db.closeHandles()
		return nil, err
	}
	from, err := db.migrate(o.NoMigrate)
	if err != nil {
		db.closeHandles()
		return nil, err
	}
	if from > 0 && from < 9 {
		// Databases made before secure_delete was on may hold deleted
		// content in free pages: rewritten once, they hold none.
		if _, err := db.w.Exec("VACUUM"); err != nil {
			db.closeHandles()
			return nil, fmt.Errorf("store: vacuum: %w", err)
		}
	}
	if err := db.prepare(); err != nil {
		db.closeHandles()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.closeHandles()
		return nil, fmt.Errorf("store: %w", err)
	}
	q.Del("_query_only")
	if db.ckpt, err = sql.Open(driverName, "file:"+path+"?"+q.Encode()); err != nil {
		db.closeHandles()
		return nil, err
	}
	db.ckpt.SetMaxOpenConns(1)
	db.wg.Add(2)
	go db.writer()
	go db.checkpointer()
	return db, nil
}

const driverName = "sqlite3-relais"

var registerOnce sync.Once

// registerDriver registers go-sqlite3 with a hook that turns off automatic
// checkpoints: they would run inside a commit, making an SMTP client wait
// for a large write to the database file. The checkpointer does them.
//
// Every connection also runs with secure_delete on: what is deleted is
// overwritten with zeros, so an erased member or a message past its
// retention does not linger in free pages of the file. And each has the
// functions erasure uses in SQL: relais_mentions(x, email) is 1 when the
// text or blob x holds the address, as written or base32/base64-encoded
// (package mention); relais_scrub(x, email, repl) replaces it where it is
// written as it is.
func registerDriver() {
	registerOnce.Do(func() {
		sql.Register(driverName, &sqlite3.SQLiteDriver{
			ConnectHook: func(c *sqlite3.SQLiteConn) error {
				if _, err := c.Exec("PRAGMA wal_autocheckpoint = 0; PRAGMA secure_delete = ON", nil); err != nil {
					return err
				}
				if err := c.RegisterFunc("relais_mentions", sqlMentions, true); err != nil {
					return err
				}
				return c.RegisterFunc("relais_scrub", sqlScrub, true)
			},
		})
	})
}

func sqlMentions(x any, email string) bool {
	switch v := x.(type) {
	case []byte:
		return mention.In(v, email)
	case string:
		return mention.In([]byte(v), email)
	}
	return false
}

func sqlScrub(x any, email, repl string) any {
	switch v := x.(type) {
	case []byte:
		return mention.Replace(v, email, repl)
	case string:
		return string(mention.Replace([]byte(v), email, repl))
	}
	return x
}

// checkpointInterval is how often WAL content is copied into the database
// file. PASSIVE checkpoints never block the writer or the readers.
const checkpointInterval = time.Second

func (db *DB) checkpointer() {
	defer db.wg.Done()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-db.done:
			db.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			return
		case <-t.C:
			db.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (db *DB) prepare() error {
	db.rst, db.wst = make(map[string]*sql.Stmt), make(map[string]*sql.Stmt)
	for name, q := range db.queries {
		var err error
		if db.wst[name], err = db.w.Prepare(q); err != nil {
			return fmt.Errorf("store: prepare %s: %w", name, err)
		}
		if db.rst[name], err = db.r.Prepare(q); err != nil {
			return fmt.Errorf("store: prepare %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) closeHandles() {
	for _, st := range db.rst {
		st.Close()
	}
	for _, st := range db.wst {
		st.Close()
	}
	db.r.Close()
	if db.w != db.r {
		db.w.Close()
	}
	if db.ckpt != nil {
		db.ckpt.Close()
	}
	if db.pg != nil {
		db.pg.close()
	}
}

// OnCommit sets a function told, after each commit, how many writes it
// carried and how long it took (its fsync included). Set it before the
// first Write; it must not block.
func (db *DB) OnCommit(f func(n int, took time.Duration)) { db.onCommit = f }

// timedCommit commits tx, telling onCommit.
func (db *DB) timedCommit(tx *sql.Tx, n int) error {
	start := time.Now()
	err := tx.Commit()
	if db.onCommit != nil && err == nil {
		db.onCommit(n, time.Since(start))
	}
	return err
}

// Close waits for pending writes and closes the database.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		close(db.reqs)
		close(db.done)
		db.mu.Unlock()
		db.wg.Wait()
		if db.pg != nil {
			db.pg.close()
			err = db.r.Close()
			return
		}
		for _, st := range db.rst {
			st.Close()
		}
		for _, st := range db.wst {
			st.Close()
		}
		err = errors.Join(db.r.Close(), db.w.Close(), db.ckpt.Close())
	})
	return err
}

// migrate applies migrations/NNN_*.sql above PRAGMA user_version, each in
// its own transaction with the version bump; with check, it only refuses a
// schema behind (Options.NoMigrate). It returns the version the database
// had.
func (db *DB) migrate(check bool) (int, error) {
	var version int
	if err := db.w.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	from := version
	if check {
		if want := lastMigration("migrations/*.sql"); version < want {
			return from, &SchemaBehindError{Have: version, Want: want}
		}
		return from, nil
	}
	names, err := fs.Glob(sqlFiles, "migrations/*.sql")
	if err != nil {
		return from, err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return from, fmt.Errorf("store: migration %s: name must start with its number", base)
		}
		if n <= version {
			continue
		}
		body, err := sqlFiles.ReadFile(name)
		if err != nil {
			return from, err
		}
		tx, err := db.w.Begin()
		if err != nil {
			return from, fmt.Errorf("store: migration %s: %w", base, err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return from, fmt.Errorf("store: migration %s: %w", base, err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return from, fmt.Errorf("store: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return from, fmt.Errorf("store: migration %s: %w", base, err)
		}
		version = n
	}
	return from, nil
}

// loadQueries reads every "-- name: x.y" block of queries/*.sql; for
// PostgreSQL, a block of the same name in queries/postgres/*.sql replaces
// the shared one, and placeholders are rewritten (pgSQL). A block there
// that has no shared counterpart is PostgreSQL's alone (what only a
// shared database needs: claims with SKIP LOCKED); its callers ask
// Engine first.
func loadQueries(e Engine) (map[string]string, error) {
	out, err := readQueries("queries/*.sql")
	if err != nil || e != Postgres {
		return out, err
	}
	variants, err := readQueries("queries/postgres/*.sql")
	if err != nil {
		return nil, err
	}
	for name, q := range variants {
		out[name] = q
	}
	for name, q := range out {
		out[name] = pgSQL(q)
	}
	return out, nil
}

func readQueries(glob string) (map[string]string, error) {
	out := make(map[string]string)
	names, err := fs.Glob(sqlFiles, glob)
	if err != nil {
		return nil, err
	}
	for _, file := range names {
		body, err := sqlFiles.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var name string
		var b strings.Builder
		flush := func() error {
			if name == "" {
				return nil
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("store: query %s defined twice", name)
			}
			out[name] = withoutTrailingComments(b.String())
			b.Reset()
			return nil
		}
		for _, line := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
				if err := flush(); err != nil {
					return nil, err
				}
				name = strings.TrimSpace(rest)
				continue
			}
			if name != "" {
				b.WriteString(line)
				b.WriteByte('\n')
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// withoutTrailingComments trims q and drops the comment lines at its
// end: they are the next query's, written above its name. Left there, they
// would hide what PostgreSQL's describe appends (an INSERT's RETURNING
// would land in the comment, and LastInsertId say 0).
func withoutTrailingComments(q string) string {
	q = strings.TrimSpace(q)
	for {
		i := strings.LastIndexByte(q, '\n')
		if !strings.HasPrefix(strings.TrimSpace(q[i+1:]), "--") {
			return q
		}
		if i < 0 {
			return ""
		}
		q = strings.TrimSpace(q[:i])
	}
}

func stmt(m map[string]*sql.Stmt, name string) *sql.Stmt {
	st, ok := m[name]
	if !ok {
		panic("store: no query named " + name)
	}
	return st
}

// Query runs the named read query.
func (db *DB) Query(ctx context.Context, name string, args ...any) (*sql.Rows, error) {
	if db.pg != nil {
		rows, err := db.r.QueryContext(ctx, db.sqlOf(name), pgArgs(args)...)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", name, err)
		}
		return rows, nil
	}
	rows, err := stmt(db.rst, name).QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return rows, nil
}

// QueryRow runs the named read query that returns at most one row.
func (db *DB) QueryRow(ctx context.Context, name string, args ...any) *sql.Row {
	if db.pg != nil {
		return db.r.QueryRowContext(ctx, db.sqlOf(name), pgArgs(args)...)
	}
	return stmt(db.rst, name).QueryRowContext(ctx, args...)
}

// sqlOf returns the SQL of the named query.
func (db *DB) sqlOf(name string) string {
	q, ok := db.queries[name]
	if !ok {
		panic("store: no query named " + name)
	}
	return q
}

// Tx is a write transaction handed to a Write function. Its methods take
// query names, not SQL.
type Tx struct {
	tx     *sql.Tx
	db     *DB
	depth  int
	notify map[string]bool // channels to notify at the commit (PostgreSQL)
	held   *Received       // the message this transaction inserted (Hold)
	after  []func()        // run once the transaction has committed (AfterCommit)
}

// AfterCommit runs fn once tx has committed, after the commit returned
// and before Write returns; never if tx rolls back (a write run again
// starts without the functions its failed run asked for).
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// Held returns the message tx inserted and holds (Hold), if it is id,
// without reading the database.
func (t *Tx) Held(id string) (Received, bool) {
	if t.held != nil && t.held.ID == id {
		return *t.held, true
	}
	return Received{}, false
}

// runAfter runs fns, the AfterCommit functions of a write committed.
func runAfter(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// Exec runs the named statement.
func (t *Tx) Exec(name string, args ...any) (sql.Result, error) {
	if t.db.pg != nil {
		return t.db.pg.exec(t, name, args)
	}
	res, err := t.tx.Stmt(stmt(t.db.wst, name)).Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return res, nil
}

// Query runs the named query inside the transaction.
func (t *Tx) Query(name string, args ...any) (*sql.Rows, error) {
	if t.db.pg != nil {
		if err := t.db.pg.prepareMentions(t, name, args); err != nil {
			return nil, fmt.Errorf("store: %s: %w", name, err)
		}
		rows, err := t.tx.Query(t.db.sqlOf(name), pgArgs(args)...)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", name, err)
		}
		return rows, nil
	}
	rows, err := t.tx.Stmt(stmt(t.db.wst, name)).Query(args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return rows, nil
}

// QueryRow runs the named single-row query inside the transaction.
func (t *Tx) QueryRow(name string, args ...any) *sql.Row {
	if t.db.pg != nil {
		return t.tx.QueryRow(t.db.sqlOf(name), pgArgs(args)...)
	}
	return t.tx.Stmt(stmt(t.db.wst, name)).QueryRow(args...)
}

// Savepoint runs fn inside a nested savepoint of the transaction: if fn
// returns an error or panics, what it wrote is rolled back and the rest of
// the transaction goes on, without the AfterCommit functions fn asked for.
func (t *Tx) Savepoint(fn func() error) (err error) {
	t.depth++
	name := fmt.Sprintf("n%d", t.depth)
	defer func() { t.depth-- }()
	if _, err := t.tx.Exec("SAVEPOINT " + name); err != nil {
		return fmt.Errorf("store: savepoint: %w", err)
	}
	after := len(t.after)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("store: panic: %v", p)
			}
		}()
		err = fn()
	}()
	if err != nil {
		t.after = t.after[:after]
		if _, rerr := t.tx.Exec("ROLLBACK TO " + name); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if _, rerr := t.tx.Exec("RELEASE " + name); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// Write runs fn in a write transaction and returns once its changes are
// durably committed, or with the error that prevented it. fn may run in the
// same transaction as other callers' functions; if fn returns an error, only
// its own changes are rolled back. fn must not keep tx after returning.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	return db.write(ctx, fn, false)
}

// WriteLazy is Write for what may wait a little: it rides along with the
// next commit anyone makes, or is committed alone after lazyDelay. The
// outcome of a delivery attempt is such a write; with it, even one SMTP
// session at a time costs one fsync per message, not two.
func (db *DB) WriteLazy(ctx context.Context, fn func(tx *Tx) error) error {
	return db.write(ctx, fn, true)
}

// WriteShared is Write for a write that may share its transaction, on
// PostgreSQL, with other shared writes waiting at the same time, without
// savepoints: one BEGIN and one COMMIT for all. It is for writes that
// rarely fail (a failure runs every write of the transaction again,
// each alone) and take no row lock another write could take in another
// order (their transactions would deadlock); fn may run twice, so it
// makes no change outside tx but through tx.AfterCommit. Accepting a
// message for a group is such a write. On SQLite it is Write: every
// write shares the commit there, each under its savepoint.
func (db *DB) WriteShared(ctx context.Context, fn func(tx *Tx) error) error {
	return db.send(&writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), shared: true})
}

func (db *DB) write(ctx context.Context, fn func(tx *Tx) error, lazy bool) error {
	return db.send(&writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), lazy: lazy})
}

func (db *DB) send(req *writeReq) error {
	ctx := req.ctx
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.reqs <- req:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the request is committed or failed by the writer; wait
	// for its verdict even if ctx ends, so the caller never mistakes a
	// committed write for a failed one.
	return <-req.done
}

func (db *DB) writer() {
	defer db.wg.Done()
	var lazy []*writeReq // waiting for a commit to ride along with
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var timerC <-chan time.Time
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case req, ok := <-db.reqs:
			if !ok {
				if len(lazy) > 0 {
					db.commit(lazy)
				}
				return
			}
			batch = batch[:0]
			if req.lazy {
				if len(lazy) == 0 {
					timer.Reset(lazyDelay)
					timerC = timer.C
				}
				lazy = append(lazy, req)
				if len(lazy) < maxBatch {
					continue
				}
			} else {
				batch = append(batch, req)
			}
		case <-timerC:
			batch = batch[:0]
		}
		timer.Stop()
		timerC = nil
		n := min(len(lazy), maxBatch-len(batch))
		batch = append(batch, lazy[:n]...)
		lazy = append(lazy[:0], lazy[n:]...)
		if len(lazy) > 0 { // one left over by a full batch
			timer.Reset(lazyDelay)
			timerC = timer.C
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		db.commit(batch)
	}
}

func (db *DB) commit(batch []*writeReq) {
	if db.pg != nil {
		db.commitPG(batch)
		return
	}
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	sqlTx, err := db.w.Begin()
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	tx := &Tx{tx: sqlTx, db: db}
	if len(batch) == 1 {
		// Alone: the transaction is the savepoint.
		r := batch[0]
		if err := r.ctx.Err(); err != nil {
			sqlTx.Rollback()
			r.done <- err
			return
		}
		if err := runSafely(r.fn, tx); err != nil {
			if rerr := sqlTx.Rollback(); rerr != nil {
				err = errors.Join(err, rerr)
			}
			r.done <- err
			return
		}
		if err := db.timedCommit(sqlTx, 1); err != nil {
			r.done <- fmt.Errorf("store: commit: %w", err)
			return
		}
		runAfter(tx.after)
		r.done <- nil
		return
	}
	after := make([][]func(), len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sqlTx.Exec("SAVEPOINT w"); err != nil {
			errs[i] = fmt.Errorf("store: savepoint: %w", err)
			continue
		}
		tx.after, tx.held = nil, nil
		errs[i] = runSafely(r.fn, tx)
		after[i] = tx.after
		if errs[i] != nil {
			if _, err := sqlTx.Exec("ROLLBACK TO w"); err != nil {
				sqlTx.Rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := sqlTx.Exec("RELEASE w"); err != nil {
			sqlTx.Rollback()
			fail(fmt.Errorf("store: release savepoint: %w", err))
			return
		}
	}
	if err := db.timedCommit(sqlTx, len(batch)); err != nil {
		fail(fmt.Errorf("store: commit: %w", err))
		return
	}
	for i, r := range batch {
		if errs[i] == nil {
			runAfter(after[i])
		}
		r.done <- errs[i]
	}
}

// runSafely turns a panic in a write function into that caller's error, so
// one bad write cannot take the writer, and everyone waiting on it, down.
func runSafely(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write function panicked: %v", p)
		}
	}()
	return fn(tx)
}

// Secret returns the server secret named name (32 random bytes), creating
// it on first use. Reply keys, VERP tokens and unsubscribe links are HMACs
// under such secrets.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.QueryRow(ctx, "setting.get", "secret:"+name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: read secret: %w", err)
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	err = db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec("setting.insert-if-absent", "secret:"+name, fresh)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := db.QueryRow(ctx, "setting.get", "secret:"+name).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: read secret: %w", err)
	}
	return v, nil
}

// NewID returns a fresh message id: 10 characters of time (sortable, to the
// millisecond) and 10 random ones, lower-case base 32.
func NewID() string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])[:20]
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// Reader runs named read queries outside a write transaction, with the
// same methods as Tx, so that code reading data can take either.
type Reader struct {
	db  *DB
	ctx context.Context
}

// Reader returns a Reader bound to ctx.
func (db *DB) Reader(ctx context.Context) Reader { return Reader{db: db, ctx: ctx} }

// Query runs the named read query.
func (r Reader) Query(name string, args ...any) (*sql.Rows, error) {
	return r.db.Query(r.ctx, name, args...)
}

// QueryRow runs the named single-row read query.
func (r Reader) QueryRow(name string, args ...any) *sql.Row {
	return r.db.QueryRow(r.ctx, name, args...)
}

// Received is an accepted message as the spool keeps it.
type Received struct {
	ID       string
	At       time.Time
	MailFrom string // envelope sender, "" for the null sender
	RemoteIP string
	Helo     string
	SMTPUTF8 bool
	Body8Bit bool
	Body     []byte
}

// Hold tells tx the message it has just inserted, which Received then
// gives without reading it back (the spool's handlers read what the same
// transaction wrote: on PostgreSQL, two round trips and the body saved).
// m must not change afterwards.
func (tx *Tx) Hold(m Received) { tx.held = &m }

// Received reads accepted message id inside tx.
func (tx *Tx) Received(id string) (Received, error) {
	if tx.held != nil && tx.held.ID == id {
		return *tx.held, nil
	}
	m := Received{ID: id}
	var at int64
	var size int
	err := tx.QueryRow("message.envelope", id).Scan(&at, &m.MailFrom, &m.RemoteIP, &m.Helo, &m.SMTPUTF8, &m.Body8Bit, &size)
	if err != nil {
		return m, err
	}
	m.At = time.Unix(at, 0)
	err = tx.QueryRow("message.body", id).Scan(&m.Body)
	return m, err
}

// Engine says which database the transaction runs on.
func (t *Tx) Engine() Engine { return t.db.Engine() }
