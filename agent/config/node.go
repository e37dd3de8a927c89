package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads typed values out of the YAML node tree, reporting every
// problem with the node's line and column.

// badNode marks a node already reported (an alias or an unsupported tag):
// readers skip it silently, so that one mistake makes one error.
const badNode yaml.Kind = 0

// parser collects the problems of one configuration.
type parser struct {
	file     string // the configuration file's name, as given
	dir      string // relative paths in the file resolve against this directory
	readFile func(string) ([]byte, error)
	errs     Errors
	inputs   []input
}

// errorf records a problem at node n of the configuration file.
func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &FieldError{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// join appends key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a field path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// check walks the whole tree once before it is read and reports what the
// schema never uses: aliases (which may also make the tree cyclic), merge
// keys and tags other than YAML's core ones. Reported nodes become badNode.
func (p *parser) check(n *yaml.Node) {
	switch n.Kind {
	case yaml.AliasNode:
		p.errorf(n, "", "aliases (*%s) are not supported: write the value out", n.Value)
		n.Kind, n.Alias, n.Content = badNode, nil, nil
		return
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp":
		case "!!merge":
			p.errorf(n, "", "merge keys (<<) are not supported: write the fields out")
			n.Kind = badNode
		default:
			p.errorf(n, "", "the tag %s is not supported", n.Tag)
			n.Kind = badNode
		}
		return
	case yaml.MappingNode:
		if n.ShortTag() != "!!map" {
			p.errorf(n, "", "the tag %s is not supported", n.Tag)
			n.Kind, n.Content = badNode, nil
			return
		}
	case yaml.SequenceNode:
		if n.ShortTag() != "!!seq" {
			p.errorf(n, "", "the tag %s is not supported", n.Tag)
			n.Kind, n.Content = badNode, nil
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
		if len([]rune(v)) > 40 {
			v = string([]rune(v)[:40]) + "…"
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
		case "!!timestamp":
			return "the date " + v
		}
		return v
	}
	return "an unreadable value"
}

// fields is a mapping whose keys have been checked against the schema.
type fields struct {
	p    *parser
	n    *yaml.Node // the mapping; nil when it was not one (then every field reads as absent)
	path string
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	// Missing fields are not reported when they may be hiding behind a
	// merge key or a misspelt name that was already reported.
	broken    bool
	suggested map[string]bool
}

// mapping checks that n is a mapping whose keys are distinct strings among
// allowed. other, if not nil, explains a key that is not allowed here (for a
// key that belongs to another driver); it returns "" to fall back to the
// generic message with a suggestion.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string, other func(key string) string) *fields {
	f := &fields{p: p, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, suggested: map[string]bool{}}
	if n == nil || n.Kind == badNode {
		return f
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return f
	}
	f.n = n
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == badNode {
			f.broken = true
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			p.errorf(k, path, "field names are words, not %s", describe(k))
			continue
		}
		if prev, dup := f.keys[k.Value]; dup {
			p.errorf(k, path, "field %q appears twice (first on line %d)", k.Value, prev.Line)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			msg := ""
			if other != nil {
				msg = other(k.Value)
			}
			if msg == "" {
				s := suggest(k.Value, allowed)
				msg = fmt.Sprintf("unknown field %q", k.Value) + s
				if s != "" {
					f.suggested[closest(k.Value, allowed)] = true
				}
			}
			p.errorf(k, path, "%s", msg)
			continue
		}
		f.keys[k.Value] = k
		f.vals[k.Value] = v
	}
	return f
}

// has reports whether the field is present.
func (f *fields) has(key string) bool { return f.vals[key] != nil }

// get returns the field's value node and path, or nil when the field is
// absent; a required absent field is reported.
func (f *fields) get(key string, required bool) (*yaml.Node, string) {
	path := join(f.path, key)
	v := f.vals[key]
	if v == nil {
		if required && f.n != nil && !f.broken && !f.suggested[key] {
			f.p.errorf(f.n, path, "missing required field")
		}
		return nil, path
	}
	if v.Kind == badNode {
		return nil, path
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		f.p.errorf(v, path, "has no value")
		return nil, path
	}
	return v, path
}

// scalar reports whether n is a scalar with one of the tags.
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

// str reads a non-empty string field.
func (f *fields) str(key string, required bool) (string, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return "", !required && !f.has(key)
	}
	if !f.p.scalar(n, path, "a string", "!!str") {
		return "", false
	}
	if strings.TrimSpace(n.Value) == "" {
		f.p.errorf(n, path, "must not be empty")
		return "", false
	}
	return n.Value, true
}

