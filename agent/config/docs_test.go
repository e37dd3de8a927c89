package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The documentation's configuration examples are checked against the
// schema: every ```yaml block of firmware-docs/wiring/*.md and
// firmware-docs/*.md, and every indented configuration example in a
// drivers/*/doc.go comment. A reader copies them into a device's file, so
// each must be what Parse accepts.

// snippetKind says how a snippet stands for a configuration.
type snippetKind int

const (
	kindOther    snippetKind = iota // not a configuration example
	kindConfig                      // a complete file: it has version:
	kindFragment                    // top-level sections (sensors:, rules:, ...) without version:
	kindEntries                     // list entries to go under sensors: (- name: ...)
)

func (k snippetKind) String() string {
	return [...]string{"other", "config", "fragment", "entries"}[k]
}

// docSnippet is one YAML example found in the documentation.
type docSnippet struct {
	file string      // the file, as globbed (relative to this package)
	line int         // line in file of the snippet's first line, from 1
	col  int         // characters stripped from the start of each line (fence indentation, "//\t")
	text string      // the snippet, indented as in a configuration file
	kind snippetKind // what it stands for
}

var (
	fenceOpen  = regexp.MustCompile("^( *)(```+)[ \t]*([^` \t]*)")
	topKey     = regexp.MustCompile(`^(` + strings.Join(topKeys[1:], "|") + `):(\s|$)`) // every section but version
	versionKey = regexp.MustCompile(`(?m)^version:`)
	deviceKey  = regexp.MustCompile(`(?m)^device:`)
)

// markdownSnippets returns the ```yaml (or ```yml) fenced blocks of a
// Markdown file. A block that is not a configuration example is returned
// with kindOther, for the caller to refuse.
func markdownSnippets(file string, data []byte) ([]docSnippet, error) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var out []docSnippet
	for i := 0; i < len(lines); i++ {
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence, lang := len(m[1]), m[2], strings.ToLower(m[3])
		start := i + 1
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, fence) && strings.Trim(t, "` \t") == "" {
				closed = true
				break
			}
			n := 0
			for n < indent && n < len(l) && l[n] == ' ' {
				n++
			}
			body = append(body, l[n:])
		}
		if !closed {
			return out, fmt.Errorf("%s:%d: the %s fence is never closed", file, start, fence)
		}
		if lang != "yaml" && lang != "yml" {
			continue
		}
		out = append(out, newSnippet(file, start+1, indent, body))
	}
	return out, nil
}

// goDocSnippets returns the configuration examples among the code blocks
// of a Go file's comments (lines "//<tab>..."); other code blocks are left
// out.
func goDocSnippets(file string, data []byte) []docSnippet {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var out []docSnippet
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "//\t") {
			continue
		}
		start := i
		var body []string
		for ; i < len(lines); i++ {
			l := lines[i]
			if strings.HasPrefix(l, "//\t") {
				body = append(body, l[3:])
			} else if strings.TrimSpace(l) == "//" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "//\t") {
				body = append(body, "") // a blank line inside the block
			} else {
				break
			}
		}
		if s := newSnippet(file, start+1, 3, body); s.kind != kindOther {
			out = append(out, s)
		}
	}
	return out
}

// newSnippet removes the indentation common to the lines of body and
// classifies the result.
func newSnippet(file string, line, col int, body []string) docSnippet {
	common := -1
	for _, l := range body {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); common < 0 || n < common {
			common = n
		}
	}
	if common > 0 {
		for i, l := range body {
			if len(l) >= common {
				body[i] = l[common:]
			} else {
				body[i] = ""
			}
		}
		col += common
	}
	s := docSnippet{file: file, line: line, col: col, text: strings.Join(body, "\n") + "\n"}
	first := ""
	for _, l := range body {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			first = l
			break
		}
	}
	switch {
	case versionKey.MatchString(s.text):
		s.kind = kindConfig
	case strings.HasPrefix(first, "- name:"):
		s.kind = kindEntries
	case topKey.MatchString(first):
		s.kind = kindFragment
	}
	return s
}

// wrapDevice is the device section of the minimal configuration a
// fragment or sensor entry is embedded into.
const wrapDevice = `device:
  type: gateway
  fleet: docs-test
  chain_id: 1337
  data: /var/lib/waybill/log
  key: /var/lib/waybill/device.key
`

