package digest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"codeberg.org/relais/relais/geo"
	"codeberg.org/relais/relais/store"
)

// ErrNoMember: the address has not joined the agenda.
var ErrNoMember = errors.New("digest: not a member of the agenda")

type scanner interface{ Scan(...any) error }

func scanMember(row scanner) (Member, error) {
	var m Member
	var themes string
	var created, updated int64
	err := row.Scan(&m.Email, &m.PostCode, &m.INSEE, &m.Place, &m.Point.Lat, &m.Point.Lon, &m.Radius, &m.Lang, &m.Zone,
		&themes, &m.Active, &created, &updated, &m.Link)
	if themes != "" {
		m.Themes = strings.Split(themes, ",")
	}
	m.Created, m.Updated = time.Unix(created, 0), time.Unix(updated, 0)
	return m, err
}

// Get reads a member with their groups.
func Get(ctx context.Context, db *store.DB, email string) (Member, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	m, err := scanMember(db.QueryRow(ctx, "agenda.member", email))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNoMember
	} else if err != nil {
		return m, err
	}
	rows, err := db.Query(ctx, "agenda.groups-of", email, email)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var admitted bool
		if err := rows.Scan(&id, &admitted); err != nil {
			return m, err
		}
		m.addGroup(id, admitted)
	}
	return m, rows.Err()
}

// addGroup records that m belongs to group id, admitted or not (a row
// for each list of its code: admitted by one is admitted).
func (m *Member) addGroup(id int64, admitted bool) {
	if !slices.Contains(m.Groups, id) {
		m.Groups = append(m.Groups, id)
	}
	if admitted && !slices.Contains(m.Admitted, id) {
		m.Admitted = append(m.Admitted, id)
	}
}

// GetTx reads a member inside a transaction (without their groups).
func GetTx(tx *store.Tx, email string) (Member, error) {
	m, err := scanMember(tx.QueryRow("agenda.member", strings.ToLower(strings.TrimSpace(email))))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNoMember
	}
	return m, err
}

// Save stores a member's place and preferences. A new member gets the
// random id their links name (Member.Link); a known one keeps theirs.
func Save(tx *store.Tx, m Member, now time.Time) error {
	if m.Created.IsZero() {
		m.Created = now
	}
	_, err := tx.Exec("agenda.upsert", strings.ToLower(m.Email), m.PostCode, m.INSEE, m.Place, m.Point.Lat, m.Point.Lon,
		m.Radius, m.Lang, m.Zone, strings.Join(m.Themes, ","), m.Active, m.Created.Unix(), now.Unix(), newLink())
	return err
}

// newLink returns a fresh link id: 80 random bits in hex.
func newLink() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ByLink reads the member a link id names, without their groups.
func ByLink(ctx context.Context, db *store.DB, link string) (Member, error) {
	m, err := scanMember(db.QueryRow(ctx, "agenda.member-by-link", link))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNoMember
	}
	return m, err
}

// Result is what one command line did, for the answer.
type Result struct {
	Line    string
	Outcome string // place, radius, lang, themes, stop, start, unknown, bad-place, bad-radius
	Detail  string
}

// Apply carries out the commands in text (the subject and the first lines
// of a message to agenda+request@) on m, new when it has no email yet:
//
//	code-postal 44000 | cp 44000 | commune Saint-Nazaire | postcode 44000
//	rayon 30 | radius 30                (km, 1 to 200)
//	langue en | language fr
//	themes climat, logement | themes aucun
//	stop | reprendre (start)
func Apply(m *Member, text string, g *geo.Gazetteer) []Result {
	if m.Radius == 0 {
		m.Radius = DefaultRadius
	}
	if m.Lang == "" {
		m.Lang = "fr"
	}
	var out []Result
	for _, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, ">") {
			continue
		}
		if line == "--" || line == "-- " {
			break
		}
		word, rest, _ := strings.Cut(line, " ")
		word = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(word)), ":")
		rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		r := Result{Line: line}
		switch word {
		case "code-postal", "code_postal", "codepostal", "cp", "postcode", "commune", "lieu", "ville", "place":
			c, err := g.Place(rest)
			if err != nil {
				r.Outcome, r.Detail = "bad-place", rest
				break
			}
			m.PostCode, m.INSEE, m.Place, m.Point = "", c.INSEE, c.Name, c.Point
			if len(c.PostCodes) > 0 {
				m.PostCode = c.PostCodes[0]
				for _, p := range c.PostCodes {
					if strings.Contains(rest, p) {
						m.PostCode = p
					}
				}
			}
			if z := c.TimeZone(); z != "" {
				m.Zone = z
			}
			r.Outcome, r.Detail = "place", m.PostCode+" "+c.Name
		case "rayon", "radius", "distance":
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(rest, "km")), " "))
			if err != nil || n < MinRadius || n > MaxRadius {
				r.Outcome, r.Detail = "bad-radius", rest
				break
			}
			m.Radius = n
			r.Outcome, r.Detail = "radius", strconv.Itoa(n)
		case "langue", "language", "lang":
			switch l := strings.ToLower(rest); {
			case strings.HasPrefix(l, "en") || strings.HasPrefix(l, "ang"):
				m.Lang = "en"
			default:
				m.Lang = "fr"
			}
			r.Outcome, r.Detail = "lang", m.Lang
		case "themes", "thèmes", "theme", "thème", "tags":
			m.Themes = nil
			if l := strings.ToLower(rest); l != "aucun" && l != "none" && l != "" {
				for _, t := range strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ';' }) {
					if t = strings.TrimPrefix(strings.TrimSpace(t), "#"); t != "" && !containsString(m.Themes, t) {
						m.Themes = append(m.Themes, t)
					}
				}
			}
			r.Outcome, r.Detail = "themes", strings.Join(m.Themes, ", ")
		case "stop", "arret", "arrêt", "desinscription", "désinscription", "unsubscribe":
			m.Active = false
			r.Outcome = "stop"
		case "reprendre", "start", "resume", "inscription", "subscribe":
			m.Active = true
			r.Outcome = "start"
		default:
			r.Outcome = "unknown"
		}
		out = append(out, r)
		if len(out) >= 20 {
			break
		}
	}
	return out
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// String is a member's settings in one line, for logs and the CLI.
func (m Member) String() string {
	state := "active"
	if !m.Active {
		state = "stopped"
	}
	return fmt.Sprintf("%s: %s %s, %d km, %s, themes [%s], %s", m.Email, m.PostCode, m.Place, m.Radius, m.Lang, strings.Join(m.Themes, ", "), state)
}

var errNoRows = sql.ErrNoRows
