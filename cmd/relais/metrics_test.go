package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"codeberg.org/relais/relais/outbox"
)

// scrape reads /metrics and returns every sample as "name{labels}" →
// value (a histogram by its _count).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A scenario over SMTP against `relais serve`, and /metrics, parsed with
// Prometheus's own text parser, moved by exactly what it did.
func TestMetricsScenario(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "camille@exemple.fr,karim@exemple.fr", "--data", data)
	relais(t, "queue", "add", "support", "--operator", "nadia@ops.example", "--data", data)
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "owner@exemple.fr", "--data", data)
	relais(t, "list", "subscribe", "4405.discussion", "--consent", "test", "m1@exemple.fr", "m2@exemple.fr", "--data", data)
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	maddr := freePort(t)
	dns := startDNS(t) // no records: nothing proven, and nothing waits on a lookup
	p := serveHub(t, data, box.Addr(), "RELAIS_METRICS_LISTEN="+maddr, "RELAIS_AUTH_DNS_SERVER="+dns.addr)
	if code, body := get(t, "http://"+maddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, "http://"+maddr+"/readyz")
		if code == 200 && body == "ready\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := scrape(t, maddr)

	msg := func(from, to, subject string) string {
		return fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@example.org>\r\n\r\nHello.\r\n", from, to, subject, time.Now().UnixNano())
	}
	// Three messages to a group: 3 sessions, 3 accepted, 6 copies sent.
	for i := 0; i < 3; i++ {
		if err := sendOne(p.addr, "w@example.org", "4405.nantes-sud@hub.example", msg("w@example.org", "4405.nantes-sud@hub.example", "hello")); err != nil {
			t.Fatal(err)
		}
	}
	// One session with an unknown group and another domain: two refusals.
	c, err := smtp.Dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("w@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("4405.nobody@hub.example", nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("unknown group: %v", err)
	}
	if err := c.Rcpt("x@elsewhere.example", nil); err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("other domain: %v", err)
	}
	c.Quit()
	// A request to the desk: a ticket, an acknowledgement, a notification.
	if err := sendOne(p.addr, "req@example.org", "support@hub.example", msg("req@example.org", "support@hub.example", "Salle")); err != nil {
		t.Fatal(err)
	}
	// A stranger's post to a members list: held, its owner notified.
	if err := sendOne(p.addr, "stranger@example.org", "4405.discussion@hub.example", msg("stranger@example.org", "4405.discussion@hub.example", "Post")); err != nil {
		t.Fatal(err)
	}
	// A subscription by mail: a command, a confirmation sent.
	if err := sendOne(p.addr, "new@example.org", "4405.discussion+subscribe@hub.example", msg("new@example.org", "4405.discussion+subscribe@hub.example", "subscribe")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := box.Wait(ctx, 10); err != nil {
		t.Fatalf("%v\n%s", err, p.log())
	}
	// Every outcome recorded before the scrape.
	for ctx.Err() == nil && !strings.Contains(relais(t, "outbox", "--data", data, "--limit", "0"), "): sent 10\n") {
		time.Sleep(20 * time.Millisecond)
	}
	after := scrape(t, maddr)
	if n := len(box.Mails()); n != 10 {
		t.Fatalf("%d copies sent, want 10", n)
	}
	want := map[string]float64{
		"relais_smtp_sessions_total":                             7,
		"relais_messages_accepted_total":                         6,
		"relais_smtp_refused_total{reason=unknown-user}":         1,
		"relais_smtp_refused_total{reason=relay-denied}":         1,
		"relais_deliveries_total{outcome=sent}":                  10,
		"relais_deliveries_total{outcome=failed}":                0,
		"relais_deliveries_total{outcome=deferred}":              0,
		"relais_dkim_sign_seconds_count":                         10,
		"relais_tickets_opened_total":                            1,
		"relais_held_posts":                                      1,
		"relais_posts_held_total{reason=non-member}":             1,
		"relais_list_commands_total{command=subscribe}":          1,
		"relais_queue_depth":                                     0,
		"relais_queue_oldest_age_seconds":                        0,
		"relais_digests_sent_total":                              0,
		"relais_bounces_total":                                   0,
		"relais_smtp_refused_total{reason=temp-failure}":         0,
		"relais_smtp_refused_total{reason=auth-refused}":         0,
		"relais_smtp_refused_total{reason=too-many-connections}": 0,
	}
	var diffs []string
	for k, w := range want {
		if got := after[k] - before[k]; got != w {
			diffs = append(diffs, fmt.Sprintf("%s moved by %g, want %g", k, got, w))
		}
	}
	// Anything else of ours that moved, and was not expected.
	for k, v := range after {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "relais_") && !strings.HasPrefix(k, "relais_store_") && k != "relais_state_up" && v != before[k] {
			diffs = append(diffs, fmt.Sprintf("%s moved by %g, unexpected", k, v-before[k]))
		}
	}
	if after["relais_state_up"] != 1 {
		diffs = append(diffs, "relais_state_up is not 1")
	}
	if after["relais_store_commit_seconds_count"] <= before["relais_store_commit_seconds_count"] ||
		after["relais_store_commit_batch_size_count"] != after["relais_store_commit_seconds_count"] {
		diffs = append(diffs, "commits not counted")
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("metrics:\n%s\n%s", strings.Join(diffs, "\n"), p.log())
	}
	// Every metric the alert rules use is one the hub exports.
	rules, err := os.ReadFile("../../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`relais_[a-z_]+`).FindAllString(string(rules), -1) {
		name = strings.TrimSuffix(name, "_bucket")
		found := false
		for k := range after {
			found = found || strings.HasPrefix(k, name)
		}
		if !found {
			t.Errorf("deploy/alerts.yml uses %s, which /metrics does not have", name)
		}
	}
}
