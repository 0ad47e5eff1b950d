// Package csvfile reads the CSV files operators import (groups, lists): UTF-8
// with or without a byte-order mark, comma or semicolon separated (French
// spreadsheets export with semicolons), a header line naming the columns
// in any order and case.
package csvfile

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Row is one line of data.
type Row struct {
	Line int   // line number in the file, for error messages
	Err  error // the line could not be read
	rec  []string
	cols map[string]int
}

// Field returns the trimmed value of column name, "" if absent.
func (r Row) Field(name string) string {
	i, ok := r.cols[name]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

// File is a read CSV file.
type File struct {
	cols map[string]int
	Rows []Row // blank lines left out
}

// Has says whether the header names column name.
func (f *File) Has(name string) bool { _, ok := f.cols[name]; return ok }

// Read reads a whole file; only a missing header is an error here, bad
// lines are reported in their Row.
func Read(r io.Reader) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	cr := csv.NewReader(strings.NewReader(text))
	first, _, _ := strings.Cut(text, "\n")
	if strings.Count(first, ";") > strings.Count(first, ",") {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	f := &File{cols: map[string]int{}}
	for i, h := range head {
		f.cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return f, nil
		}
		line, _ := cr.FieldPos(0)
		if err == nil && len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		f.Rows = append(f.Rows, Row{Line: line, Err: err, rec: rec, cols: f.cols})
	}
}

// SplitList splits a cell holding several values (addresses), separated
// by spaces, commas or semicolons.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' })
}
