package queue

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"codeberg.org/relais/relais/store"
)

func newQueue(t *testing.T) *Queue {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := New(context.Background(), db, Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: 4 * time.Hour,
		GiveUpAfter: 120 * time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// The documented schedule: 1m, 2m, 4m, … doubling up to 4h.
func TestBackoffSchedule(t *testing.T) {
	q := newQueue(t)
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, 64 * time.Minute, 128 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := q.backoff(i + 1); got != w {
			t.Errorf("after failure %d: %s, want %s", i+1, got, w)
		}
	}
	for i := 0; i < 1000; i++ {
		if j := jitter(time.Hour); j < 54*time.Minute || j > 66*time.Minute {
			t.Fatalf("jitter %s out of ±10 %%", j)
		}
	}
}

func TestVERPToken(t *testing.T) {
	q := newQueue(t)
	rp := q.ReturnPath(42)
	if !strings.HasPrefix(rp, "bounces+42-") || !strings.HasSuffix(rp, "@hub.example") {
		t.Fatalf("return path %q", rp)
	}
	tok := strings.TrimSuffix(strings.TrimPrefix(rp, "bounces+"), "@hub.example")
	if id, ok := q.ParseToken(tok); !ok || id != 42 {
		t.Fatalf("%s: %d %v", tok, id, ok)
	}
	if id, ok := q.ParseToken(strings.ToUpper(tok)); !ok || id != 42 {
		t.Fatalf("upper-cased token refused")
	}
	for _, bad := range []string{"43" + tok[2:], tok[:len(tok)-1] + "a", "42", "x-abc", "-1-aaaaaaaa", ""} {
		if _, ok := q.ParseToken(bad); ok && bad != tok {
			t.Errorf("forged token %q accepted", bad)
		}
	}
	// Another hub (another secret) does not accept our tokens.
	other := newQueue(t)
	if _, ok := other.ParseToken(tok); ok {
		t.Fatal("token valid under another secret")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err       error
		permanent bool
		network   bool
		reply     string
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true, false, "550 5.1.1 no such user"},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, false, false, "451 4.3.0 try later"},
		{&smtp.SMTPError{Code: 554, Message: "rejected"}, true, false, "554 rejected"},
		{errors.New("dial tcp 127.0.0.1:25: connect: connection refused"), false, true, "dial tcp 127.0.0.1:25: connect: connection refused"},
	}
	for _, tc := range cases {
		r := classify(tc.err)
		if r.permanent != tc.permanent || r.network != tc.network || r.reply != tc.reply {
			t.Errorf("%v: %+v", tc.err, r)
		}
	}
}

func TestBouncePermanent(t *testing.T) {
	for action, want := range map[string]bool{"failed": true, "unknown": false, "auto-reply": false, "delayed": false, "delivered": false, "relayed": false, "expanded": false} {
		if got := (Bounce{Action: action}).Permanent(); got != want {
			t.Errorf("%s: %v", action, got)
		}
	}
}

// The pooled HMAC gives the tokens the hub always gave: bounces to copies
// already sent must still be recognized.
func TestVERPTokenStable(t *testing.T) {
	q := newQueue(t)
	for range 3 {
		for _, id := range []int64{1, 42, 1 << 40, 9223372036854775807} {
			s := strconv.FormatInt(id, 10)
			m := hmac.New(sha256.New, q.secret)
			m.Write([]byte("verp:" + s))
			want := s + "-" + b32.EncodeToString(m.Sum(nil)[:5])
			if got := q.token(id); got != want {
				t.Errorf("%d: %s, want %s", id, got, want)
			}
		}
	}
}
