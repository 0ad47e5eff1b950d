package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/tickets"
)

// demoDomain is the domain of the demo hub.
const demoDomain = "hub.example"

// demoGroups are the sample groups the demo creates (if absent).
const demoGroups = `address,name,commune,animators
4405.nantes-sud,Nantes Sud,44200,camille@exemple.fr karim@exemple.fr
4402.nantes-nord,Nantes Nord,44300,lea@exemple.fr
7506.paris-11,Paris 11e,75011,sacha@exemple.fr yasmine@exemple.fr
2A01.ajaccio,Ajaccio,20000,ghjuvan@exemple.fr
97401.saint-denis,Saint-Denis (La Réunion),97400,maeva@exemple.fr
fr.jeunes,Jeunes (national),,equipe-jeunes@exemple.fr
`

func runDemo(args []string) error {
	fs := newFlags("demo", "[--data DIR] [--smtp ADDR] [--web ADDR]", "Run a working hub on 127.0.0.1 for a first look: an SQLite database in --data with sample\n"+
		"groups, SMTP on --smtp (a free port if it is taken), and a local outbox that captures\neverything the hub sends instead of delivering it. Stop with Ctrl-C; data is kept.")
	data := fs.String("data", "./relais-demo", "data directory of the demo")
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP listen address")
	webAddr := fs.String("web", "127.0.0.1:8025", "HTTP listen address (one-click unsubscribe links)")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c := config.Default()
	c.Domains = []string{demoDomain}
	c.Hostname = "relais.localhost"
	c.DataDir = *data
	c.Postmaster = []string{"ops@exemple.fr"}
	c.Relay.StartTLS = "off"

	ln, err := net.Listen("tcp", *smtpAddr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	c.SMTP.Listen = []string{ln.Addr().String()}
	webLn, err := net.Listen("tcp", *webAddr)
	if err != nil {
		if webLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			ln.Close()
			return err
		}
	}
	c.Web.Listen = webLn.Addr().String()
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		webLn.Close()
		return err
	}
	c.Metrics.Listen = metricsLn.Addr().String()
	// The list archives over IMAP, on loopback: a password in clear text
	// is taken from a loopback client only.
	// The members' page names the address a mail client connects to:
	// relais.localhost resolves in browsers, not in mail clients.
	c.IMAP.Host = "127.0.0.1"
	imapLn, err := net.Listen("tcp", "127.0.0.1:1143")
	if err != nil {
		if imapLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			ln.Close()
			webLn.Close()
			metricsLn.Close()
			return err
		}
	}
	box, err := outbox.Start("127.0.0.1:0", outboxDir(*data))
	if err != nil {
		ln.Close()
		return err
	}
	defer box.Close()
	c.Relay.Address = box.Addr()
	if err := c.Validate(); err != nil {
		return err
	}
	if err := seedDemo(*data); err != nil {
		return err
	}
	log := newLogger(c)
	// The demo asks no real DNS. Its own says that the sample people's
	// domains send from this machine (SPF), so that their mail is proven;
	// mail from any other domain is not, and lists hold it.
	dns := &mailauth.StaticResolver{}
	for _, d := range demoSenders {
		dns.Set(d, "v=spf1 ip4:127.0.0.1 ip6:::1 -all")
	}
	opts := hub.Options{Logger: log, Resolver: dns}
	return serveOn(c, opts, &listeners{smtp: ln, web: webLn, metrics: metricsLn, imap: imapLn}, func(h *hub.Hub) {
		smtp := ln.Addr().String()
		host, port, _ := net.SplitHostPort(smtp)
		abs, _ := filepath.Abs(*data)
		fmt.Printf(`
relais demo is running (Ctrl-C to stop).
  SMTP     %[1]s   mail for *@%[2]s
  web      http://%[3]s   the agenda (/agenda), list archives (/archives), members' pages (/signin), one-click unsubscribe links
  metrics  http://%[10]s/metrics   Prometheus metrics, /healthz, /readyz
  imap     %[11]s   the list archives, read-only (user: a member's address, password: an app password from /me)
  outbox   %[4]s   everything the hub sends is captured in %[5]s
  data     %[6]s

Sample groups: 4405.nantes-sud, 4402.nantes-nord, 7506.paris-11, 2A01.ajaccio, 97401.saint-denis, fr.jeunes
Sample lists:  4405.discussion (members post), 4405.annonces (announcements), 44.groupes (every group of 44)
Support desk:  support@%[2]s (operators nadia@, paul@exemple.fr), juridique@%[2]s
Demo DNS:      example.org and exemple.fr send from 127.0.0.1 (SPF): their mail is proven

Send a first message (in another terminal):
  swaks --server %[7]s --port %[8]s --from you@example.org --to 4405.nantes-sud@%[2]s
See it come out, forwarded to the group's two animators:
  go run ./cmd/relais outbox --data %[9]s
Join a list (a confirmation lands in the outbox; reply to its +confirm address):
  swaks --server %[7]s --port %[8]s --from you@example.org --to 4405.discussion+inscription@%[2]s
Give a place for the weekly agenda, then see what you would get:
  swaks --server %[7]s --port %[8]s --from you@example.org --to agenda+request@%[2]s --header "Subject: code-postal 44300"
  go run ./cmd/relais digest preview --member you@example.org --domain %[2]s --data %[9]s
In a browser: http://%[3]s/agenda, http://%[3]s/archives, and http://%[3]s/signin with camille@exemple.fr
(the sign-in link lands in the outbox: go run ./cmd/relais outbox show N --data %[9]s)
Ask the support desk (an acknowledgement and two operator notifications land in the outbox):
  swaks --server %[7]s --port %[8]s --from you@example.org --to support@%[2]s --header "Subject: Salle pour le 12"
  go run ./cmd/relais ticket list --data %[9]s
`, smtp, demoDomain, c.Web.Listen, box.Addr(), filepath.Join(abs, "outbox"), abs, host, port, *data, c.Metrics.Listen, imapLn.Addr())
	})
}

