package mailauth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	gdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/internal/mailbox"
	"codeberg.org/relais/relais/internal/rawheader"
)

// Input is what the SMTP dialogue and the message say about a sender.
type Input struct {
	IP       net.IP
	Helo     string
	MailFrom string // reverse path; "" for the null sender
	Message  []byte // header and body as received
}

// Result is the verdict on one message.
type Result struct {
	SPF      string // pass, fail, softfail, neutral, none, temperror, permerror
	SPFFrom  string // the domain SPF was checked for (MAIL FROM's, else HELO's)
	DKIM     []DKIM // one per signature verified
	DMARC    string // pass, fail, none, temperror, permerror
	From     string // domain of the From field ("" when there is no single one)
	Policy   Policy // the From domain's DMARC policy ("" when it has none)
	Aligned  bool   // SPF or DKIM passed for a domain aligned with From
	Identity string // how it was aligned: "spf" or "dkim", for the log
	// SignedIn: the hub wrote the message for a person signed in with the
	// From address (SignedInField).
	SignedIn bool
}

// DKIM is the verdict on one signature.
type DKIM struct {
	Result string // pass, fail, temperror, permerror
	Domain string // d=
	Reason string
}

// Proven says whether the message is proven to come from its From domain:
// DMARC passes; or the domain publishes no DMARC and SPF or DKIM passed for
// an aligned domain (the rule a list uses to trust a member's From); or the
// hub wrote it itself for a person signed in with that From address (a
// post from the web).
func (r Result) Proven() bool {
	return r.DMARC == "pass" || (r.DMARC == "none" && r.Aligned) || r.SignedIn
}

// SignedInField is the Authentication-Results field of a message the hub
// writes for a person signed in on its pages, From their address (RFC 8601
// §2.7.4, auth method): proven as a mailed post whose DMARC passes.
func SignedInField(authservID, email string) string {
	return "Authentication-Results: " + fold(authres.Format(authservID, []authres.Result{
		&authres.AuthResult{Value: authres.ResultPass, Auth: email}})) + "\r\n"
}

// Failed says whether the From is shown to be forged: nothing proves it,
// and SPF failed or its domain's DMARC says fail. The hub sends nothing to
// such a From (no confirmation, no acknowledgement): the address is
// probably someone else's, who never wrote.
func (r Result) Failed() bool {
	return !r.Proven() && (r.SPF == "fail" || r.DMARC == "fail")
}

// maxSignatures bounds the DKIM signatures verified per message (each may
// cost a DNS lookup).
const maxSignatures = 5

// Check computes SPF, DKIM and DMARC for a message (RFC 7489 §4.2, with
// identifier alignment §3.1 in relaxed or strict mode as the domain asks).
func Check(ctx context.Context, r Resolver, in Input) Result {
	res := Result{}
	res.SPF, res.SPFFrom = checkSPF(ctx, r, in)
	res.DKIM = checkDKIM(ctx, r, in.Message)
	res.From = fromDomain(in.Message)
	if res.From == "" {
		// No From, or several: DMARC cannot apply (RFC 7489 §6.6.1).
		res.DMARC = "permerror"
		return res
	}
	rec, policy, err := policyRecord(ctx, r, res.From)
	if err != nil {
		res.DMARC = "temperror"
		return res
	}
	res.Policy = policy
	adkim, aspf := dmarc.AlignmentMode(dmarc.AlignmentRelaxed), dmarc.AlignmentMode(dmarc.AlignmentRelaxed)
	if rec != nil {
		if rec.DKIMAlignment != "" {
			adkim = rec.DKIMAlignment
		}
		if rec.SPFAlignment != "" {
			aspf = rec.SPFAlignment
		}
	}
	if res.SPF == "pass" && aligned(res.SPFFrom, res.From, aspf) {
		res.Aligned, res.Identity = true, "spf"
	}
	for _, d := range res.DKIM {
		if d.Result == "pass" && aligned(d.Domain, res.From, adkim) {
			res.Aligned, res.Identity = true, "dkim"
		}
	}
	switch {
	case rec == nil:
		res.DMARC = "none"
	case res.Aligned:
		res.DMARC = "pass"
	default:
		res.DMARC = "fail"
	}
	return res
}

