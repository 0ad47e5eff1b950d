package templates

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	htmltemplate "html/template"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
	"unsafe"
)

// A Memo composes messages whose lists ({{range .Own}}…{{end}}) hold items
// that many messages share, such as the events of the weekly digests:
// each list item is rendered once, text and HTML, and kept; a message is
// then its template's shell around the kept items. What differs from one
// reader to the next inside an item (a personal link, a distance) is named
// by the item's personal fields: an item is kept with a placeholder in each
// of them, and each message puts its own values in, escaped as the
// template would have escaped them where they stand. The messages are
// those Set.Compose makes from the same templates and data.
//
// Only what is sure to come out the same is kept. A list is rendered item
// by item (Compose's way) when its range declares variables, or its body
// uses $ or other variables, {{.}}, {{template}}, {{break}}, {{continue}},
// or a personal field other than as a whole action ({{.Attend}}) or an
// {{if}}'s condition; when the HTML range does not stand in text (between
// elements); when a placeholder comes out in a place other than text, a
// quoted attribute or a URL; or when a value would not pass where its
// placeholder did (a URL of another scheme). Items that are not comparable
// structs are never kept. Operators' overrides are read as Compose reads
// them.
type Memo struct {
	set      *Set
	personal []string
	holes    []string // placeholder of each personal field
	marker   string

	mu    sync.Mutex
	forms map[string]*memoForm // by "lang/name/html"

	keptMu sync.RWMutex
	kept   map[keptKey]*stencil

	fields sync.Map // reflect.Type → *shape
}

// maxKept bounds the items kept; past it they are made again.
const maxKept = 100000

// probe follows each placeholder's number: how the template escapes it
// says where the placeholder stands. A '/' before the ':' keeps it from
// looking like a URL's scheme.
const probe = "/ <&'\"+:%é"

// Memo returns a Memo for the templates of s whose list items have the
// given personal fields (strings).
func (s *Set) Memo(personal ...string) *Memo {
	var r [8]byte
	rand.Read(r[:])
	m := &Memo{set: s, personal: personal, marker: "Zrq" + hex.EncodeToString(r[:]), forms: map[string]*memoForm{},
		kept: map[keptKey]*stencil{}}
	for i := range personal {
		m.holes = append(m.holes, m.marker+"b"+strconv.Itoa(i)+probe+m.marker+"e")
	}
	return m
}

// Compose is Set.Compose, with the lists of template name kept item by
// item.
func (m *Memo) Compose(lang, name string, data any, env Envelope) ([]byte, error) {
	f, err := m.form(lang, name, env.HTML)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return m.set.Compose(lang, name, data, env)
	}
	subject, text, html, done, err := m.parts(f, name, data, env.HTML)
	defer done()
	if err != nil {
		return nil, err
	}
	return compose(name, f.lang, subject, text, html, env)
}

// parts renders form f of message name: its subject, text and HTML (nil
// without). They are made in buffers used again from one message to the
// next (a digest's are about 60 KB): text and html may be read until
// done is called, which it must be.
func (m *Memo) parts(f *memoForm, name string, data any, htmlName string) (subject string, text, html []byte, done func(), err error) {
	b := getBuffer(int(f.textSize.Load()))
	var h *bytes.Buffer
	done = func() {
		putBuffer(b)
		if h != nil {
			putBuffer(h)
		}
	}
	if err := f.text.Execute(b, data); err != nil {
		return "", nil, nil, done, fmt.Errorf("templates: %s/%s: %w", f.lang, name, err)
	}
	// As rendered reads it.
	head, text, ok := bytes.Cut(b.Bytes(), []byte("\n\n"))
	if !ok {
		return "", nil, nil, done, fmt.Errorf("templates: %s/%s: no blank line after the header", f.lang, name)
	}
	for line := range bytes.SplitSeq(head, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Subject:")); ok {
			subject = string(bytes.TrimSpace(v))
		}
	}
	if subject == "" {
		return "", nil, nil, done, fmt.Errorf("templates: %s/%s: no Subject line", f.lang, name)
	}
	if f.html != nil {
		h = getBuffer(int(f.htmlSize.Load()))
		if err := f.html.Execute(h, data); err != nil {
			return "", nil, nil, done, fmt.Errorf("templates: %s/%s.html: %w", f.lang, htmlName, err)
		}
		grow(&f.htmlSize, h.Len())
		html = h.Bytes()
	}
	grow(&f.textSize, b.Len())
	return subject, text, html, done, nil
}