// wrap returns the configuration file s stands for, how many lines were
// put before it and how many columns each of its lines was moved right.
func wrap(s docSnippet) (doc string, header, shift int) {
	var head string
	switch s.kind {
	case kindConfig:
		return s.text, 0, 0
	case kindFragment:
		head = "version: 1\n"
		if !deviceKey.MatchString(s.text) {
			head += wrapDevice
		}
		return head + s.text, strings.Count(head, "\n"), 0
	case kindEntries:
		head = "version: 1\n" + wrapDevice + "sensors:\n"
		lines := strings.SplitAfter(s.text, "\n")
		for i, l := range lines {
			if strings.TrimSpace(l) != "" {
				lines[i] = "  " + l
			}
		}
		return head + strings.Join(lines, ""), strings.Count(head, "\n"), 2
	}
	panic(fmt.Sprintf("wrap: snippet of kind %v", s.kind))
}

// checkSnippet parses the configuration s stands for and returns its
// problems, each placed at its line and column in the documentation file.
func checkSnippet(s docSnippet) []string {
	if s.kind == kindOther {
		return []string{fmt.Sprintf("%s:%d: a yaml block that is neither a configuration (version:), top-level sections (sensors:, rules:, ...) nor sensor entries (- name:)", docName(s.file), s.line)}
	}
	doc, header, shift := wrap(s)
	_, err := Parse(s.file, []byte(doc), nil)
	if err == nil {
		return nil
	}
	var es Errors
	if !errors.As(err, &es) {
		return []string{fmt.Sprintf("%s:%d: %v", docName(s.file), s.line, err)}
	}
	var out []string
	for _, e := range es {
		if e.File != s.file { // a GeoJSON file the snippet names
			out = append(out, e.Error())
			continue
		}
		line, where := s.line, ""
		switch {
		case e.Line > header:
			line = s.line + e.Line - header - 1
			if e.Column > shift {
				where = fmt.Sprintf(":%d", e.Column-shift+s.col)
			}
		case e.Line > 0:
			where = " (in the configuration the test wraps around the snippet)"
		}
		field := ""
		if e.Field != "" {
			field = e.Field + ": "
		}
		out = append(out, fmt.Sprintf("%s:%d%s: %s%s", docName(s.file), line, where, field, e.Msg))
	}
	return out
}

// docName is a file's name from the top of the repository.
func docName(file string) string {
	return strings.TrimPrefix(filepath.ToSlash(file), "../../")
}

// docSnippets reads every configuration example of the documentation.
func docSnippets(t *testing.T) (snippets []docSnippet, perFile map[string]int) {
	t.Helper()
	perFile = make(map[string]int)
	var md []string
	for _, pattern := range []string{"../../firmware-docs/wiring/*.md", "../../firmware-docs/*.md"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		md = append(md, files...)
	}
	goDocs, err := filepath.Glob("../../drivers/*/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(md, goDocs...) {
		if filepath.Base(f) == "WATCH-CONFIG.md" {
			// The feed watcher's configuration, not a device's: its
			// examples are checked by sync/watch/watchconfig.
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ss []docSnippet
		if strings.HasSuffix(f, ".md") {
			if ss, err = markdownSnippets(f, data); err != nil {
				t.Error(err)
			}
		} else {
			ss = goDocSnippets(f, data)
		}
		perFile[f] = len(ss)
		snippets = append(snippets, ss...)
	}
	return snippets, perFile
}

// TestParse_DocSnippets parses every configuration example of the
// documentation: complete files as they are, top-level sections and sensor
// entries inside a minimal valid configuration. Every wiring page must
// have one.
func TestParse_DocSnippets(t *testing.T) {
	snippets, perFile := docSnippets(t)
	if _, err := os.Stat("../../firmware-docs/CONFIG.md"); err != nil {
		t.Fatalf("the documentation is not where the test looks: %v", err)
	}
	for f, n := range perFile {
		if strings.Contains(filepath.ToSlash(f), "/wiring/") && n == 0 {
			t.Errorf("%s: no ```yaml configuration example", docName(f))
		}
	}
	for _, s := range snippets {
		if problems := checkSnippet(s); len(problems) > 0 {
			t.Errorf("%s:%d: the %s example is not a valid configuration:\n\t%s", docName(s.file), s.line, s.kind, strings.Join(problems, "\n\t"))
		} else {
			t.Logf("%s:%d: %s ok", docName(s.file), s.line, s.kind)
		}
	}
}

// TestDocSnippets_Markdown checks the extraction of fenced blocks.
func TestDocSnippets_Markdown(t *testing.T) {
	tests := []struct {
		name, md string
		want     []docSnippet
		err      string
	}{
		{
			name: "fragment",
			md:   "# Page\n\n```yaml\nsensors:\n  - name: a\n```\n",
			want: []docSnippet{{line: 4, text: "sensors:\n  - name: a\n", kind: kindFragment}},
		},
		{
			name: "yml entries after other fences",
			md:   "```\n$ waybill\n```\n\n```sh\nls\n```\n```yml\n# a comment\n- name: a\n  driver: door\n```\n",
			want: []docSnippet{{line: 9, text: "# a comment\n- name: a\n  driver: door\n", kind: kindEntries}},
		},
		{
			name: "indented fence in a list",
			md:   "1. Write\n\n   ```yaml\n   version: 1\n     # deeper\n   device: {}\n   ```\n",
			want: []docSnippet{{line: 4, col: 3, text: "version: 1\n  # deeper\ndevice: {}\n", kind: kindConfig}},
		},
		{
			name: "common indentation removed",
			md:   "```yaml\n  - name: a\n    driver: door\n```\n",
			want: []docSnippet{{line: 2, col: 2, text: "- name: a\n  driver: door\n", kind: kindEntries}},
		},
		{
			name: "longer fence",
			md:   "````yaml\nrules:\n```\nnot the end\n````\n",
			want: []docSnippet{{line: 2, text: "rules:\n```\nnot the end\n", kind: kindFragment}},
		},
		{
			name: "not a configuration",
			md:   "```yaml\nfoo\n```\n",
			want: []docSnippet{{line: 2, text: "foo\n", kind: kindOther}},
		},
		{
			name: "unclosed",
			md:   "text\n```yaml\nsensors:\n",
			err:  "x.md:2: the ``` fence is never closed",
		},
	}
	for _, tt := range tests {
		got, err := markdownSnippets("x.md", []byte(tt.md))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: markdownSnippets error = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: markdownSnippets: %v", tt.name, err)
			continue
		}
		for i := range tt.want {
			tt.want[i].file = "x.md"
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: markdownSnippets =\n%+v\nwant\n%+v", tt.name, got, tt.want)
		}
	}
}

