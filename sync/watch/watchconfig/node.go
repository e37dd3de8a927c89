package watchconfig

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads typed values out of the YAML node tree; every problem
// is reported at its node's line and column, under its field path.

// bad marks a node already reported, which readers then skip, so that one
// mistake makes one error.
const bad yaml.Kind = 0

// parser collects the problems of one configuration.
type parser struct {
	file   string // as named to Parse
	dir    string // relative paths resolve against it
	errs   Errors
	inputs []input
}

// input is a file the configuration names for the watcher to read.
type input struct {
	field        string
	path         string
	line, column int
}

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &FieldError{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// check reports, once, what the schema never uses: aliases (which may make
// the tree cyclic), merge keys and tags other than YAML's core ones.
func (p *parser) check(n *yaml.Node) {
	switch n.Kind {
	case yaml.AliasNode:
		p.errorf(n, "", "aliases (*%s) are not supported: write the value out", n.Value)
		n.Kind, n.Alias, n.Content = bad, nil, nil
		return
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp":
		case "!!merge":
			p.errorf(n, "", "merge keys (<<) are not supported: write the fields out")
			n.Kind = bad
		default:
			p.errorf(n, "", "the tag %s is not supported", n.Tag)
			n.Kind = bad
		}
		return
	case yaml.MappingNode, yaml.SequenceNode:
		if t := n.ShortTag(); t != "!!map" && t != "!!seq" {
			p.errorf(n, "", "the tag %s is not supported", n.Tag)
			n.Kind, n.Content = bad, nil
			return
		}
	}
	for _, c := range n.Content {
		p.check(c)
	}
}

// describe names a node's kind and value for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if r := []rune(v); len(r) > 40 {
			v = string(r[:40]) + "…"
		}
		switch n.ShortTag() {
		case "!!str":
			return "the string " + strconv.Quote(v)
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return "the boolean " + v
		case "!!null":
			return "no value"
		}
		return strconv.Quote(v)
	}
	return "an unreadable value"
}

// fields is a mapping whose keys were checked against the schema.
type fields struct {
	p    *parser
	n    *yaml.Node // nil when the node was not a mapping: every field reads as absent
	path string
	vals map[string]*yaml.Node
	// quiet: a missing field is not reported, because a misspelt key that
	// may stand for it was.
	quiet map[string]bool
}

// mapping checks that n is a mapping of distinct keys among allowed.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string) *fields {
	f := &fields{p: p, path: path, vals: map[string]*yaml.Node{}, quiet: map[string]bool{}}
	if n == nil || n.Kind == bad {
		return f
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return f
	}
	f.n = n
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == bad:
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			p.errorf(k, path, "field names are words, not %s", describe(k))
		case keys[k.Value] != nil:
			p.errorf(k, path, "field %q appears twice (first on line %d)", k.Value, keys[k.Value].Line)
		case !slices.Contains(allowed, k.Value):
			s := suggest(k.Value, allowed)
			if s != "" {
				f.quiet[closest(k.Value, allowed)] = true
			}
			p.errorf(k, path, "unknown field %q%s; the fields here are %s", k.Value, s, orList(allowed))
		default:
			keys[k.Value] = k
			f.vals[k.Value] = v
		}
	}
	return f
}

func (f *fields) has(key string) bool { return f.vals[key] != nil }

// get returns the field's value node and path; nil when it is absent (a
// required absent field is reported), null or already reported.
func (f *fields) get(key string, required bool) (*yaml.Node, string) {
	path := join(f.path, key)
	v := f.vals[key]
	switch {
	case v == nil:
		if required && f.n != nil && !f.quiet[key] {
			f.p.errorf(f.n, path, "missing required field")
		}
		return nil, path
	case v.Kind == bad:
		return nil, path
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		f.p.errorf(v, path, "has no value")
		return nil, path
	}
	return v, path
}