// aligned compares two domains as DMARC does (RFC 7489 §3.1.1): equal in
// strict mode, of the same organisational domain in relaxed mode.
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d, from = canon(d), canon(from)
	if d == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return d == from
	}
	return orgDomain(d) == orgDomain(from)
}

func checkSPF(ctx context.Context, r Resolver, in Input) (result, domain string) {
	sender := in.MailFrom
	if sender == "" {
		// RFC 7208 §2.4: the null sender is checked as postmaster@HELO.
		sender = "postmaster@" + in.Helo
	}
	domain = canon(sender[strings.LastIndexByte(sender, '@')+1:])
	if !address.ValidDomain(domain) {
		// Not a domain (a quoted local part, a made-up HELO): nothing to
		// check, and nothing to write in the verdict.
		return "none", ""
	}
	if in.IP == nil {
		return "none", domain
	}
	res, _ := spf.CheckHostWithSender(in.IP, in.Helo, sender,
		spf.WithContext(ctx), spf.WithResolver(spfResolver{r}))
	return string(res), domain
}

// DKIM inputs beyond which a signature is not verified but judged
// permerror: no signature needs more, and each bounds the work a message
// can cause (RFC 6376 §3.5 sets no limits; these are the hub's).
const (
	maxSignatureBytes = 16 << 10 // one DKIM-Signature field
	maxSignedNames    = 128      // names in its h= tag
	maxSimpleLines    = 100      // lines of one field signed with c=simple headers
)

// checkDKIM verifies the DKIM signatures of msg (RFC 6376 §6) with
// go-msgauth, in work linear in the size of msg: a message without a
// signature costs one scan of its header, and the library is given only
// what the signatures cover (their own fields, the fields their h= tags
// name, the body). Fields of signatures with relaxed header
// canonicalization are given unfolded (§3.4.2 unfolds them anyway): the
// library rebuilds a field for each of its continuation lines, which a
// field folded over thousands of lines turns into minutes of work.
func checkDKIM(ctx context.Context, r Resolver, msg []byte) []DKIM {
	fields := rawheader.Fields(msg)
	var sigs []int // indexes in fields
	for i, f := range fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			sigs = append(sigs, i)
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	if len(sigs) > maxSignatures {
		sigs = sigs[:maxSignatures]
	}
	out := make([]DKIM, len(sigs))
	var relaxed, simple []int // indexes in sigs, by header canonicalization
	for i, fi := range sigs {
		f := fields[fi]
		tags := sigTags(f)
		out[i].Domain = strings.ToLower(strings.TrimSpace(tags["d"]))
		names := strings.Split(tags["h"], ":")
		switch {
		case len(f.Raw) > maxSignatureBytes:
			out[i] = DKIM{Result: "permerror", Reason: "signature field too long"}
		case len(names) > maxSignedNames:
			out[i].Result, out[i].Reason = "permerror", "too many signed fields"
		case strings.HasPrefix(strings.ToLower(tags["c"]), "relaxed"):
			relaxed = append(relaxed, i)
		default: // RFC 6376 §3.5: c= defaults to simple/simple
			simple = append(simple, i)
		}
	}
	verify := func(group []int, unfold bool) {
		if len(group) == 0 {
			return
		}
		in, order, tooLong := signedPart(msg, fields, sigs, group, unfold)
		var pass []int
		for _, i := range group {
			if tooLong[i] {
				out[i].Result, out[i].Reason = "permerror", "signed field folded over too many lines"
			} else {
				pass = append(pass, i)
			}
		}
		if len(pass) == 0 {
			return
		}
		if len(pass) < len(group) {
			in, order, _ = signedPart(msg, fields, sigs, pass, unfold)
		}
		mine := map[int]bool{}
		for _, i := range pass {
			mine[i] = true
			out[i].Result, out[i].Reason = "permerror", "not verified" // until the library says
		}
		vs, _ := gdkim.VerifyWithOptions(bytes.NewReader(in), &gdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				txt, err := r.LookupTXT(ctx, name)
				return txt, dnsError(err)
			},
			MaxVerifications: 2 * maxSignatures,
		})
		// The library judges every signature it is given, in order; a
		// signature of the other group (a signed DKIM-Signature field) is
		// judged where it belongs.
		for k, v := range vs {
			if k < len(order) && mine[order[k]] {
				out[order[k]] = verdict(v)
			}
		}
	}
	verify(relaxed, true)
	verify(simple, false)
	return out
}

