package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// ErrNoConfig is wrapped by the error Load returns when the configuration
// file does not exist, so that an absent file can be told from an invalid one.
var ErrNoConfig = errors.New("config: no configuration file")

// FieldError is one problem found in a configuration file or in a GeoJSON
// file it names.
type FieldError struct {
	File   string // the file, as named to Load or Parse (GeoJSON files: joined to its directory)
	Line   int    // 1-based line; 0 when the problem concerns the whole file
	Column int    // 1-based column in characters; 0 when unknown
	Field  string // path of the field, e.g. "sensors[2].address" (indexes count from 0); "" for the document
	Msg    string
}

// Error formats the problem as "file:line:column: field: message", leaving
// out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, sorted by file (the
// configuration first), line and column. Load and Parse return it as their
// error when the configuration is invalid.
type Errors []*FieldError

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders es by file (first, then the others in order of first
// appearance), then line and column, keeping the order of discovery for
// problems at the same place.
func sortErrors(es Errors, first string) {
	rank := map[string]int{first: 0}
	for _, e := range es {
		if _, ok := rank[e.File]; !ok {
			rank[e.File] = len(rank)
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if rank[a.File] != rank[b.File] {
			return rank[a.File] < rank[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
