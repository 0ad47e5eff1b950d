package store

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"codeberg.org/relais/relais/internal/mention"
)

// Engine is the database a DB runs on.
type Engine int

const (
	// SQLite: one file in the data directory, one process.
	SQLite Engine = iota
	// Postgres: a PostgreSQL database that several nodes share.
	Postgres
)

func (e Engine) String() string {
	if e == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Engine says which database db runs on.
func (db *DB) Engine() Engine {
	if db.pg != nil {
		return Postgres
	}
	return SQLite
}

// IsPostgresURL says whether url names a PostgreSQL database
// (postgres://… or postgresql://…).
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Options says how to open a PostgreSQL database.
type Options struct {
	// MaxConns bounds the connections this node opens (default 16).
	MaxConns int
	// Writers is how many transactions of writes run at once, each taking
	// the writes waiting when it starts (default: the number of cores, at
	// least 2). More writers wait less on a distant server; fewer share
	// more of each commit, which counts when the server shares the cores.
	Writers int
	// NoMigrate opens without bringing the schema up to date: a database
	// whose schema is behind this binary's is refused (*SchemaBehindError)
	// and left as it is. For commands that only read, which must not
	// migrate a database under a hub still running an older binary.
	NoMigrate bool
}

// OpenURL opens the database url names: PostgreSQL for postgres://…,
// else (url "") the SQLite database of dir.
func OpenURL(url, dir string) (*DB, error) {
	return OpenWith(url, dir, Options{})
}

// OpenWith is OpenURL with options for PostgreSQL.
func OpenWith(url, dir string, o Options) (*DB, error) {
	switch {
	case url == "":
		return openSQLite(dir, o)
	case IsPostgresURL(url):
		return openPostgres(url, o)
	}
	return nil, fmt.Errorf("store: url %q: only postgres://… is known (leave it empty for SQLite)", redactURL(url))
}

// redactURL hides a password in url, for messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return u[:i+3] + rest[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	return u
}

// pgState is what a DB on PostgreSQL holds besides the pool.
type pgState struct {
	url       string
	returning map[string]string // query name → the id column RETURNING gives
	mentions  map[string][]mentionCall

	lmu       sync.Mutex
	listeners map[string][]chan struct{}
	lwake     chan struct{} // a channel was added: LISTEN to it
	lstop     context.CancelFunc
	lwg       sync.WaitGroup
}

func openPostgres(url string, o Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", redactURL(url), err)
	}
	// A commit returns once its WAL is flushed to disk: what the hub
	// acknowledges (250) survives a crash of the database server.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	cfg.RuntimeParams["timezone"] = "UTC"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "relais"
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.Writers <= 0 {
		o.Writers = max(2, runtime.GOMAXPROCS(0))
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(o.MaxConns)
	pool.SetMaxIdleConns(o.MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{r: pool, w: pool, reqs: make(chan *writeReq, maxBatch), done: make(chan struct{}),
		pg: &pgState{url: url, listeners: map[string][]chan struct{}{}, lwake: make(chan struct{}, 1)}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", redactURL(url), err)
	}
	if db.queries, err = loadQueries(Postgres); err != nil {
		pool.Close()
		return nil, err
	}
	if o.NoMigrate {
		err = db.schemaCurrentPG(ctx)
	} else {
		err = db.migratePG(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.pg.describe(ctx, pool, db.queries); err != nil {
		pool.Close()
		return nil, err
	}
	db.wg.Add(o.Writers)
	for range o.Writers {
		go db.pgWriter()
	}
	return db, nil
}

func (p *pgState) close() {
	p.lmu.Lock()
	stop := p.lstop
	p.lstop = nil
	p.lmu.Unlock()
	if stop != nil {
		stop()
	}
	p.lwg.Wait()
}

// migratePG applies migrations/postgres/NNN_*.sql above the version in
// schema_version, under an advisory lock: nodes started together migrate
// one after the other. The first PostgreSQL migration is the whole schema
// as SQLite's migrations had made it by its number; later ones come in
// pairs, one file per engine under the same number.
func (db *DB) migratePG(ctx context.Context) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey("migrate")); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey("migrate"))
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var version int
	err = conn.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (0)"); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	names, err := fs.Glob(sqlFiles, "migrations/postgres/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: name must start with its number", base)
		}
		if n <= version {
			continue
		}
		body, err := sqlFiles.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration postgres/%s: %w", base, err)
		}
		if _, err := tx.Exec("UPDATE schema_version SET version = " + strconv.Itoa(n)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		version = n
	}
	return nil
}

