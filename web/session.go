package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookies the pages set. Every one is HttpOnly, SameSite, and Secure when
// members reach the pages over https, where its name also takes the
// __Host- prefix (RFC 6265bis §4.1.3.2): the browser then keeps it only
// if it is Secure, for Path=/ and this host alone, so a sibling subdomain
// cannot plant one of its own (s.cookieName).
const (
	sessionCookie = "relais_session" // a session's random value (the hub keeps its hash)
	formCookie    = "relais_form"    // binds the forms shown before signing in (double submit)
	langCookie    = "relais_lang"    // the language chosen before signing in
)

type ctxKey int

const personKey ctxKey = 0

// person reads the session cookie, when there is one, and hands the
// request on with the session it names.
func (s *Server) person(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.signin != nil {
			if c, err := s.cookie(r, sessionCookie); err == nil && c.Value != "" {
				sess, err := s.signin.Session(r.Context(), c.Value)
				switch {
				case err == nil:
					r = r.WithContext(context.WithValue(r.Context(), personKey, &sess))
				case errors.Is(err, ErrNoSession):
					s.clearCookie(w, sessionCookie)
				default:
					s.log.Error("session", "err", err)
					status(w, http.StatusInternalServerError)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// session returns the request's session, nil when nobody is signed in.
func session(r *http.Request) *Session {
	sess, _ := r.Context().Value(personKey).(*Session)
	return sess
}

// withoutSession is r's context with nobody signed in.
func withoutSession(r *http.Request) context.Context {
	return context.WithValue(r.Context(), personKey, (*Session)(nil))
}

// signedIn returns the session, or sends the browser to the sign-in page.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) *Session {
	sess := session(r)
	if sess == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
	}
	return sess
}

// cookieName is the name cookie name has on the wire.
func (s *Server) cookieName(name string) string {
	if s.cfg.Secure {
		return "__Host-" + name
	}
	return name
}

// cookie reads the request's cookie name (its wire name, cookieName).
func (s *Server) cookie(r *http.Request, name string) (*http.Cookie, error) {
	return r.Cookie(s.cookieName(name))
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: site})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteLaxMode})
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func (s *Server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return b32.EncodeToString(m.Sum(nil)[:20])
}

// csrf returns the token the forms of a page carry: bound to the session
// when someone is signed in, else to the form cookie (set here when the
// browser has none). A page on another site can neither read it nor, the
// cookies being SameSite, have the browser send the cookie with its POST.
func (s *Server) csrf(w http.ResponseWriter, r *http.Request) string {
	if sess := session(r); sess != nil {
		return s.mac("csrf", sess.Key)
	}
	c, err := s.cookie(r, formCookie)
	v := ""
	if err == nil && len(c.Value) == 32 {
		v = c.Value
	} else {
		var b [20]byte
		rand.Read(b[:])
		v = b32.EncodeToString(b[:])
		s.setCookie(w, formCookie, v, 24*time.Hour, http.SameSiteStrictMode)
		// The rest of this request sees it too (a page with two forms).
		r.AddCookie(&http.Cookie{Name: s.cookieName(formCookie), Value: v})
	}
	return s.mac("form", v)
}

// checkCSRF reads a POST's form (at most 16 kB) and says whether it carries
// the token of its session, or of its form cookie before signing in; if
// not, the answer is 403 and nothing is done.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		status(w, http.StatusBadRequest)
		return false
	}
	got := r.PostForm.Get("csrf")
	want := ""
	if sess := session(r); sess != nil {
		want = s.mac("csrf", sess.Key)
	} else if c, err := s.cookie(r, formCookie); err == nil && c.Value != "" {
		want = s.mac("form", c.Value)
	}
	if got == "" || want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		s.log.Info("web: form without its CSRF token refused", "path_bytes", len(r.URL.Path))
		s.page(w, r, http.StatusForbidden, "web/error", errorPage{Reason: "csrf"})
		return false
	}
	return true
}

// language is the language of a page: the signed-in member's choice, the
// one chosen before signing in, else the browser's (Accept-Language),
// French by default.
func language(r *http.Request) string {
	if sess := session(r); sess != nil && (sess.Lang == "fr" || sess.Lang == "en") {
		return sess.Lang
	}
	// Either wire name (cookieName): a language is no secret.
	for _, name := range []string{"__Host-" + langCookie, langCookie} {
		if c, err := r.Cookie(name); err == nil && (c.Value == "fr" || c.Value == "en") {
			return c.Value
		}
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage picks fr or en from an Accept-Language field (RFC 9110
// §12.5.4): the one with the highest weight, French when neither is named.
func acceptLanguage(h string) string {
	best, bestQ := "fr", -1.0
	for i, part := range strings.Split(h, ",") {
		if i > 20 {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		lang, _, _ := strings.Cut(tag, "-")
		if (lang == "fr" || lang == "en") && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

// setLang is the language switch: it keeps the choice in a cookie and, for
// a signed-in member, everywhere the hub writes to them.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	lang := r.PostForm.Get("lang")
	if lang != "fr" && lang != "en" {
		status(w, http.StatusBadRequest)
		return
	}
	s.setCookie(w, langCookie, lang, 365*24*time.Hour, http.SameSiteLaxMode)
	if sess := session(r); sess != nil {
		if err := s.members.SetLang(r.Context(), sess.Email, lang); err != nil {
			s.fail(w, r, "set language", err)
			return
		}
	}
	http.Redirect(w, r, back(r.PostForm.Get("back")), http.StatusSeeOther)
}

// back is where a form sends the browser afterwards: a path of this site
// only. No control character: browsers drop tabs and line breaks from a
// URL, so "/\t/evil.example" would be "//evil.example", another site.
func back(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || len(p) > 300 ||
		strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return p
}