// name reads a string field that must be a device, line or bus name: no
// spaces or control characters, at most 64 bytes.
func (f *fields) name(key string, required bool) (string, bool) {
	s, ok := f.str(key, required)
	if !ok || s == "" {
		return s, ok
	}
	if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		n, path := f.get(key, false)
		f.p.errorf(n, path, "%q is not a device, bus or line name (no spaces, at most 64 characters)", s)
		return "", false
	}
	return s, true
}

// oneOf reads a string field that must be one of options; def is the value
// when it is absent.
func (f *fields) oneOf(key string, required bool, def string, options ...string) (string, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	if !f.p.scalar(n, path, "one of "+orList(options), "!!str") {
		return "", false
	}
	if !slices.Contains(options, n.Value) {
		f.p.errorf(n, path, "%q is not %s%s", n.Value, orList(options), suggest(n.Value, options))
		return "", false
	}
	return n.Value, true
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

// intNode reads n as an integer in [min, max].
func (p *parser) intNode(n *yaml.Node, path string, min, max int64) (int64, bool) {
	if !p.scalar(n, path, "an integer", "!!int") {
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < min || v > max {
		p.errorf(n, path, "%s is out of range %d..%d", n.Value, min, max)
		return 0, false
	}
	return v, true
}

// int reads an integer field in [min, max]; def is the value when absent.
func (f *fields) int(key string, required bool, def, min, max int64) (int64, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	return f.p.intNode(n, path, min, max)
}

// intOneOf reads an integer field that must be one of options.
func (f *fields) intOneOf(key string, required bool, def int64, options ...int64) (int64, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	if !f.p.scalar(n, path, "an integer", "!!int") {
		return 0, false
	}
	var v int64
	err := n.Decode(&v)
	for _, o := range options {
		if err == nil && v == o {
			return v, true
		}
	}
	s := make([]string, len(options))
	for i, o := range options {
		s[i] = strconv.FormatInt(o, 10)
	}
	f.p.errorf(n, path, "%s is not %s", n.Value, orList(s))
	return 0, false
}

// floatNode reads n as a finite number.
func (p *parser) floatNode(n *yaml.Node, path string) (float64, bool) {
	if !p.scalar(n, path, "a number", "!!int", "!!float") {
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.errorf(n, path, "%s is not a finite number", n.Value)
		return 0, false
	}
	return v, true
}

// float reads a number field in [min, max]; def is the value when absent.
func (f *fields) float(key string, required bool, def, min, max float64) (float64, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	v, ok := f.p.floatNode(n, path)
	if !ok {
		return 0, false
	}
	if v < min || v > max {
		f.p.errorf(n, path, "%s is out of range %s..%s", n.Value, fmtFloat(min), fmtFloat(max))
		return 0, false
	}
	return v, true
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// dur reads a duration field in Go syntax ("500ms", "30s", "5m", "1h30m")
// within [min, max]; def is the value when absent.
func (f *fields) dur(key string, required bool, def, min, max time.Duration) (time.Duration, bool) {
	n, path := f.get(key, required)
	if n == nil {
		return def, !required && !f.has(key)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Value == "0" {
		return 0, f.p.durRange(n, path, 0, min, max)
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		f.p.errorf(n, path, "want a duration like 30s, got the number %s (add a unit: ms, s, m or h)", n.Value)
		return 0, false
	}
	if !f.p.scalar(n, path, "a duration like 30s", "!!str") {
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		f.p.errorf(n, path, "%q is not a duration (write it like 500ms, 30s, 5m or 1h30m)", n.Value)
		return 0, false
	}
	return d, f.p.durRange(n, path, d, min, max)
}

func (p *parser) durRange(n *yaml.Node, path string, d, min, max time.Duration) bool {
	if d < min || d > max {
		p.errorf(n, path, "%s is out of range %s..%s", n.Value, fmtDur(min), fmtDur(max))
		return false
	}
	return true
}

// fmtDur formats a duration without zero trailing units: 24h, 5m, 1m30s, 50ms.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// list returns the items of a list field; a null or absent list is empty.
func (f *fields) list(key string) ([]*yaml.Node, string) {
	path := join(f.path, key)
	n := f.vals[key]
	if n == nil || n.Kind == badNode || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil, path
	}
	if n.Kind != yaml.SequenceNode {
		f.p.errorf(n, path, "want a list (lines starting with -), got %s", describe(n))
		return nil, path
	}
	return n.Content, path
}