// demoSenders are the domains the demo's DNS lets send from 127.0.0.1.
var demoSenders = []string{"example.org", "exemple.fr"}

func seedDemo(dir string) error {
	db, err := store.Open(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if qs, err := tickets.Queues(ctx, db); err != nil {
		return err
	} else if len(qs) == 0 {
		for _, q := range []tickets.Queue{
			{Name: "support", DisplayName: "Support national", Operators: []string{"nadia@exemple.fr", "paul@exemple.fr"}},
			{Name: "juridique", DisplayName: "Référents juridiques", Operators: []string{"ines@exemple.fr"}},
		} {
			if _, err := tickets.SaveQueue(ctx, db, demoDomain, q, time.Now()); err != nil {
				return err
			}
		}
	}
	gs, err := groups.List(ctx, db)
	if err != nil || len(gs) > 0 {
		return err
	}
	if _, err = groups.ImportCSV(ctx, db, strings.NewReader(demoGroups)); err != nil {
		return err
	}
	if _, err := lists.ImportCSV(ctx, db, strings.NewReader(demoLists), lists.List{SubjectPrefix: true, Lang: "fr", Archive: true}); err != nil {
		return err
	}
	l, err := lists.Find(ctx, db, "4405.discussion")
	if err != nil {
		return err
	}
	if _, err = lists.Subscribe(ctx, db, l.ID, "demo data", []string{"camille@exemple.fr", "karim@exemple.fr", "lea@exemple.fr"}, audit.Actor{}, time.Now()); err != nil {
		return err
	}
	return seedAgenda(ctx, db)
}

// seedAgenda publishes two events of the demo groups for the coming days.
func seedAgenda(ctx context.Context, db *store.DB) error {
	g := geo.Default()
	day := time.Now().AddDate(0, 0, 4)
	return db.Write(ctx, func(tx *store.Tx) error {
		for i, ev := range []struct{ group, title, place, cp, theme string }{
			{"4405.nantes-sud", "Réunion publique sur le logement", "Salle des fêtes, 12 rue de la Paix, 44000 Nantes", "44000", "logement"},
			{"4402.nantes-nord", "Porte-à-porte au marché", "Marché de la Petite-Hollande, 44000 Nantes", "44000", "climat"},
		} {
			code, name, _ := address.GroupLocal(ev.group)
			var gid int64
			if err := tx.QueryRow("group.id-by-address", code.String(), name).Scan(&gid); err != nil {
				return err
			}
			paris, _ := time.LoadLocation(events.DefaultZone)
			start := time.Date(day.Year(), day.Month(), day.Day()+i, 18, 30, 0, 0, paris)
			e := events.Event{UID: fmt.Sprintf("demo-%d@%s", i, demoDomain), Title: ev.title, Start: start, End: start.Add(2 * time.Hour),
				Zone: events.DefaultZone, Place: ev.place, PostCode: ev.cp, Themes: []string{ev.theme}, Public: true, Status: events.Confirmed}
			if c, err := g.Place(ev.cp); err == nil {
				e.INSEE, e.Lat, e.Lon, e.Located = c.INSEE, c.Point.Lat, c.Point.Lon, true
			}
			if _, err := events.Save(tx, &e, gid, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
}

// demoLists are the sample lists of the demo.
const demoLists = `address,owners,policy,name
4405.discussion,camille@exemple.fr,members,Discussion Nantes Sud
4405.annonces,camille@exemple.fr karim@exemple.fr,announce,Annonces Nantes Sud
`