// scalar reports whether n is a scalar of one of the tags.
func (p *parser) scalar(n *yaml.Node, path, want string, tags ...string) bool {
	if n.Kind == yaml.ScalarNode && slices.Contains(tags, n.ShortTag()) {
		return true
	}
	hint := ""
	if want == "a string" && n.Kind == yaml.ScalarNode {
		hint = fmt.Sprintf(" (quote it: %q)", n.Value)
	}
	p.errorf(n, path, "want %s, got %s%s", want, describe(n), hint)
	return false
}

// str reads a non-empty string field. ok is false when the field was
// reported; an absent optional field is "", true.
func (f *fields) str(key string, required bool) (s string, n *yaml.Node, ok bool) {
	n, path := f.get(key, required)
	if n == nil {
		return "", nil, !required && !f.has(key)
	}
	if !f.p.scalar(n, path, "a string", "!!str") {
		return "", n, false
	}
	if strings.TrimSpace(n.Value) == "" {
		f.p.errorf(n, path, "must not be empty")
		return "", n, false
	}
	return n.Value, n, true
}

// text reads a field written as text whatever YAML makes of it: an
// address 0x… that YAML reads as an integer, a key, a URL.
func (f *fields) text(key string, required bool) (string, *yaml.Node) {
	n, path := f.get(key, required)
	if n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		f.p.errorf(n, path, "want text, got %s", describe(n))
		return "", nil
	}
	return n.Value, n
}

// file reads a path field, resolved against the configuration's directory.
// The path is noted for Check when the watcher reads the file (read).
func (f *fields) file(key string, required, read bool) string {
	s, n, ok := f.str(key, required)
	if !ok || s == "" {
		return ""
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(f.p.dir, s)
	}
	if read {
		f.p.inputs = append(f.p.inputs, input{field: join(f.path, key), path: s, line: n.Line, column: n.Column})
	}
	return s
}

// uint reads an unsigned integer field in [lo, hi]; def when absent.
func (f *fields) uint(key string, required bool, def, lo, hi uint64) (uint64, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	if !f.p.scalar(n, path, "an integer", "!!int") {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v < lo || v > hi {
		f.p.errorf(n, path, "%s is out of range %d..%d", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// boolean reads a true/false field; false when absent.
func (f *fields) boolean(key string) bool {
	n, path := f.get(key, false)
	if n == nil || !f.p.scalar(n, path, "true or false", "!!bool") {
		return false
	}
	var b bool
	return n.Decode(&b) == nil && b
}

// dur reads a duration field ("500ms", "30s", "5m") in [lo, hi]; def when
// absent.
func (f *fields) dur(key string, def, lo, hi time.Duration) time.Duration {
	n, path := f.get(key, false)
	if n == nil {
		return def
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		f.p.errorf(n, path, "want a duration like 30s, got the number %s (add a unit: ms, s, m or h)", n.Value)
		return def
	}
	if !f.p.scalar(n, path, "a duration like 30s", "!!str") {
		return def
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		f.p.errorf(n, path, "%q is not a duration (write it like 500ms, 30s or 5m)", n.Value)
		return def
	}
	if d < lo || d > hi {
		f.p.errorf(n, path, "%s is out of range %s..%s", n.Value, lo, hi)
		return def
	}
	return d
}

// list returns the items of a list field; an absent or null list is empty.
// A required list that is absent or empty is reported with hint.
func (f *fields) list(key string, required bool, hint string) ([]*yaml.Node, string) {
	path := join(f.path, key)
	n := f.vals[key]
	switch {
	case n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"):
		if required && f.n != nil && !f.quiet[key] {
			at := f.n
			if n != nil {
				at = n
			}
			f.p.errorf(at, path, "missing required field (%s)", hint)
		}
		return nil, path
	case n.Kind == bad:
		return nil, path
	case n.Kind != yaml.SequenceNode:
		f.p.errorf(n, path, "want a list (lines starting with -), got %s", describe(n))
		return nil, path
	case required && len(n.Content) == 0:
		f.p.errorf(n, path, "must not be empty (%s)", hint)
	}
	return n.Content, path
}

// orList formats options as "a, b or c".
func orList(options []string) string {
	switch len(options) {
	case 0:
		return ""
	case 1:
		return options[0]
	}
	return strings.Join(options[:len(options)-1], ", ") + " or " + options[len(options)-1]
}
