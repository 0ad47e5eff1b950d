// Command imap measures the list archives over IMAP against Dovecot: a
// hub on 127.0.0.1 with one list of POSTS posts (about 2 kB of text each,
// archived by package archive as the hub does), and Debian's Dovecot
// serving the same messages from a Maildir, started from a temporary
// configuration on another port of 127.0.0.1. Debian's isync (mbsync)
// syncs the folder from each into a new Maildir, RUNS times each,
// alternating, after one run each to warm them (Dovecot builds its index
// then). It prints each run's time, the medians and their ratio, and the
// machine's load average before and after, since the machine may be
// shared.
//
//	sudo go run ./bench/imap [-posts 10000] [-runs 3]
//
// It needs root: Dovecot starts as root and reads the Maildir as the user
// nobody. The goal: relais within 2× of Dovecot's time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/internal/mbsync"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
)

const member = "marie@example.org"

func main() {
	nPosts := flag.Int("posts", 10000, "posts in the folder")
	runs := flag.Int("runs", 3, "measured syncs of each server")
	flag.Parse()
	for _, p := range []string{"mbsync", "/usr/sbin/dovecot", "doveadm"} {
		if _, err := exec.LookPath(p); err != nil {
			fail(fmt.Errorf("%s is missing: apt-get install isync dovecot-imapd", p))
		}
	}
	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	fmt.Printf("load average before: %s\n", load())
	dir, err := os.MkdirTemp("", "relais-bench-imap-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)

	c := config.Default()
	c.Domains = []string{"hub.example"}
	c.Hostname = "relais.localhost"
	c.DataDir = filepath.Join(dir, "relais")
	c.SMTP.Listen = []string{"127.0.0.1:0"}
	c.Web.Listen = "127.0.0.1:0"
	c.Metrics.Listen = ""
	c.IMAP.Listen = "127.0.0.1:0"
	c.IMAP.ConnectionsPerIPMinute = 1000
	c.Relay.Address = "127.0.0.1:9"
	c.Relay.StartTLS = "off"
	c.DKIM.Sign = false
	if err := c.Validate(); err != nil {
		fail(err)
	}
	ctx := context.Background()
	h, err := hub.Open(ctx, c, hub.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fail(err)
	}
	if err := h.Listen(); err != nil {
		fail(err)
	}
	h.Start()
	defer h.Close(ctx)
	code, _ := address.ParseCode("4405")
	l, err := lists.Create(ctx, h.DB, lists.List{Code: code, Name: "discussion", Policy: lists.Members,
		Owners: []lists.Owner{{Email: "camille@exemple.fr"}}}, audit.Actor{})
	if err != nil {
		fail(err)
	}
	if _, err := lists.Subscribe(ctx, h.DB, l.ID, "bench", []string{member}, audit.Actor{}, time.Now()); err != nil {
		fail(err)
	}
	pw, err := h.SignIn.NewAppPassword(ctx, member, "bench")
	if err != nil {
		fail(err)
	}

	// The posts, archived, and the same bytes in Dovecot's Maildir (LF
	// line ends, as Maildir keeps them).
	maildir := filepath.Join(dir, "dovecot", "mail", "4405.discussion")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(maildir, d), 0o755)
	}
	os.MkdirAll(filepath.Join(dir, "dovecot", "mail", "INBOX", "cur"), 0o755)
	r := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("réunion assemblée élection député quartier école logement loyer transport climat énergie retraite " +
		"salaire syndicat manifestation tract affiche marché samedi dimanche rendez-vous budget adhésion militant équipe comité")
	text := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i%12 == 11 {
				b.WriteString("\r\n")
			} else if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.String()
	}
	start := time.Now().Add(-time.Duration(*nPosts) * time.Minute)
	var bytes int64
	for i := 0; i < *nPosts; {
		err := h.DB.Write(ctx, func(tx *store.Tx) error {
			for j := 0; j < 500 && i < *nPosts; j, i = j+1, i+1 {
				subject := text(5)
				msg := fmt.Sprintf("From: Personne %d <personne%d@exemple.fr>\r\nTo: 4405.discussion@hub.example\r\nSubject: %s\r\n"+
					"Date: %s\r\nMessage-ID: <b%d@exemple.fr>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"+
					"Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", i%300, i%300, subject, start.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z),
					i, text(250))
				id, out, err := archive.Add(tx, l.ID, fmt.Sprintf("personne%d@exemple.fr", i%300), "", subject,
					start.Add(time.Duration(i)*time.Minute), []byte(msg), func(id int64) string {
						return "http://relais.localhost/archives/4405.discussion/m/" + strconv.FormatInt(id, 10)
					})
				if err != nil {
					return err
				}
				lf := strings.ReplaceAll(string(out), "\r\n", "\n")
				bytes += int64(len(lf))
				name := fmt.Sprintf("%d.%d.relais,S=%d:2,", start.Unix()+int64(i), id, len(lf))
				if err := os.WriteFile(filepath.Join(maildir, "cur", name), []byte(lf), 0o644); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fail(err)
		}
	}
	if err := h.DB.Checkpoint(ctx, time.Minute); err != nil {
		fail(err)
	}
	fmt.Printf("%d posts, %.1f MB (LF line ends)\n", *nPosts, float64(bytes)/(1<<20))

	dv, err := startDovecot(filepath.Join(dir, "dovecot"))
	if err != nil {
		fail(err)
	}
	defer dv.stop()
	host, port, _ := net.SplitHostPort(h.IMAPAddr().String())
	servers := []struct {
		name, port, user, pass string
	}{{"relais", port, member, pw}, {"dovecot", dv.port, "bench", "secret"}}
	times := map[string][]time.Duration{}
	n := 0
	for run := 0; run <= *runs; run++ {
		for _, s := range servers {
			n++
			sub := filepath.Join(dir, "sync", strconv.Itoa(n))
			rc := filepath.Join(sub, "mbsyncrc")
			if err := mbsync.WriteConfig(rc, host, s.port, s.user, s.pass, filepath.Join(sub, "mail"), "4405.discussion"); err != nil {
				fail(err)
			}
			t := time.Now()
			out, err := exec.Command("mbsync", "-c", rc, "-a").CombinedOutput()
			d := time.Since(t)
			if err != nil {
				fail(fmt.Errorf("mbsync from %s: %v\n%s", s.name, err, out))
			}
			got, _ := filepath.Glob(filepath.Join(sub, "mail", "4405.discussion", "*", "*"))
			if len(got) != *nPosts {
				fail(fmt.Errorf("mbsync from %s: %d messages, not %d", s.name, len(got), *nPosts))
			}
			label := "measured"
			if run == 0 {
				label = "warm-up"
			} else {
				times[s.name] = append(times[s.name], d)
			}
			fmt.Printf("%-8s %-8s %7.2f s  %6.0f messages/s\n", s.name, label, d.Seconds(), float64(*nPosts)/d.Seconds())
			os.RemoveAll(sub)
		}
	}
	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	rt, dt := med(times["relais"]), med(times["dovecot"])
	fmt.Printf("median: relais %.2f s, Dovecot %.2f s: relais takes %.2f× Dovecot's time (goal: within 2×)\n",
		rt.Seconds(), dt.Seconds(), rt.Seconds()/dt.Seconds())
	fmt.Printf("load average after: %s\n", load())
}