// verdict turns the library's verification into the hub's.
func verdict(v *gdkim.Verification) DKIM {
	d := DKIM{Result: "pass", Domain: strings.ToLower(v.Domain)}
	switch {
	case v.Err == nil:
	case gdkim.IsTempFail(v.Err):
		d.Result, d.Reason = "temperror", v.Err.Error()
	case gdkim.IsPermFail(v.Err):
		// A signature that cannot be checked: bad syntax, no key.
		d.Result, d.Reason = "permerror", v.Err.Error()
	default:
		// The signature or the body hash does not verify.
		d.Result, d.Reason = "fail", v.Err.Error()
	}
	return d
}

// sigTags reads the tags of a DKIM-Signature field (RFC 6376 §3.2) enough
// to know what it covers; the library reads them again to verify.
func sigTags(f rawheader.Field) map[string]string {
	tags := map[string]string{}
	if len(f.Raw) > maxSignatureBytes {
		return tags
	}
	for _, t := range strings.Split(string(rawheader.Unfold(f.Value())), ";") {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := tags[k]; !dup {
			tags[k] = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v)
		}
	}
	return tags
}

// signedPart is the message the signatures sigs[group] see: their own
// fields, the fields their h= tags name, in the order of msg, then the
// body. sigs are indexes in fields. unfold puts each field on one line.
// order gives, for each DKIM-Signature field of the result, its index in
// sigs (-1 for one beyond them). tooLong names the signatures (by index
// in sigs) that cover a field folded over more than maxSimpleLines lines
// when fields are kept as they are.
func signedPart(msg []byte, fields []rawheader.Field, sigs, group []int, unfold bool) (part []byte, order []int, tooLong map[int]bool) {
	names := map[string][]int{}
	own := map[int]bool{}
	sigIndex := map[int]int{}
	for i, fi := range sigs {
		sigIndex[fi] = i
	}
	for _, i := range group {
		own[sigs[i]] = true
		for _, n := range strings.Split(sigTags(fields[sigs[i]])["h"], ":") {
			n = strings.ToLower(n)
			names[n] = append(names[n], i)
		}
	}
	tooLong = map[int]bool{}
	end := rawheader.End(msg)
	out := make([]byte, 0, len(msg))
	for fi, f := range fields {
		isSig := strings.EqualFold(f.Name, "DKIM-Signature")
		switch {
		case f.Name == "":
			continue // not a field: covered by no signature
		case isSig && !own[fi] && names["dkim-signature"] == nil:
			continue
		case !isSig && names[strings.ToLower(f.Name)] == nil:
			continue
		}
		if isSig {
			i, ok := sigIndex[fi]
			if !ok {
				i = -1
			}
			order = append(order, i)
		}
		if unfold {
			out = append(out, rawheader.Unfold(f.Raw)...)
			continue
		}
		if f.Lines() > maxSimpleLines {
			for _, i := range names[strings.ToLower(f.Name)] {
				tooLong[i] = true
			}
			if isSig && own[fi] {
				tooLong[sigIndex[fi]] = true
			}
		}
		out = append(out, f.Raw...)
	}
	return append(out, msg[end:]...), order, tooLong
}

// fromDomain is the domain of the one address in the one From field, in
// A-labels (RFC 7489 §3.1: DMARC looks up and aligns domains as the DNS
// knows them), read as smtpd read it at DATA (internal/mailbox: charsets
// of display names, IDNA forms).
func fromDomain(msg []byte) string {
	h, err := textproto.ReadHeader(rawheader.Reader(msg))
	if err != nil || len(h.Values("From")) != 1 {
		return ""
	}
	a, err := mailbox.Parse(h.Get("From"), true)
	if err != nil {
		return ""
	}
	return canon(mailbox.ASCIIDomain(a.Address))
}

// spfResolver gives blitiri's SPF library our Resolver, with the errors it
// understands (*net.DNSError, not found or temporary).
type spfResolver struct{ r Resolver }

func (s spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := s.r.LookupTXT(ctx, name)
	return txt, dnsError(err)
}

func (s spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := s.r.LookupMX(ctx, name)
	return mx, dnsError(err)
}

func (s spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := s.r.LookupIPAddr(ctx, host)
	return ips, dnsError(err)
}

