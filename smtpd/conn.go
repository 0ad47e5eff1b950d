package smtpd

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound how long the hub waits for a client, beyond the timeout of
// each command (Config.Timeout). A client that sends a byte every few
// seconds never meets a per-read timeout, and holds one of
// max_connections for as long as it likes (slowloris); these end it. Zero
// turns a limit off.
type Limits struct {
	// DataBlock: the longest wait for the next piece of a message once
	// DATA or BDAT has started (RFC 5321 §4.5.3.2.5 gives the client 3
	// minutes per block).
	DataBlock time.Duration
	// Data: the whole message, from DATA to the final dot (§4.5.3.2.6,
	// 10 minutes).
	Data time.Duration
	// Session: the whole connection, however busy.
	Session time.Duration
	// MinRate (bytes per second) and MinRateGrace: once the hub has
	// waited for the client MinRateGrace in all, the client must have sent
	// MinRate bytes for each further second of waiting. Time the hub
	// spends itself (checking, storing, answering) does not count.
	MinRate      int
	MinRateGrace time.Duration
	// JunkCommands: commands beyond those a message needs (one per
	// recipient and four) that a client outside limit_exempt may send
	// between two messages it delivers (as Postfix's
	// smtpd_junk_command_limit); beyond, 421 and the end. A client sending
	// NOOP, RSET or MAIL for ever keeps above any minimum rate.
	JunkCommands int
	// Busy: once three quarters of max_connections are open, a connection
	// from outside limit_exempt that has lasted this long is ended at its
	// next read (as Postfix's stress mode shortens its timeouts), so that
	// clients holding slots without delivering make room.
	Busy time.Duration
}

// guardConn is a client connection as the server sees it: counted against
// the connection limits until closed, and read under Limits. go-smtp sets
// a read deadline for each command; guardConn keeps it and applies the
// earliest of it and its own.
type guardConn struct {
	net.Conn
	lim     Limits
	log     *slog.Logger
	once    sync.Once
	release func()
	eof     atomic.Bool // the client closed its side
	hungUp  atomic.Bool // the server is done with the client: reads end

	mu        sync.Mutex
	start     time.Time
	asked     time.Time // the deadline go-smtp set
	data      bool      // a message is being read
	dataStart time.Time
	waited    time.Duration // time spent waiting in Read
	got       int64         // bytes read
	expired   bool          // a limit was reached: every read fails

	// Only for clients outside limit_exempt (strict):
	strict  bool
	busy    func() bool // the server is nearly full
	maxCmds int         // commands allowed between two messages
	line    []byte      // the start of the command being read
	cmds    int         // commands since the last message accepted
	bdat    bool        // a BDAT transfer started: its chunks are not commands
}

func newGuardConn(c net.Conn, lim Limits, log *slog.Logger, release func()) *guardConn {
	return &guardConn{Conn: c, lim: lim, log: log, release: release, start: time.Now()}
}

// commands counts the command lines in b, read outside a message's
// transfer, and says whether the client is over its allowance. After a
// BDAT command, what follows may be the chunk itself: nothing more is
// counted until the message is accepted.
func (c *guardConn) commands(b []byte) bool {
	for _, ch := range b {
		if c.bdat {
			return false
		}
		if ch != '\n' {
			if len(c.line) < 4 {
				c.line = append(c.line, ch&^0x20) // letters in upper case
			}
			continue
		}
		c.cmds++
		c.bdat = string(c.line) == "BDAT"
		c.line = c.line[:0]
	}
	return c.maxCmds > 0 && c.cmds > c.maxCmds
}

// delivered starts the allowance afresh: a message was accepted.
func (c *guardConn) delivered() {
	c.mu.Lock()
	c.cmds, c.bdat = 0, false
	c.mu.Unlock()
}

// SetReadDeadline records go-smtp's deadline; Read applies it.
func (c *guardConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.asked = t
	c.mu.Unlock()
	return nil
}

// SetDeadline sets both, the read one through SetReadDeadline.
func (c *guardConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// dataPhase marks the start (on) and end of a message's transfer.
func (c *guardConn) dataPhase(on bool) {
	c.mu.Lock()
	c.data, c.dataStart = on, time.Now()
	c.mu.Unlock()
}

// deadline is the earliest of the limits that apply now, and its name.
func (c *guardConn) deadline(now time.Time) (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var dl time.Time
	var why string
	if c.expired {
		return now, "expired"
	}
	earliest := func(t time.Time, name string) {
		if !t.IsZero() && (dl.IsZero() || t.Before(dl)) {
			dl, why = t, name
		}
	}
	if c.data {
		if c.lim.DataBlock > 0 {
			earliest(now.Add(c.lim.DataBlock), "data block timeout")
		}
		if c.lim.Data > 0 {
			earliest(c.dataStart.Add(c.lim.Data), "data timeout")
		}
	} else {
		earliest(c.asked, "command timeout")
	}
	if c.lim.Session > 0 {
		earliest(c.start.Add(c.lim.Session), "session timeout")
	}
	if c.lim.MinRate > 0 {
		allowed := c.lim.MinRateGrace + time.Duration(c.got)*time.Second/time.Duration(c.lim.MinRate)
		earliest(now.Add(allowed-c.waited), "below the minimum rate")
	}
	if c.strict && c.lim.Busy > 0 && c.busy != nil && c.busy() {
		earliest(c.start.Add(c.lim.Busy), "server busy")
	}
	return dl, why
}

// hangUp ends the session after the answer being written: the next read
// finds the end of the connection, and go-smtp closes it.
func (c *guardConn) hangUp() { c.hungUp.Store(true) }

func (c *guardConn) Read(b []byte) (int, error) {
	if c.hungUp.Load() {
		return 0, io.EOF
	}
	now := time.Now()
	dl, why := c.deadline(now)
	if why == "expired" {
		return 0, os.ErrDeadlineExceeded
	}
	if err := c.Conn.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.waited += time.Since(now)
	c.got += int64(n)
	junk := c.strict && !c.data && c.commands(b[:n])
	if junk {
		c.expired = true
	}
	c.mu.Unlock()
	if junk {
		// Answered like a timeout: go-smtp says 421 and closes.
		c.log.Warn("client sends commands without delivering, closing", "reason", "junk commands", "count", c.cmds)
		return 0, os.ErrDeadlineExceeded
	}
	switch {
	case errors.Is(err, io.EOF):
		c.eof.Store(true)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// go-smtp answers 421 4.4.2 to a timeout and closes.
		c.mu.Lock()
		c.expired = true
		c.mu.Unlock()
		c.log.Warn("client too slow, closing", "reason", why, "bytes", c.got, "after", time.Since(c.start).Round(time.Millisecond))
	}
	return n, err
}

func (c *guardConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// guarded finds our connection under go-smtp's (and under TLS).
func guarded(c net.Conn) *guardConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	gc, _ := c.(*guardConn)
	return gc
}