// schemaCurrentPG refuses a schema behind this binary's, reading only.
func (db *DB) schemaCurrentPG(ctx context.Context) error {
	var version int
	err := db.r.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01", errors.Is(err, sql.ErrNoRows): // no table yet, no row yet
		version = 0
	case err != nil:
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if want := lastMigration("migrations/postgres/*.sql"); version < want {
		return &SchemaBehindError{Have: version, Want: want}
	}
	return nil
}

// SchemaBehindError is a database whose schema is behind this binary's,
// opened with Options.NoMigrate.
type SchemaBehindError struct{ Have, Want int }

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("the database's schema is at version %d and this relais's at %d: "+
		"start `relais serve` with this relais once (it brings the schema up to date), then run this again", e.Have, e.Want)
}

// lastMigration is the number of the last of the migrations glob names.
func lastMigration(glob string) int {
	names, _ := fs.Glob(sqlFiles, glob)
	last := 0
	for _, name := range names {
		if n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0]); err == nil {
			last = max(last, n)
		}
	}
	return last
}

// SchemaVersion is the number of the last migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	var err error
	if db.pg != nil {
		err = db.r.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
	} else {
		err = db.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	}
	return v, err
}

var insertInto = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+([a-z_]+)`)

// describe finds, for each INSERT into a table whose key is an identity
// column, that column: such a query gets RETURNING, which is how
// PostgreSQL tells the id it gave (LastInsertId). And it notes the
// queries that call relais_mentions or relais_scrub.
func (p *pgState) describe(ctx context.Context, pool *sql.DB, queries map[string]string) error {
	rows, err := pool.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return fmt.Errorf("store: identity columns: %w", err)
	}
	ids := map[string]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		ids[t] = c
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	p.returning = map[string]string{}
	p.mentions = map[string][]mentionCall{}
	for name, q := range queries {
		if m := insertInto.FindStringSubmatch(q); m != nil && !strings.Contains(strings.ToUpper(q), "RETURNING") {
			if col, ok := ids[strings.ToLower(m[1])]; ok {
				p.returning[name] = col
				queries[name] = strings.TrimRight(strings.TrimSpace(q), ";") + " RETURNING " + col
			}
		}
		if calls := findMentionCalls(q); len(calls) > 0 {
			p.mentions[name] = calls
		}
	}
	return nil
}

// pgSQL rewrites SQLite's placeholders for PostgreSQL: "?N" becomes "$N",
// and a bare "?" the number after the largest used so far (SQLite's own
// rule). Quoted text and comments are left alone.
func pgSQL(q string) string {
	var b strings.Builder
	max := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := max + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			max = maxInt(max, n)
			b.WriteString("$" + strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// pgArgs turns Go booleans into the 0 and 1 that the INTEGER columns
// shared with SQLite hold.
func pgArgs(args []any) []any {
	copied := false
	for i, a := range args {
		if v, ok := a.(bool); ok {
			if !copied {
				args, copied = append([]any(nil), args...), true
			}
			args[i] = int64(0)
			if v {
				args[i] = int64(1)
			}
		}
	}
	return args
}

// pgResult is what an INSERT … RETURNING id tells.
type pgResult struct{ id, n int64 }

func (r pgResult) LastInsertId() (int64, error) { return r.id, nil }
func (r pgResult) RowsAffected() (int64, error) { return r.n, nil }

func (p *pgState) exec(t *Tx, name string, args []any) (sql.Result, error) {
	q := t.db.sqlOf(name)
	args = pgArgs(args)
	if err := p.prepareMentions(t, name, args); err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	if _, ok := p.returning[name]; ok {
		rows, err := t.tx.Query(q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", name, err)
		}
		var r pgResult
		for rows.Next() {
			if err := rows.Scan(&r.id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: %s: %w", name, err)
			}
			r.n++
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("store: %s: %w", name, err)
		}
		return r, nil
	}
	res, err := t.tx.Exec(q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return res, nil
}

// retryable says whether a write failed for a reason that running it
// again cures: a deadlock or a serialization failure between nodes or
// writers.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// pgBatch bounds the writes one PostgreSQL writer runs in one transaction.
const pgBatch = 32

// pgWriter runs the shared writes waiting when it is free (WriteShared)
// in one transaction (commitPGShared), every other write in its own: the
// writers run at once, and PostgreSQL flushes the WAL of commits that
// come together once (its own group commit). Sharing a transaction saves
// each write its BEGIN and COMMIT round trips and its own WAL flush;
// savepoints are not used for it: a transaction with hundreds of them
// slows every session (subtransactions beyond 64 overflow each
// snapshot's cache).
func (db *DB) pgWriter() {
	defer db.wg.Done()
	shared := make([]*writeReq, 0, pgBatch)
	var alone []*writeReq
	for req := range db.reqs {
		shared, alone = shared[:0], alone[:0]
		take := func(r *writeReq) {
			if r.shared {
				shared = append(shared, r)
			} else {
				alone = append(alone, r)
			}
		}
		take(req)
	gather:
		for req.shared && len(shared) < pgBatch {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break gather
				}
				take(r)
			default:
				break gather
			}
		}
		switch {
		case len(shared) == 1:
			db.commitPG(shared)
		case len(shared) > 1:
			db.commitPGShared(shared)
		}
		for _, r := range alone {
			db.commitPG([]*writeReq{r})
		}
	}
}

// commitPGShared runs the writes of batch one after the other in one
// transaction, without savepoints. If one of them fails, or the server
// refuses the commit, nothing of the transaction stays and each write runs
// again alone (commitPG, which retries deadlocks): one write's failure
// never undoes another's. Write functions are run again as after a
// deadlock: they must not count on having run once.
func (db *DB) commitPGShared(batch []*writeReq) {
	live := make([]*writeReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	alone := func() {
		for _, r := range live {
			db.commitPG([]*writeReq{r})
		}
	}
	if len(live) < 2 {
		alone()
		return
	}
	sqlTx, err := db.w.Begin()
	if err != nil {
		alone()
		return
	}
	tx := &Tx{tx: sqlTx, db: db}
	after := make([][]func(), len(live))
	for i, r := range live {
		tx.after, tx.held = nil, nil
		if err := runSafely(r.fn, tx); err != nil {
			sqlTx.Rollback()
			alone()
			return
		}
		after[i] = tx.after
	}
	if err := tx.notifyNow(); err != nil {
		sqlTx.Rollback()
		alone()
		return
	}
	if err := db.timedCommit(sqlTx, len(live)); err != nil {
		var pe *pgconn.PgError
		if errors.Is(err, pgx.ErrTxCommitRollback) || errors.As(err, &pe) && pe.Severity == "ERROR" {
			// The server refused it (a statement's error a write
			// ignored, a deferred constraint): nothing was committed.
			// A FATAL one (the session ended) may come after the
			// commit: unknown, as below.
			alone()
			return
		}
		// The connection failed during the commit: whether it was
		// committed is unknown, as for a write alone.
		for _, r := range live {
			r.done <- fmt.Errorf("store: commit: %w", err)
		}
		return
	}
	for i, r := range live {
		runAfter(after[i])
		r.done <- nil
	}
}

// commitPG commits a batch on PostgreSQL: as on SQLite, each write under
// its own savepoint when there are several; a write that met a deadlock
// or a serialization failure is run again (three times at most).
func (db *DB) commitPG(batch []*writeReq) {
	const tries = 3
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	if len(batch) == 1 {
		r := batch[0]
		for try := 1; ; try++ {
			if err := r.ctx.Err(); err != nil {
				r.done <- err
				return
			}
			sqlTx, err := db.w.Begin()
			if err != nil {
				r.done <- fmt.Errorf("store: begin: %w", err)
				return
			}
			tx := &Tx{tx: sqlTx, db: db}
			err = runSafely(r.fn, tx)
			if err == nil {
				err = tx.notifyNow()
			}
			if err != nil {
				if rerr := sqlTx.Rollback(); rerr != nil {
					err = errors.Join(err, rerr)
				}
				if retryable(err) && try < tries {
					continue
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
	}
	errs := make([]error, len(batch))
	sqlTx, err := db.w.Begin()
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	tx := &Tx{tx: sqlTx, db: db}
	after := make([][]func(), len(batch))
	for i, r := range batch {
		for try := 1; ; try++ {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				break
			}
			if _, err := sqlTx.Exec("SAVEPOINT w"); err != nil {
				sqlTx.Rollback()
				fail(fmt.Errorf("store: savepoint: %w", err))
				return
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
			if errs[i] == nil || !retryable(errs[i]) || try >= tries {
				break
			}
		}
	}
	if err := tx.notifyNow(); err != nil {
		sqlTx.Rollback()
		fail(err)
		return
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

// QueryWrite runs the named statement that writes and returns rows (an
// UPDATE … RETURNING) alone, outside Write: on PostgreSQL one statement
// is its own transaction, so a claim costs one round trip instead of
// three. The commit (synchronous_commit on) is known only when the rows
// are closed: a caller uses them after Close returns nil, never before.
// PostgreSQL only.
func (db *DB) QueryWrite(ctx context.Context, name string, args ...any) (*sql.Rows, error) {
	if db.pg == nil {
		return nil, errors.New("store: QueryWrite is PostgreSQL's")
	}
	rows, err := db.w.QueryContext(ctx, db.sqlOf(name), pgArgs(args)...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return rows, nil
}

// ExecWrite runs the named statement that writes alone, outside Write:
// on PostgreSQL one statement is its own transaction, committed
// (synchronous_commit on) when ExecWrite returns nil; a begin and a
// commit saved. PostgreSQL only.
func (db *DB) ExecWrite(ctx context.Context, name string, args ...any) (sql.Result, error) {
	if db.pg == nil {
		return nil, errors.New("store: ExecWrite is PostgreSQL's")
	}
	db.mu.RLock() // Close waits for it
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	res, err := db.w.ExecContext(ctx, db.sqlOf(name), pgArgs(args)...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return res, nil
}

// lockKey is the advisory lock key of name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("relais:" + name))
	return int64(h.Sum64())
}

// Exclusive runs fn if no other node is running the work called name, and
// reports whether it ran. On PostgreSQL a session advisory lock says who
// runs it (it goes with the session if the node dies); on SQLite, one
// process, fn always runs.
func (db *DB) Exclusive(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	if db.pg == nil {
		return true, fn(ctx)
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: lock %s: %w", name, err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", lockKey(name)).Scan(&got); err != nil {
		return false, fmt.Errorf("store: lock %s: %w", name, err)
	}
	if !got {
		return false, nil
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey(name))
	return true, fn(ctx)
}

// Once runs fn at most once every period across the nodes sharing the
// database: under the advisory lock of name, and only if the last run
// recorded (setting "sched:NAME") is at least period old, a little
// slack allowed for clocks and tickers. It reports whether fn ran. On
// SQLite it runs fn every time.
func (db *DB) Once(ctx context.Context, name string, period time.Duration, now time.Time, fn func(context.Context) error) (bool, error) {
	if db.pg == nil {
		return true, fn(ctx)
	}
	ran := false
	_, err := db.Exclusive(ctx, name, func(ctx context.Context) error {
		key := "sched:" + name
		var v []byte
		err := db.QueryRow(ctx, "setting.get", key).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if last, perr := strconv.ParseInt(string(v), 10, 64); err == nil && perr == nil {
			if now.Sub(time.UnixMilli(last)) < period-period/10 {
				return nil
			}
		}
		ran = true
		if err := fn(ctx); err != nil {
			return err
		}
		return db.Write(ctx, func(tx *Tx) error {
			_, err := tx.Exec("setting.put", key, []byte(strconv.FormatInt(now.UnixMilli(), 10)))
			return err
		})
	})
	return ran, err
}

// Notify tells the nodes listening on channel (Listen), once tx commits,
// that there is work for them. On SQLite it does nothing: the process
// that commits wakes its own workers.
func (t *Tx) Notify(channel string) error {
	if t.db.pg == nil {
		return nil
	}
	if t.notify == nil {
		t.notify = map[string]bool{}
	}
	t.notify[channel] = true // sent once, just before the commit
	return nil
}

// notifyNow sends the notifications tx asked for, inside it: PostgreSQL
// delivers them at the commit.
func (t *Tx) notifyNow() error {
	for channel := range t.notify {
		if _, err := t.tx.Exec("SELECT pg_notify($1, '')", channel); err != nil {
			return fmt.Errorf("store: notify %s: %w", channel, err)
		}
	}
	return nil
}

// Listen returns a channel that receives when a transaction that called
// Notify(channel) commits, on any node (and after the listening
// connection was lost and found again, since notices may have been
// missed). On SQLite it returns nil: a channel that never receives.
func (db *DB) Listen(channel string) <-chan struct{} {
	if db.pg == nil {
		return nil
	}
	p := db.pg
	c := make(chan struct{}, 1)
	p.lmu.Lock()
	p.listeners[channel] = append(p.listeners[channel], c)
	if p.lstop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		p.lstop = cancel
		p.lwg.Add(1)
		go p.listen(ctx)
	}
	p.lmu.Unlock()
	select {
	case p.lwake <- struct{}{}:
	default:
	}
	return c
}

// listen holds one connection that LISTENs to every channel asked for and
// hands each notification to the channel's listeners.
func (p *pgState) listen(ctx context.Context) {
	defer p.lwg.Done()
	wait := time.Second
	for ctx.Err() == nil {
		err := p.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue // closed to LISTEN to a new channel
		}
		// Lost: the workers' own rescans cover the gap.
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

func (p *pgState) fire(channel string) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	for name, cs := range p.listeners {
		if channel != "" && name != channel {
			continue
		}
		for _, c := range cs {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

func (p *pgState) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	listening := map[string]bool{}
	p.fire("") // notices may have been missed while not listening
	for {
		p.lmu.Lock()
		var todo []string
		for name := range p.listeners {
			if !listening[name] {
				todo = append(todo, name)
			}
		}
		p.lmu.Unlock()
		for _, name := range todo {
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
			listening[name] = true
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-p.lwake:
				cancel()
			case <-done:
			}
		}()
		n, err := conn.WaitForNotification(wctx)
		close(done)
		cancel()
		switch {
		case err == nil:
			p.fire(n.Channel)
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil:
			// woken to LISTEN to a new channel; a cancelled wait closes
			// pgx's connection, so start again
			if conn.IsClosed() {
				return nil
			}
		default:
			return err
		}
	}
}

// mentionCall is one relais_mentions(COL, $E) or relais_scrub(COL, $E,
// $R) of a statement over TABLE.
type mentionCall struct {
	table, col string
	email      int // the argument number of the address
	repl       int // relais_scrub's replacement, 0 for relais_mentions
}

var (
	mentionRe = regexp.MustCompile(`relais_(mentions|scrub)\(\s*([a-z_]+)\s*,\s*\$(\d+)\s*(?:,\s*\$(\d+)\s*)?\)`)
	stmtTable = regexp.MustCompile(`(?is)^\s*(?:DELETE\s+FROM|UPDATE)\s+([a-z_]+)`)
)

func findMentionCalls(q string) []mentionCall {
	t := stmtTable.FindStringSubmatch(q)
	if t == nil {
		return nil
	}
	var out []mentionCall
	for _, m := range mentionRe.FindAllStringSubmatch(q, -1) {
		c := mentionCall{table: t[1], col: m[2]}
		c.email, _ = strconv.Atoi(m[3])
		if m[1] == "scrub" {
			c.repl, _ = strconv.Atoi(m[4])
		}
		out = append(out, c)
	}
	return out
}

// prepareMentions makes relais_mentions and relais_scrub work in the
// statement name: SQLite calls Go for them, PostgreSQL cannot. So the
// values of each column they read are read here first and judged by
// package mention, and those that name the address go into a temporary
// table (by MD5), with their scrubbed form: the SQL functions of the same
// names (migrations/postgres) look there. The answer is the same as
// SQLite's, byte for byte.
func (p *pgState) prepareMentions(t *Tx, name string, args []any) error {
	calls := p.mentions[name]
	if len(calls) == 0 {
		return nil
	}
	if _, err := t.tx.Exec(`CREATE TEMP TABLE IF NOT EXISTS relais_hits (email TEXT NOT NULL, repl TEXT NOT NULL,
		h TEXT NOT NULL, out_text TEXT, out_bytes BYTEA) ON COMMIT DELETE ROWS`); err != nil {
		return err
	}
	if _, err := t.tx.Exec("DELETE FROM relais_hits"); err != nil {
		return err
	}
	arg := func(n int) string {
		if n < 1 || n > len(args) {
			return ""
		}
		return fmt.Sprint(args[n-1])
	}
	for _, c := range calls {
		email, repl := arg(c.email), arg(c.repl)
		rows, err := t.tx.Query(fmt.Sprintf("SELECT %s FROM %s WHERE %[1]s IS NOT NULL", quoteIdent(c.col), quoteIdent(c.table)))
		if err != nil {
			return err
		}
		type hit struct {
			h        string
			outText  any
			outBytes any
		}
		var hits []hit
		seen := map[string]bool{}
		for rows.Next() {
			var v any
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			var b []byte
			isText := false
			switch x := v.(type) {
			case []byte:
				b = x
			case string:
				b, isText = []byte(x), true
			default:
				continue
			}
			sum := md5.Sum(b)
			h := hex.EncodeToString(sum[:])
			if seen[h] {
				continue
			}
			seen[h] = true
			if c.repl == 0 {
				if mention.In(b, email) {
					hits = append(hits, hit{h: h})
				}
				continue
			}
			out := mention.Replace(b, email, repl)
			if string(out) == string(b) {
				continue
			}
			if isText {
				hits = append(hits, hit{h: h, outText: string(out)})
			} else {
				hits = append(hits, hit{h: h, outBytes: out})
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, x := range hits {
			if _, err := t.tx.Exec("INSERT INTO relais_hits (email, repl, h, out_text, out_bytes) VALUES ($1, $2, $3, $4, $5)",
				email, repl, x.h, x.outText, x.outBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// textColumnsPG lists the text and bytea columns of the schema's tables.
func (db *DB) textColumnsPG(ctx context.Context) ([]Column, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'bytea', 'character varying') AND c.is_generated = 'NEVER'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("store: columns: %w", err)
	}
	var out []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Table, &c.Name); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// eachValue calls fn with the row id (ctid) and value of every non-null
// value of c, inside the transaction.
func (t *Tx) eachValue(c Column, fn func(ctid string, v []byte, isText bool) error) error {
	rows, err := t.tx.Query(fmt.Sprintf("SELECT ctid::text, %s FROM %s WHERE %[1]s IS NOT NULL", quoteIdent(c.Name), quoteIdent(c.Table)))
	if err != nil {
		return err
	}
	type row struct {
		ctid   string
		v      []byte
		isText bool
	}
	var all []row
	for rows.Next() {
		var r row
		var v any
		if err := rows.Scan(&r.ctid, &v); err != nil {
			rows.Close()
			return err
		}
		switch x := v.(type) {
		case []byte:
			r.v = x
		case string:
			r.v, r.isText = []byte(x), true
		default:
			continue
		}
		all = append(all, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r.ctid, r.v, r.isText); err != nil {
			return err
		}
	}
	return nil
}

// CheckQueries prepares every named query on the database, so that a
// query the engine cannot read shows at once (tests): on SQLite Open has
// done it already.
func (db *DB) CheckQueries(ctx context.Context) error {
	if db.pg == nil {
		return nil
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var errs []error
	names := make([]string, 0, len(db.queries))
	for name := range db.queries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st, err := conn.PrepareContext(ctx, db.queries[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		st.Close()
	}
	return errors.Join(errs...)
}