// buffers are the Memo's part buffers, used again.
var buffers sync.Pool

// maxPooled: a larger buffer is left to the collector.
const maxPooled = 1 << 20

func getBuffer(size int) *bytes.Buffer {
	b, _ := buffers.Get().(*bytes.Buffer)
	if b == nil {
		b = new(bytes.Buffer)
	}
	b.Reset()
	b.Grow(size)
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		buffers.Put(b)
	}
}

// memoForm is a message's templates with their lists' bodies taken out as
// templates of their own ("relais-item-N"), called by the function
// memoItem for each item.
type memoForm struct {
	// textSize and htmlSize are how large the parts were lately: their
	// buffers start so.
	textSize, htmlSize atomic.Int64
	lang               string
	text               *template.Template
	html               *htmltemplate.Template // nil: no HTML part
}

// memoPart is one of a form's templates, text or HTML.
type memoPart struct {
	m    *Memo
	html bool
	exec func(w io.Writer, name string, data any) error
	// kept[i]: list i's items may be kept (its body passed the checks).
	kept []bool
	// size[i] is how large list i was lately.
	size []atomic.Int64
}

// grow makes size at least n, and lets it shrink slowly.
func grow(size *atomic.Int64, n int) {
	if old := size.Load(); int64(n) > old || old > 2*int64(n) {
		size.Store(int64(n) + int64(n)/8)
	}
}

// form returns the memo form of name in lang (with the HTML page
// htmlName), or nil when the message is to be composed as Set.Compose
// does.
func (m *Memo) form(lang, name, htmlName string) (*memoForm, error) {
	key := lang + "/" + name + "/" + htmlName
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.forms[key]; ok {
		return f, nil
	}
	f, err := m.build(lang, name, htmlName)
	if err != nil {
		return nil, err
	}
	m.forms[key] = f
	return f, nil
}

func (m *Memo) build(lang, name, htmlName string) (*memoForm, error) {
	if _, ok := m.set.msgs[lang+"/"+name]; !ok {
		lang = Languages[0] // as Render falls back
	}
	src, ok := m.set.srcs[lang+"/"+name+".tmpl"]
	if !ok {
		return nil, nil // Compose says what is missing
	}
	f := &memoForm{lang: lang}
	tp := &memoPart{m: m}
	trees, sites, err := m.split(lang+"/"+name+".tmpl", src, tp)
	if err != nil {
		return nil, nil
	}
	tname := lang + "/" + name + ".tmpl"
	t := template.New(tname).Option("missingkey=error").Funcs(template.FuncMap{"relaisItem": tp.item, "relaisList": tp.list})
	for n, tr := range trees {
		if _, err := t.AddParseTree(n, tr); err != nil {
			return nil, nil
		}
	}
	tp.exec = t.ExecuteTemplate
	f.text = t.Lookup(tname)
	_ = sites // the text has no escaping to check
	if htmlName == "" {
		return f, nil
	}
	hsrc, ok := m.set.srcs[lang+"/"+htmlName+".html"]
	if !ok {
		return nil, nil
	}
	hp := &memoPart{m: m, html: true}
	trees, sites, err = m.split(lang+"/"+htmlName+".html", hsrc, hp)
	if err != nil {
		return nil, nil
	}
	hname := lang + "/" + htmlName + ".html"
	h := htmltemplate.New(hname).Option("missingkey=error").Funcs(htmltemplate.FuncMap{"relaisItem": hp.item, "relaisList": hp.list})
	for n, tr := range trees {
		if _, err := h.AddParseTree(n, tr); err != nil {
			return nil, nil
		}
	}
	h = h.Lookup(hname)
	// Escape the page now (executing it without data does), then check
	// that each list's items stand in text, where the item templates,
	// escaped on their own, start.
	if err := h.Execute(io.Discard, nil); err != nil {
		var e *htmltemplate.Error
		if errors.As(err, &e) {
			return nil, nil
		}
	}
	for _, a := range sites {
		if len(a.Pipe.Cmds) != 2 || len(a.Pipe.Cmds[1].Args) != 1 {
			return nil, nil
		}
		if id, ok := a.Pipe.Cmds[1].Args[0].(*parse.IdentifierNode); !ok || id.Ident != "_html_template_htmlescaper" {
			return nil, nil
		}
	}
	// What the items print is escaped already (render): the page's
	// escaper, which would pass it as HTML, is taken off (the page is
	// escaped once, above; nothing escapes it again).
	for _, a := range sites {
		a.Pipe.Cmds = a.Pipe.Cmds[:1]
	}
	hp.exec = h.ExecuteTemplate
	f.html = h
	return f, nil
}