type dovecot struct {
	conf, port string
}

// startDovecot runs Debian's Dovecot from a configuration of its own in
// dir, serving dir/mail (filesystem layout: the folder 4405.discussion is
// dir/mail/4405.discussion) to the user "bench", password "secret".
func startDovecot(dir string) (*dovecot, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	conf := filepath.Join(dir, "dovecot.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`base_dir = %[1]s/run
instance_name = relais-bench-%[2]s
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:%[1]s/mail:LAYOUT=fs:INBOX=%[1]s/mail/INBOX
log_path = %[1]s/dovecot.log
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/home
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]s
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`, dir, port)), 0o644)
	if err != nil {
		return nil, err
	}
	os.MkdirAll(filepath.Join(dir, "home"), 0o755)
	if out, err := exec.Command("chown", "-R", "nobody:nogroup", filepath.Join(dir, "mail"), filepath.Join(dir, "home")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown (run as root): %v %s", err, out)
	}
	// Dovecot goes to the background: its output is its log file (a pipe
	// would be held open by the daemon).
	if err := exec.Command("/usr/sbin/dovecot", "-c", conf).Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		return nil, fmt.Errorf("dovecot: %v\n%s", err, log)
	}
	for range 100 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond) // waiting for Dovecot to listen
	}
	return &dovecot{conf: conf, port: port}, nil
}

func (d *dovecot) stop() { exec.Command("doveadm", "-c", d.conf, "stop").Run() }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/imap:", err)
	os.Exit(1)
}
