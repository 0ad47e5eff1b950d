// Command archive measures the list archives' search: one list with POSTS
// posts (French text drawn from a vocabulary with and without accents,
// 200 authors, spread over three years), archived by package archive as
// the hub does (threading, full-text index), then QUERIES searches of the
// kinds the pages make: a common word, a rare one, two words, a word
// typed without its accents, an author, a word within a date range, and
// the next page of a common word. It reports the 50th, 95th and 99th
// percentiles of the time archive.Search takes (what the search page
// asks of the database; rendering 50 rows is not counted), overall and
// by kind, and the machine's load average before and after, since the
// machine may be shared.
//
//	go run ./bench/archive [-posts 100000] [-queries 2000] [-data DIR]
//
// The goal is p95 under 100 ms on the 2-core machine. No peer runs the
// same search (HyperKitty's needs a Xapian or Whoosh index and Django), so
// the figures are absolute.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/archive"
	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/store"
)

// words are what the posts are made of: common words first (drawn more
// often), accented ones among them.
var words = strings.Fields(`le la les de des du et à un une pour dans sur avec pas que qui ne se au ce il elle nous vous
ils on est sont été être avoir fait faire plus tout bien très aussi comme mais ou donc car
réunion assemblée élection député circonscription mairie quartier école santé hôpital logement
loyer transport vélo tramway écologie climat énergie nucléaire éolienne retraite salaire travail
syndicat grève manifestation tract affiche porte-à-porte marché fête salle événement semaine
samedi dimanche lundi mardi mercredi jeudi vendredi matin soir après-midi rendez-vous café
budget trésorerie adhésion cotisation bénévole militant équipe comité groupe liste courriel
téléphone réseau formation débat conférence projection cinéma bibliothèque jeunesse étudiant
lycée université agriculture paysan alimentation cantine eau forêt rivière pollution déchet
recyclage commerce entreprise emploi chômage précarité solidarité association collectif
mobilisation pétition référendum démocratie citoyenneté laïcité égalité féminisme antiracisme
handicap accessibilité numérique internet données vie privée sécurité police justice prison
frontière migrant accueil hébergement urgence sociale européen international paix désarmement`)

var authors []string

func sentence(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		// Zipf-like: low indexes far more often.
		k := int(float64(len(words)) * r.Float64() * r.Float64() * r.Float64())
		b.WriteString(words[k])
	}
	return b.String()
}