// split parses a template and takes the body of each list it may keep
// out into a template of its own; it returns the trees and the actions
// that now call them.
func (m *Memo) split(name, src string, p *memoPart) (map[string]*parse.Tree, []*parse.ActionNode, error) {
	if strings.Contains(src, "relaisItem") || strings.Contains(src, "relaisList") {
		// The functions split puts in are not the template's to call
		// (a piece printed twice would print a buffer given back).
		return nil, nil, fmt.Errorf("templates: %s names the memo's functions", name)
	}
	trees, err := parseSet(name, src)
	if err != nil {
		return nil, nil, err
	}
	main := trees[name]
	if main == nil {
		return nil, nil, fmt.Errorf("templates: %s is empty", name)
	}
	var sites []*parse.ActionNode
	var walk func(l *parse.ListNode) error
	walk = func(l *parse.ListNode) error {
		if l == nil {
			return nil
		}
		for _, n := range l.Nodes {
			switch n := n.(type) {
			case *parse.IfNode:
				if err := walk(n.List); err != nil {
					return err
				}
				if err := walk(n.ElseList); err != nil {
					return err
				}
			case *parse.RangeNode:
				// Inside a range or a with, dot is something else: only
				// the lists of the message's own data are taken.
				if !wholeField(n.Pipe, "") || !m.pure(n.List) {
					continue
				}
				// The body becomes template relais-item-N. A range
				// without {{else}} becomes {{relaisList N .Field}}, which
				// ranges in Go over a slice, and over anything else
				// through template relais-list-N, {{range .}} calling
				// relais-item-N as the body; one with {{else}} keeps its
				// range, calling {{relaisItem N .}} for each item.
				i := len(p.kept)
				n0 := strconv.Itoa(i)
				calls, err := parseSet("call", "{{relaisItem "+n0+" .}}")
				if err == nil {
					var more map[string]*parse.Tree
					more, err = parseSet(listName(i), `{{range .}}{{template "`+itemName(i)+`" .}}{{end}}`)
					trees[listName(i)] = more[listName(i)]
				}
				if err != nil {
					return err
				}
				trees[itemName(i)] = &parse.Tree{Name: itemName(i), ParseName: name, Root: n.List}
				p.kept = append(p.kept, true)
				a := calls["call"].Root.Nodes[0].(*parse.ActionNode)
				if n.ElseList != nil {
					n.List = calls["call"].Root
					sites = append(sites, a)
					continue
				}
				field := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
				a.Pipe.Cmds[0].Args = []parse.Node{a.Pipe.Cmds[0].Args[0], a.Pipe.Cmds[0].Args[1], field}
				a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode).Ident = "relaisList"
				for k, x := range l.Nodes {
					if x == parse.Node(n) {
						l.Nodes[k] = a
					}
				}
				sites = append(sites, a)
			}
		}
		return nil
	}
	if err := walk(main.Root); err != nil {
		return nil, nil, err
	}
	p.size = make([]atomic.Int64, len(p.kept))
	return trees, sites, nil
}

// parseSet parses a template's source into its trees, the functions it
// calls not checked (text/template and html/template check them when they
// run it).
func parseSet(name, src string) (map[string]*parse.Tree, error) {
	trees := map[string]*parse.Tree{}
	t := parse.New(name)
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(src, "", "", trees); err != nil {
		return nil, err
	}
	return trees, nil
}

func itemName(i int) string { return "relais-item-" + strconv.Itoa(i) }

func listName(i int) string { return "relais-list-" + strconv.Itoa(i) }

// wholeField says whether pipe is a single field of dot and nothing else
// ({{.Own}}); if field is not "", that field.
func wholeField(pipe *parse.PipeNode, field string) bool {
	if pipe == nil || len(pipe.Decl) > 0 || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
		return false
	}
	f, ok := pipe.Cmds[0].Args[0].(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && (field == "" || f.Ident[0] == field)
}

