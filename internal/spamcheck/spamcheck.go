// Package spamcheck scores messages in tests with SpamAssassin (Debian's
// spamassassin), offline and reproducibly, as a mailbox provider's filter
// would see them after delivery.
package spamcheck

import (
	"bytes"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Score runs SpamAssassin's local tests on msg as a remote MX would see
// it after delivery and returns the score and the rules that fired with
// their points ("2.8 FROM_STARTS_WITH_NUMS, -1.0 MAILING_LIST_MULTI").
//
// Offline and reproducible: -L (local tests only: no DNSBL, URIBL, Razor,
// Pyzor, DCC; DKIM/SPF/DMARC verification is skipped, so no DKIM_* rule can
// fire), dns_available no, no Bayes, no auto-welcomelist, the rules the
// Debian package ships (-C /usr/share/spamassassin, whatever sa-update may
// have put in /var/lib/spamassassin), the plugin .pre files of
// /etc/spamassassin but not its local.cf, no user prefs (-p /dev/null), and
// HOME in a temporary directory so nothing is written to ~/.spamassassin.
// Score set 0 applies (no net, no Bayes): some scores are higher than a
// networked filter's (FROM_STARTS_WITH_NUMS 2.8 here, 0.74 in set 3).
//
// Two Received lines are put on top, dated at the message's Date (digests
// made with an advanced test clock would otherwise be "in the future"): the
// hub's Postfix taking it from the hub, then the recipient's MX taking it
// from the hub's public address. Without them SpamAssassin sees no relay
// (NO_RELAYS) or, for a list post whose only Received is the hub's own from
// 127.0.0.1, ALL_TRUSTED (-1.0), which a real recipient never gives. The
// address must not be in a documentation range (203.0.113.0/24 fires
// RCVD_ILLEGAL_IP, 1.3). About 1.2 s per message.
func Score(t testing.TB, msg []byte) (score float64, rules string) {
	t.Helper()
	bin, err := exec.LookPath("spamassassin")
	if err != nil {
		t.Skip("SKIP: spamassassin not installed (apt-get install spamassassin; its rules are in /usr/share/spamassassin, no sa-update needed)")
	}
	const rulesDir = "/usr/share/spamassassin"
	if _, err := os.Stat(filepath.Join(rulesDir, "50_scores.cf")); err != nil {
		t.Skipf("SKIP: no SpamAssassin rules in %s (reinstall the Debian package spamassassin)", rulesDir)
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	if err := os.Mkdir(site, 0o755); err != nil {
		t.Fatal(err)
	}
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre") // loadplugin lines; local.cf left out
	if len(pres) == 0 {
		t.Skip("SKIP: no /etc/spamassassin/*.pre (the plugins would not load)")
	}
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	date := time.Now().Format(time.RFC1123Z)
	if m, err := mail.ReadMessage(bytes.NewReader(msg)); err == nil {
		if d, err := m.Header.Date(); err == nil {
			date = d.Format(time.RFC1123Z)
		}
	}
	in := "Received: from mx.hub.example (mx.hub.example [93.184.215.25])\r\n" +
		"\tby mx.example.org (Postfix) with ESMTPS id 4Xy1ZQ2abc\r\n\tfor <member@example.org>; " + date + "\r\n" +
		"Received: from localhost (localhost [127.0.0.1])\r\n" +
		"\tby mx.hub.example (Postfix) with ESMTP id 4Xy1ZP1abc\r\n\tfor <member@example.org>; " + date + "\r\n"
	cmd := exec.Command(bin, "-t", "-L", "-x", "-p", "/dev/null",
		"-C", rulesDir, "--siteconfigpath="+site,
		"--cf=dns_available no", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0",
		"--cf=use_auto_welcomelist 0", "--cf=use_txrep 0")
	cmd.Stdin = strings.NewReader(in + string(msg))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamassassin: %v\n%s", err, stderr.String())
	}
	// X-Spam-Status: No, score=-1.0 required=5.0 tests=A,B\r\n\tC autolearn=…
	st := regexp.MustCompile(`(?m)^X-Spam-Status: (?:Yes|No), score=(-?[0-9.]+) `).FindSubmatch(out)
	if st == nil {
		t.Fatalf("spamassassin: no X-Spam-Status in its output:\n%s\n%s", out, stderr.String())
	}
	score, err = strconv.ParseFloat(string(st[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	// The -t report: " 2.8 FROM_STARTS_WITH_NUMS  From: starts with…".
	_, report, _ := bytes.Cut(out, []byte("Content analysis details:"))
	var fired []string
	for _, m := range regexp.MustCompile(`(?m)^ *(-?[0-9]+\.[0-9]+) ([A-Z0-9_]+) `).FindAllSubmatch(report, -1) {
		fired = append(fired, string(m[1])+" "+string(m[2]))
	}
	return score, strings.Join(fired, ", ")
}