func main() {
	nPosts := flag.Int("posts", 100000, "posts in the archive")
	nQueries := flag.Int("queries", 2000, "searches measured")
	dir := flag.String("data", "", "data directory (default: a new temporary one, removed after; kept if given)")
	flag.Parse()
	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	fmt.Printf("load average before: %s\n", load())
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "relais-bench-archive-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
	}
	db, err := store.Open(d)
	if err != nil {
		fail(err)
	}
	defer db.Close()
	ctx := context.Background()
	code, _ := address.ParseCode("4405")
	l, err := lists.Find(ctx, db, "4405.discussion")
	if err != nil {
		if l, err = lists.Create(ctx, db, lists.List{Code: code, Name: "discussion", Policy: lists.Members,
			Owners: []lists.Owner{{Email: "camille@exemple.fr"}}}, audit.Actor{}); err != nil {
			fail(err)
		}
	}
	for i := range 200 {
		authors = append(authors, fmt.Sprintf("Personne%03d Nom%03d <personne%03d@exemple.fr>", i, i, i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	var have int
	db.QueryRow(ctx, "post.count", l.ID).Scan(&have)
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 3 * 365 * 24 * time.Hour / time.Duration(*nPosts)
	t0 := time.Now()
	var topics []string
	for i := have; i < *nPosts; {
		err := db.Write(ctx, func(tx *store.Tx) error {
			for j := 0; j < 500 && i < *nPosts; j, i = j+1, i+1 {
				a := authors[r.IntN(len(authors))]
				name, addr, _ := strings.Cut(a, " <")
				addr = strings.TrimSuffix(addr, ">")
				subject := sentence(r, 3+r.IntN(5))
				refs := ""
				if len(topics) > 0 && r.IntN(3) > 0 {
					p := topics[r.IntN(len(topics))]
					pid, _, _ := strings.Cut(p, "|")
					subject = "Re: " + strings.SplitN(p, "|", 2)[1]
					refs = "In-Reply-To: <" + pid + ">\r\nReferences: <" + pid + ">\r\n"
				}
				msgid := fmt.Sprintf("p%d.%d@exemple.fr", i, r.Uint32())
				body := sentence(r, 40+r.IntN(200)) + ".\r\n\r\n" + sentence(r, 20+r.IntN(80)) + ".\r\n"
				msg := "From: " + a + "\r\nTo: 4405.discussion@hub.example\r\nSubject: " + subject + "\r\nMessage-ID: <" + msgid + ">\r\n" + refs +
					"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
				if _, _, err := archive.Add(tx, l.ID, addr, name, subject, start.Add(time.Duration(i)*step), []byte(msg), nil); err != nil {
					return err
				}
				if !strings.HasPrefix(subject, "Re: ") {
					topics = append(topics, msgid+"|"+subject)
					if len(topics) > 300 {
						topics = topics[1:]
					}
				}
			}
			return nil
		})
		if err != nil {
			fail(err)
		}
		if i%10000 == 0 {
			fmt.Fprintf(os.Stderr, "\r%d posts archived", i)
		}
	}
	if *nPosts > have {
		fmt.Fprintf(os.Stderr, "\r%d posts archived in %s (%.0f posts/s)\n", *nPosts-have, time.Since(t0).Round(time.Second),
			float64(*nPosts-have)/time.Since(t0).Seconds())
	}
	if err := db.Checkpoint(ctx, time.Minute); err != nil {
		fail(err)
	}
	// The queries, each kind in turn.
	type kind struct {
		name string
		q    func() archive.Query
	}
	common := []string{"réunion", "logement", "samedi", "climat", "équipe", "travail"}
	rare := []string{"désarmement", "laïcité", "recyclage", "bibliothèque", "précarité", "antiracisme"}
	strip := strings.NewReplacer("é", "e", "è", "e", "ê", "e", "à", "a", "ï", "i", "ô", "o", "ç", "c")
	kinds := []kind{
		{"common word", func() archive.Query { return archive.Query{Words: common[r.IntN(len(common))]} }},
		{"rare word", func() archive.Query { return archive.Query{Words: rare[r.IntN(len(rare))]} }},
		{"two words", func() archive.Query {
			return archive.Query{Words: common[r.IntN(len(common))] + " " + rare[r.IntN(len(rare))]}
		}},
		{"no accents", func() archive.Query { return archive.Query{Words: strip.Replace(rare[r.IntN(len(rare))])} }},
		{"author", func() archive.Query { return archive.Query{Author: fmt.Sprintf("personne%03d", r.IntN(200))} }},
		{"word in dates", func() archive.Query {
			from := start.AddDate(0, r.IntN(30), 0)
			return archive.Query{Words: common[r.IntN(len(common))], From: from, To: from.AddDate(0, 3, 0)}
		}},
		{"next page", func() archive.Query {
			return archive.Query{Words: common[r.IntN(len(common))], Before: int64(*nPosts/2 + r.IntN(*nPosts/2))}
		}},
	}
	by := map[string][]time.Duration{}
	var all []time.Duration
	hits := 0
	for i := range *nQueries {
		k := kinds[i%len(kinds)]
		q := k.q()
		t := time.Now()
		res, err := archive.Search(ctx, db, l.ID, q)
		d := time.Since(t)
		if err != nil {
			fail(err)
		}
		hits += len(res)
		by[k.name] = append(by[k.name], d)
		all = append(all, d)
	}
	pct := func(ds []time.Duration, p float64) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("%d posts, %d searches (%.1f results each on average, 50 at most)\n", *nPosts, *nQueries, float64(hits)/float64(*nQueries))
	fmt.Printf("%-14s %10s %10s %10s\n", "kind", "p50", "p95", "p99")
	for _, k := range kinds {
		ds := by[k.name]
		fmt.Printf("%-14s %10s %10s %10s\n", k.name, ms(pct(ds, .5)), ms(pct(ds, .95)), ms(pct(ds, .99)))
	}
	fmt.Printf("%-14s %10s %10s %10s\n", "all", ms(pct(all, .5)), ms(pct(all, .95)), ms(pct(all, .99)))
	fmt.Printf("load average after: %s\n", load())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/archive:", err)
	os.Exit(1)
}