// pure says whether a list body's output depends on its item alone, and
// on its personal fields only as whole actions or {{if}} conditions.
func (m *Memo) pure(n parse.Node) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !m.pure(c) {
				return false
			}
		}
		return true
	case *parse.TextNode, *parse.CommentNode:
		return true
	case *parse.ActionNode:
		return m.bare(n.Pipe) || m.purePipe(n.Pipe)
	case *parse.IfNode:
		return (m.bare(n.Pipe) || m.purePipe(n.Pipe)) && m.pure(n.List) && m.pure(n.ElseList)
	case *parse.RangeNode:
		return m.purePipe(n.Pipe) && m.pure(n.List) && m.pure(n.ElseList)
	case *parse.WithNode:
		return m.purePipe(n.Pipe) && m.pure(n.List) && m.pure(n.ElseList)
	}
	return false // template, break, continue, anything new
}

// bare says whether pipe is one personal field alone.
func (m *Memo) bare(pipe *parse.PipeNode) bool {
	for _, f := range m.personal {
		if wholeField(pipe, f) {
			return true
		}
	}
	return false
}

func (m *Memo) purePipe(pipe *parse.PipeNode) bool {
	if pipe == nil {
		return true
	}
	if len(pipe.Decl) > 0 {
		return false
	}
	for _, c := range pipe.Cmds {
		for _, a := range c.Args {
			if !m.pureArg(a) {
				return false
			}
		}
	}
	return true
}

func (m *Memo) pureArg(a parse.Node) bool {
	switch a := a.(type) {
	case *parse.FieldNode:
		for _, f := range m.personal {
			if a.Ident[0] == f {
				return false
			}
		}
		return true
	case *parse.ChainNode:
		return m.pureArg(a.Node)
	case *parse.PipeNode:
		return m.purePipe(a)
	case *parse.IdentifierNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return true
	}
	return false // dot, variables
}

// piece is what relaisItem or relaisList made, in a buffer of the pool:
// the template prints it (a fmt.Formatter), and the buffer goes back. It
// is printed as it is in the HTML part too: build takes the page's
// escaping off the actions that call them, the items being escaped as the
// page would have escaped them (render).
type piece struct{ b *bytes.Buffer }

func (p piece) Format(f fmt.State, _ rune) {
	f.Write(p.b.Bytes())
	putBuffer(p.b)
}

// item renders list i's item.
func (p *memoPart) item(i int, item any) (piece, error) {
	b := getBuffer(0)
	if err := p.render(b, i, item); err != nil {
		putBuffer(b)
		return piece{}, err
	}
	return piece{b}, nil
}

// list renders list i, items: as {{range}} does.
func (p *memoPart) list(i int, items any) (piece, error) {
	v := reflect.ValueOf(items)
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		b := getBuffer(int(p.size[i].Load()))
		for j := range v.Len() {
			if err := p.render(b, i, v.Index(j).Interface()); err != nil {
				putBuffer(b)
				return piece{}, err
			}
		}
		grow(&p.size[i], b.Len())
		return piece{b}, nil
	default: // maps (in the order of their keys), numbers, nil…
		b := getBuffer(0)
		if err := p.exec(b, listName(i), items); err != nil {
			putBuffer(b)
			return piece{}, err
		}
		return piece{b}, nil
	}
}

// keptKey is one list's item: either the item itself with placeholders
// in its personal fields, or, when its fields are strings, booleans and
// integers, what says the same more quickly: the address and length of
// each string (an item kept holds on to its strings, so while it is kept
// the same address and length is the same text), the value of each other
// field, and for a personal field only whether it is empty. The map is
// keyed by a hash of those words (a key of 256 bytes made the map too
// large to stay in the cache), the stencil holding the words themselves:
// a stencil whose words or type differ is not the item's.
type keptKey struct {
	p    *memoPart
	i    int
	item any
	sum  uint64 // of the words
}

// wordSeed seeds the hash of the words.
var wordSeed = maphash.MakeSeed()

// sameSum makes every item's hash the same (the tests).
var sameSum bool

// wordSum is the hash of the first n words. It takes the words by value:
// a pointer to them, or a slice, passed on would have them allocated for
// each item.
func wordSum(words [maxWords]uint64, n int) uint64 {
	if sameSum {
		return 7
	}
	var h maphash.Hash
	h.SetSeed(wordSeed)
	for _, w := range words[:n] {
		maphash.WriteComparable(&h, w)
	}
	return h.Sum64()
}

// maxWords bounds the fields of an item keyed by words: two a string.
const maxWords = 32