// TestDocSnippets_GoDoc checks that configuration examples are found in
// doc comments and other code blocks are not.
func TestDocSnippets_GoDoc(t *testing.T) {
	src := "// Package p.\n//\n//\t$GPGGA,1*00\n//\n// Configure it as\n//\n//\tsensors:\n//\t  - name: gnss\n//\n//\t    interval: 1s\n//\n// Done.\npackage p\n"
	got := goDocSnippets("doc.go", []byte(src))
	want := []docSnippet{{file: "doc.go", line: 7, col: 3, text: "sensors:\n  - name: gnss\n\n    interval: 1s\n", kind: kindFragment}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("goDocSnippets =\n%+v\nwant\n%+v", got, want)
	}
}

// TestDocSnippets_Problems checks that a bad example is reported at its
// place in the documentation file, whatever wrapping it needed.
func TestDocSnippets_Problems(t *testing.T) {
	tests := []struct {
		name string
		s    docSnippet
		want []string
	}{
		{
			name: "entries",
			s:    docSnippet{line: 40, text: "- name: gnss\n  driver: nmea\n  port: /dev/serial0\n  baud: 1234\n  interval: 1s\n", kind: kindEntries},
			want: []string{"w.md:43:9: sensors[0].baud: 1234 is not 4800, 9600, 19200, 38400, 57600 or 115200"},
		},
		{
			name: "fragment in an indented fence",
			s:    docSnippet{line: 10, col: 3, text: "sensors:\n  - name: door\n    driver: door\n    pin: GPIO17\n    interval: 1s\n    colour: red\n", kind: kindFragment},
			want: []string{`w.md:15:8: sensors[0]: unknown field "colour"`},
		},
		{
			name: "complete",
			s:    docSnippet{line: 5, text: "version: 2\n", kind: kindConfig},
			want: []string{"w.md:5:10: version: version 2 is not supported: this agent reads version 1"},
		},
		{
			name: "good entries",
			s:    docSnippet{line: 5, text: "- name: gnss\n  driver: nmea\n  port: /dev/serial0\n  interval: 1s\n", kind: kindEntries},
		},
		{
			name: "good fragment with rules",
			s:    docSnippet{line: 5, text: "sensors:\n  - name: gnss\n    driver: nmea\n    port: /dev/serial0\n    interval: 1s\nrules:\n  position: {interval: 30s}\n", kind: kindFragment},
		},
		{
			name: "other",
			s:    docSnippet{line: 7, text: "foo\n", kind: kindOther},
			want: []string{"w.md:7: a yaml block that is neither a configuration (version:), top-level sections (sensors:, rules:, ...) nor sensor entries (- name:)"},
		},
	}
	for _, tt := range tests {
		tt.s.file = "w.md"
		got := checkSnippet(tt.s)
		if len(got) != len(tt.want) {
			t.Errorf("%s: checkSnippet = %q, want %q", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: checkSnippet[%d] = %q, want %q", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}
