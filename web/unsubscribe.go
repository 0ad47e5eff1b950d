package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Subscription is what an unsubscribe token names.
type Subscription struct {
	List    string // address
	Name    string // display name
	Email   string
	Lang    string
	Already bool // already unsubscribed
}

// Lists is what the pages need from the mailing lists. ErrBadToken is
// returned for a token that names nobody.
type Lists interface {
	Unsubscription(ctx context.Context, token string) (Subscription, error)
	Unsubscribe(ctx context.Context, token, from string) (Subscription, error)
}

// ErrBadToken: the link is not one the hub made.
var ErrBadToken = errors.New("web: unknown link")

type pageData struct {
	Sub   Subscription
	State string // confirm, done, already, invalid, error
}

// unsubscribe is the personal one-click link of list mail (RFC 8058).
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	var sub Subscription
	var err error
	state := "confirm"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sub, err = s.lists.Unsubscription(r.Context(), tok)
		if sub.Already {
			state = "already"
		}
	case http.MethodPost:
		// RFC 8058 §3.2: the body is List-Unsubscribe=One-Click; a POST
		// to the personal URL is the whole request, whatever its body.
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		r.ParseForm()
		sub, err = s.lists.Unsubscribe(r.Context(), tok, "HTTP POST from "+s.client(r).String())
		state = "done"
		if err == nil && sub.Already {
			state = "already"
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrBadToken):
		state, code = "invalid", http.StatusNotFound
	case err != nil:
		s.log.Error("unsubscribe", "err", err)
		state, code = "error", http.StatusInternalServerError
	}
	lang := sub.Lang
	if lang == "" {
		lang = "fr"
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en") {
			lang = "en"
		}
	}
	s.render(w, lang, "unsubscribe", code, pageData{Sub: sub, State: state})
}