// stencil is an item rendered with placeholders: text between holes.
type stencil struct {
	words [maxWords]uint64 // the item's words (keptKey), when keyed by words
	item  any              // the item rendered, placeholders in
	bad   bool             // a placeholder came out where it cannot be replaced: render each time
	parts []string         // len(holes)+1
	holes []hole
	size  int
}

type hole struct {
	field int
	ctx   escCtx
}

// render writes list i's item to b.
func (p *memoPart) render(b *bytes.Buffer, i int, item any) error {
	m := p.m
	v := reflect.ValueOf(item)
	if i >= len(p.kept) || !p.kept[i] || v.Kind() != reflect.Struct || !v.Type().Comparable() {
		return p.exec(b, itemName(i), item)
	}
	sh := m.shapeOf(v.Type())
	if len(sh.personal) > 8 {
		return p.exec(b, itemName(i), item)
	}
	var vals [8]string
	for k, x := range sh.personal {
		if x >= 0 {
			vals[k] = v.Field(x).String()
		}
	}
	key := keptKey{p: p, i: i}
	var words [maxWords]uint64
	if sh.words {
		w := 0
		for x, kind := range sh.kinds {
			f := v.Field(x)
			switch kind {
			case reflect.String:
				if sh.isPersonal[x] {
					if f.Len() > 0 {
						words[w] = 1
					}
				} else {
					s := f.String()
					words[w], words[w+1] = uint64(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint64(len(s))
				}
				w += 2
			case reflect.Bool:
				if f.Bool() {
					words[w] = 1
				}
				w++
			default: // integers
				words[w] = uint64(f.Int())
				w++
			}
		}
		key.sum = wordSum(words, w)
	}
	m.keptMu.RLock()
	st := m.kept[key]
	m.keptMu.RUnlock()
	if st != nil && (st.words != words || reflect.TypeOf(st.item) != v.Type()) {
		// Another item with the same hash, or with the same words but of
		// another type (a list of interfaces): this one takes its place.
		st = nil
	}
	if st == nil {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for k, x := range sh.personal {
			if x >= 0 && vals[k] != "" {
				c.Field(x).SetString(m.holes[k])
			}
		}
		held := c.Interface()
		var out strings.Builder
		if err := p.exec(&out, itemName(i), held); err != nil {
			return err
		}
		st = m.stencil(out.String(), p.html)
		st.item = held // keeps the strings the words name
		st.words = words
		if !sh.words {
			key.item = held
		}
		m.keptMu.Lock()
		if len(m.kept) >= maxKept {
			m.kept = map[keptKey]*stencil{}
		}
		m.kept[key] = st
		m.keptMu.Unlock()
	}
	if st.bad {
		return p.exec(b, itemName(i), item)
	}
	var small [8]string
	esc := small[:]
	if len(st.holes) > len(small) {
		esc = make([]string, len(st.holes))
	}
	for k, h := range st.holes {
		s, ok := escape(h.ctx, vals[h.field])
		if !ok {
			return p.exec(b, itemName(i), item)
		}
		esc[k] = s
	}
	for k := range st.holes {
		b.WriteString(st.parts[k])
		b.WriteString(esc[k])
	}
	b.WriteString(st.parts[len(st.holes)])
	return nil
}

// shape is what render needs to know of an item's type.
type shape struct {
	personal   []int // index of each personal field, -1 if none
	isPersonal []bool
	kinds      []reflect.Kind
	words      bool // keyed by words
}

// shapeOf returns the shape of t.
func (m *Memo) shapeOf(t reflect.Type) *shape {
	if x, ok := m.fields.Load(t); ok {
		return x.(*shape)
	}
	sh := &shape{personal: make([]int, len(m.personal)), isPersonal: make([]bool, t.NumField()), words: true}
	for k, name := range m.personal {
		sh.personal[k] = -1
		if f, ok := t.FieldByName(name); ok && len(f.Index) == 1 && f.Type.Kind() == reflect.String && f.IsExported() {
			sh.personal[k] = f.Index[0]
			sh.isPersonal[f.Index[0]] = true
		}
	}
	w := 0
	for x := range t.NumField() {
		k := t.Field(x).Type.Kind()
		sh.kinds = append(sh.kinds, k)
		switch k {
		case reflect.String:
			w += 2
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			w++
		default:
			sh.words = false
		}
	}
	if w > maxWords {
		sh.words = false
	}
	m.fields.Store(t, sh)
	return sh
}

// stencil cuts an item rendered with placeholders at each of them, and
// says how each was escaped.
func (m *Memo) stencil(out string, html bool) *stencil {
	st := &stencil{size: len(out)}
	begin, end := m.marker+"b", m.marker+"e"
	for {
		i := strings.Index(out, begin)
		if i < 0 {
			break
		}
		st.parts = append(st.parts, out[:i])
		rest := out[i+len(begin):]
		j := strings.Index(rest, end)
		if j < 1 {
			return &stencil{bad: true}
		}
		k, probed := int(rest[0]-'0'), rest[1:j]
		if k < 0 || k >= len(m.personal) {
			return &stencil{bad: true}
		}
		ctx, ok := probeContext(probed, html)
		if !ok {
			return &stencil{bad: true}
		}
		st.holes = append(st.holes, hole{k, ctx})
		out = rest[j+len(end):]
	}
	if strings.Contains(out, m.marker) {
		return &stencil{bad: true}
	}
	st.parts = append(st.parts, out)
	return st
}

// escCtx is where a placeholder stands, as far as its escaping goes.
type escCtx int

const (
	ctxRaw   escCtx = iota // text/template: as it is
	ctxHTML                // HTML text or a quoted attribute
	ctxURL                 // a quoted URL attribute, at its start or before its query
	ctxQuery               // a quoted URL attribute's query or fragment
)

// minis are html/template's own escaping in each place, found by running
// it: an item's value is escaped by the same code as the page.
var minis = map[escCtx]*htmltemplate.Template{
	ctxHTML:  htmltemplate.Must(htmltemplate.New("").Parse(`{{.}}`)),
	ctxURL:   htmltemplate.Must(htmltemplate.New("").Parse(`<a href="{{.}}">`)),
	ctxQuery: htmltemplate.Must(htmltemplate.New("").Parse(`<a href="?{{.}}">`)),
}

// escapeMini escapes s as html/template does in ctx.
func escapeMini(ctx escCtx, s string) string {
	var b strings.Builder
	if err := minis[ctx].Execute(&b, s); err != nil {
		return "#ZgotmplZ" // never with a string
	}
	out := b.String()
	switch ctx {
	case ctxURL:
		out = strings.TrimSuffix(strings.TrimPrefix(out, `<a href="`), `">`)
	case ctxQuery:
		out = strings.TrimSuffix(strings.TrimPrefix(out, `<a href="?`), `">`)
	}
	return out
}

// probed is how the probe comes out in each place.
var probed = func() map[string]escCtx {
	p := map[string]escCtx{}
	for _, c := range []escCtx{ctxQuery, ctxURL, ctxHTML} {
		p[escapeMini(c, probe)] = c
	}
	return p
}()

func probeContext(out string, html bool) (escCtx, bool) {
	if !html {
		return ctxRaw, out == probe
	}
	c, ok := probed[out]
	return c, ok
}

// escape returns s escaped for ctx; ok is false when s would not come out
// where its placeholder did (a URL html/template refuses, "#ZgotmplZ",
// where a URL inside an attribute would pass).
func escape(ctx escCtx, s string) (string, bool) {
	switch ctx {
	case ctxRaw:
		return s, true
	case ctxHTML:
		if plainHTML(s) {
			return s, true
		}
	case ctxURL:
		if plainURL(s) {
			return s, true
		}
		e := escapeMini(ctx, s)
		return e, e != "#ZgotmplZ"
	case ctxQuery:
		if plainQuery(s) {
			return s, true
		}
	}
	return escapeMini(ctx, s), true
}

// plainHTML: s has nothing HTML escapes (letters, digits, some
// punctuation, and characters beyond ASCII other than the replacement
// character and the noncharacters).
func plainHTML(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" ,.:;/_~()?!@#%*-", r):
		case r >= 0xa0 && r != utf8.RuneError && !(r >= 0xfdd0 && r <= 0xfdef) && r < 0xfff0:
		default:
			return false
		}
	}
	return true
}

// plainURL: s is an http, https or mailto URL, or has no scheme, with
// nothing that a URL attribute escapes.
func plainURL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~/:@", c) >= 0:
		default:
			return false
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && !strings.Contains(s[:i], "/") {
		switch s[:i] {
		case "http", "https", "mailto":
		default:
			return false
		}
	}
	return true
}

// plainQuery: s has nothing a URL's query escapes.
func plainQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}
