package watchconfig

import (
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem found in a watcher configuration.
type FieldError struct {
	File   string // the configuration file, as named to Load or Parse
	Line   int    // 1-based line; 0 when the problem concerns the whole file
	Column int    // 1-based column; 0 when unknown
	Field  string // path of the field, e.g. "operators[0].devices[2].note_key"; "" for the document
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

// Errors is every problem found in a configuration, by line and column.
// Parse, Load and Check return it when the configuration is invalid.
type Errors []*FieldError

// Error prints one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}

// suggest returns ` (did you mean "x"?)` for the option within a typo or
// two of s, and "" when there is none.
func suggest(s string, options []string) string {
	if best := closest(s, options); best != "" {
		return " (did you mean " + strconv.Quote(best) + "?)"
	}
	return ""
}

// closest returns the option closest to s within two edits (one for
// options of three or four letters, none for shorter ones), or "".
func closest(s string, options []string) string {
	best, bestD := "", 3
	for _, o := range options {
		if len(o) < 3 {
			continue
		}
		limit := 2
		if len(o) <= 4 {
			limit = 1
		}
		if d := distance(s, o); d <= limit && d < bestD {
			best, bestD = o, d
		}
	}
	return best
}

// distance is the optimal string alignment distance of a and b
// (insertions, deletions, substitutions and adjacent transpositions);
// inputs longer than 64 bytes are far from everything.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
