// Package metrics is in charge of what the hub counts for Prometheus
// (github.com/prometheus/client_golang): messages accepted and refused,
// deliveries by outcome, bounces, list commands, holds, digests sent,
// commits (fsync) and DKIM signing, SMTP sessions, and, read when scraped,
// the queue's depth and oldest age, the posts waiting for a moderator and
// the tickets ever opened. It serves them on their own listener
// (metrics.listen, loopback by default) with /healthz (alive) and /readyz
// (database writable, queue running).
//
// The packages that do the work know nothing of it: each defines a small
// observer interface (smtpd.Observer, queue.Observer, store's commit hook),
// and *Metrics has the methods that satisfy them; the hub wires one to the
// other. Every method is safe on a nil *Metrics, which counts nothing.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the hub's counters.
type Metrics struct {
	reg *prometheus.Registry

	sessions   prometheus.Counter
	accepted   prometheus.Counter
	refused    *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	bounces    *prometheus.CounterVec
	commands   *prometheus.CounterVec
	holds      *prometheus.CounterVec
	digests    prometheus.Counter
	commit     prometheus.Histogram
	batch      prometheus.Histogram
	signing    prometheus.Histogram
}

// State is what is read from the database when metrics are scraped.
type State struct {
	QueueDepth    int       // deliveries waiting (queued)
	OldestQueued  time.Time // zero: none
	HeldPosts     int       // posts waiting for a moderator
	TicketsOpened int64     // every ticket ever opened
}

// New returns the hub's metrics, with Go's and the process's own; state,
// if not nil, is read at each scrape.
func New(state func(context.Context) (State, error)) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		reg:      reg,
		sessions: f.counter("relais_smtp_sessions_total", "SMTP connections served."),
		accepted: f.counter("relais_messages_accepted_total", "Messages accepted (250 after DATA), each stored before the answer."),
		refused: f.counterVec("relais_smtp_refused_total", "SMTP commands and messages refused, by reason (the reply's name in templates/replies.tmpl: "+
			"unknown-user, relay-denied, too-large, auth-refused, message-rate, timeout, temp-failure…).", "reason"),
		deliveries: f.counterVec("relais_deliveries_total", "Delivery attempts recorded, by outcome: sent, deferred (will be retried), failed (for good).", "outcome"),
		bounces:    f.counterVec("relais_bounces_total", "Bounces received on VERP addresses, by action: failed, delayed, delivered, relayed, expanded (RFC 3464), auto-reply, unknown (not a report), other (an action RFC 3464 does not name).", "action"),
		commands:   f.counterVec("relais_list_commands_total", "List commands received by mail (LIST+subscribe, +unsubscribe, +request, +help, confirmations, moderation), by kind.", "command"),
		holds:      f.counterVec("relais_posts_held_total", "List posts held for the moderators, by reason.", "reason"),
		digests:    f.counter("relais_digests_sent_total", "Weekly digests delivered to the relay."),
		commit: f.histogram("relais_store_commit_seconds", "Time of each database commit (its fsync included).",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),
		batch: f.histogram("relais_store_commit_batch_size", "Writes sharing one commit (group commit).",
			[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256}),
		signing: f.histogram("relais_dkim_sign_seconds", "Time to sign one outgoing copy with DKIM (both keys).",
			prometheus.ExponentialBuckets(0.0001, 2, 14)),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if state != nil {
		reg.MustRegister(&stateCollector{read: state})
	}
	return m
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

// Session counts an SMTP connection (smtpd.Observer).
func (m *Metrics) Session() {
	if m != nil {
		m.sessions.Inc()
	}
}

// Accepted counts a message accepted (smtpd.Observer).
func (m *Metrics) Accepted() {
	if m != nil {
		m.accepted.Inc()
	}
}

// Refused counts a refusal, by the name of its reply (smtpd.Observer).
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// Delivered counts one recorded attempt (queue.Observer); digestKind is
// the kind whose sent copies count as digests sent.
func (m *Metrics) Delivered(outcome string, digest bool) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	if digest && outcome == "sent" {
		m.digests.Inc()
	}
}

// bounceActions are the actions a bounce is counted by: RFC 3464 §2.3.3's,
// and the hub's own. Anything else a notification says is "other": a
// label value is a series for ever, and a bounce is whatever anyone mails
// to a return path they were given.
var bounceActions = map[string]bool{"failed": true, "delayed": true, "delivered": true, "relayed": true, "expanded": true,
	"auto-reply": true, "unknown": true}

// Bounced counts a bounce (queue.Observer).
func (m *Metrics) Bounced(action string) {
	if m != nil {
		if !bounceActions[action] {
			action = "other"
		}
		m.bounces.WithLabelValues(action).Inc()
	}
}

// Signed records the time one DKIM signing took (queue.Observer).
func (m *Metrics) Signed(d time.Duration) {
	if m != nil {
		m.signing.Observe(d.Seconds())
	}
}

// Committed records one commit of n writes that took d (store).
func (m *Metrics) Committed(n int, d time.Duration) {
	if m != nil {
		m.batch.Observe(float64(n))
		m.commit.Observe(d.Seconds())
	}
}

// Command counts a list command received by mail.
func (m *Metrics) Command(kind string) {
	if m != nil {
		m.commands.WithLabelValues(kind).Inc()
	}
}

// Held counts a post held for the moderators (lists).
func (m *Metrics) Held(reason string) {
	if m != nil {
		m.holds.WithLabelValues(reason).Inc()
	}
}

// stateCollector reads State at each scrape.
type stateCollector struct {
	read func(context.Context) (State, error)
}

var (
	depthDesc   = prometheus.NewDesc("relais_queue_depth", "Deliveries waiting in the outbound queue.", nil, nil)
	oldestDesc  = prometheus.NewDesc("relais_queue_oldest_age_seconds", "Age of the oldest delivery waiting in the queue (0: none).", nil, nil)
	heldDesc    = prometheus.NewDesc("relais_held_posts", "List posts waiting for a moderator's decision.", nil, nil)
	ticketsDesc = prometheus.NewDesc("relais_tickets_opened_total", "Support tickets opened, ever (ticket numbers are never reused).", nil, nil)
	upDesc      = prometheus.NewDesc("relais_state_up", "1 when the database could be read for the gauges above at this scrape.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{depthDesc, oldestDesc, heldDesc, ticketsDesc, upDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(s.QueueDepth))
	age := 0.0
	if !s.OldestQueued.IsZero() {
		age = time.Since(s.OldestQueued).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(s.HeldPosts))
	ch <- prometheus.MustNewConstMetric(ticketsDesc, prometheus.CounterValue, float64(s.TicketsOpened))
}

// Handler serves /metrics (Prometheus text format), /healthz (200 while
// the process answers) and /readyz (200 when ready returns nil, else 503
// with its error).
func (m *Metrics) Handler(ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