func (s spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := s.r.LookupAddr(ctx, addr)
	return names, dnsError(err)
}

func dnsError(err error) error {
	var de *net.DNSError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return &net.DNSError{Err: "no such record", IsNotFound: true}
	case errors.As(err, &de):
		return de
	}
	return &net.DNSError{Err: err.Error(), IsTemporary: true}
}

// Field is the Authentication-Results header field of a verdict (RFC 8601
// §2.2), with its CRLF, to put on top of the message.
func (r Result) Field(authservID string) string {
	safe := func(d string) string {
		if address.ValidDomain(d) {
			return d
		}
		return ""
	}
	results := []authres.Result{&authres.SPFResult{Value: authres.ResultValue(r.SPF), From: safe(r.SPFFrom)}}
	if len(r.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range r.DKIM {
		results = append(results, &authres.DKIMResult{Value: authres.ResultValue(d.Result), Domain: safe(d.Domain)})
	}
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(r.DMARC), From: safe(r.From)})
	return "Authentication-Results: " + fold(authres.Format(authservID, results)) + "\r\n"
}

// fold breaks the field after each result, as mail software writes it.
func fold(v string) string { return strings.ReplaceAll(v, "; ", ";\r\n\t") }

// Strip removes the Authentication-Results fields that claim to be the
// hub's (RFC 8601 §5): only the one the hub adds itself may say authservID.
// Other fields are left as they are, byte for byte.
func Strip(msg []byte, authservID string) []byte {
	var out []byte
	pos := 0
	for _, f := range rawheader.Fields(msg) {
		if strings.EqualFold(f.Name, "Authentication-Results") && ours(string(f.Value()), authservID) {
			if out == nil {
				out = make([]byte, 0, len(msg))
				out = append(out, msg[:pos]...)
			}
		} else if out != nil {
			out = append(out, f.Raw...)
		}
		pos += len(f.Raw)
	}
	if out == nil {
		return msg
	}
	return append(out, msg[pos:]...)
}

// ours says whether an Authentication-Results value names authservID. The
// id is compared without the version and comments that may follow it.
func ours(value, authservID string) bool {
	id, _, err := authres.Parse(strings.TrimSpace(unfold(value)))
	if err != nil {
		// Unparseable: judge by the first word, so that a broken field
		// does not slip through.
		id, _, _ = strings.Cut(strings.TrimSpace(unfold(value)), ";")
		id = strings.Fields(id + " ")[0]
	}
	return strings.EqualFold(strings.TrimSpace(id), authservID)
}

func unfold(s string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(s)
}

// Read finds the verdict the hub recorded in msg: the topmost
// Authentication-Results field with authservID (fields from outside with
// that id were removed on receipt). ok is false when there is none (mail
// the hub made itself, or received before verdicts were recorded).
func Read(msg []byte, authservID string) (res Result, ok bool) {
	h, err := textproto.ReadHeader(rawheader.Reader(msg))
	if err != nil {
		return res, false
	}
	for _, v := range h.Values("Authentication-Results") {
		id, results, err := authres.Parse(unfold(v))
		if err != nil || !strings.EqualFold(id, authservID) {
			continue
		}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				res.SPF, res.SPFFrom = string(r.Value), r.From
			case *authres.DKIMResult:
				if r.Value != authres.ResultNone {
					res.DKIM = append(res.DKIM, DKIM{Result: string(r.Value), Domain: r.Domain})
				}
			case *authres.DMARCResult:
				res.DMARC, res.From = string(r.Value), r.From
			case *authres.AuthResult:
				if r.Value == authres.ResultPass && r.Auth != "" {
					if a, err := mailbox.Parse(h.Get("From"), true); err == nil && strings.EqualFold(a.Address, r.Auth) {
						res.SignedIn = true
					}
				}
			}
		}
		// Alignment, for a domain without DMARC: recomputed from the
		// identities the field names, relaxed as RFC 7489 defaults to.
		if res.SPF == "pass" && aligned(res.SPFFrom, res.From, dmarc.AlignmentRelaxed) {
			res.Aligned, res.Identity = true, "spf"
		}
		for _, d := range res.DKIM {
			if d.Result == "pass" && aligned(d.Domain, res.From, dmarc.AlignmentRelaxed) {
				res.Aligned, res.Identity = true, "dkim"
			}
		}
		return res, true
	}
	return res, false
}
