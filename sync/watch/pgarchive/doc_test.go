package pgarchive

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

const docPath = "../../../firmware-docs/WATCH-ARCHIVE.md"

// docSchema reads the relations of WATCH-ARCHIVE.md: under each heading
// "### `a`, `b`" the table of | `column` | `type` | meaning | rows. It
// also returns the doc's SQL examples.
func docSchema(t *testing.T) (rels map[string][]string, examples []string) {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rels = map[string][]string{}
	name := regexp.MustCompile("`([a-z_0-9]+)`")
	row := regexp.MustCompile("^\\| `([a-z_0-9]+)` \\| `([^`]+)` \\|")
	var current []string
	var sql *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case sql != nil && l == "```":
			examples = append(examples, sql.String())
			sql = nil
		case sql != nil:
			sql.WriteString(l + "\n")
		case l == "```sql":
			sql = &strings.Builder{}
		case strings.HasPrefix(l, "#"):
			current = nil
			if strings.HasPrefix(l, "### ") {
				for _, m := range name.FindAllStringSubmatch(l, -1) {
					current = append(current, m[1])
				}
			}
		default:
			if m := row.FindStringSubmatch(l); m != nil {
				for _, r := range current {
					rels[r] = append(rels[r], m[1]+" "+m[2])
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rels, examples
}

// dbSchema reads the tables and views of the connection's schema: each
// column's name and type, in order.
func dbSchema(t *testing.T, c *pgx.Conn) map[string][]string {
	t.Helper()
	rows, err := c.Query(context.Background(), `
SELECT c.relname, a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum`)
	if err != nil {
		t.Fatal(err)
	}
	rels := map[string][]string{}
	var rel, col string
	_, err = pgx.ForEachRow(rows, []any{&rel, &col}, func() error {
		rels[rel] = append(rels[rel], col)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rels
}

// The schema WATCH-ARCHIVE.md specifies is the one the migrations make,
// table for table and column for column; its example queries run; the
// view event_states gives each event the state watch.Progress.State does.
func TestSchemaDoc(t *testing.T) {
	s := postgres.Start(t)
	dsn := s.NewDatabase(t)
	a := open(t, dsn)
	c := connect(t, dsn)

	doc, examples := docSchema(t)
	db := dbSchema(t, c)
	if len(doc) < 10 || len(examples) < 3 {
		t.Fatalf("read %d relations and %d examples from %s", len(doc), len(examples), docPath)
	}
	for _, rel := range slices.Sorted(func(yield func(string) bool) {
		for r := range db {
			yield(r)
		}
		for r := range doc {
			if _, ok := db[r]; !ok {
				yield(r)
			}
		}
	}) {
		if !slices.Equal(doc[rel], db[rel]) {
			t.Errorf("%s:\n  WATCH-ARCHIVE.md: %q\n  database:         %q", rel, doc[rel], db[rel])
		}
	}

	// An origin with every state, and one with events only.
	ctx := context.Background()
	d, err := event.ParseAddress("0x2b5ad5c4795c026514f8317c7a215e218dccd6cf")
	if err != nil {
		t.Fatal(err)
	}
	other := event.Address{0x01}
	for s := range uint64(9) {
		for _, dev := range []event.Address{d, other} {
			if _, err := a.PutEvent(ctx, watch.Key{Device: dev, Epoch: 0, Seq: s}, fmt.Appendf(nil, "leaf %d", s)); err != nil {
				t.Fatal(err)
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.PutCheckpoint(ctx, d, 0, 7, []byte("cp7")))
	must(a.RaiseAnchored(ctx, d, 0, 5))
	must(a.PutCosigned(ctx, d, 0, 3, []byte("co3")))
	if _, err := a.PutAlarm(ctx, watch.Alarm{Device: d, Reason: watch.ReasonEquivocation, Detail: "two events"}); err != nil {
		t.Fatal(err)
	}
	for i, q := range examples {
		rows, err := c.Query(ctx, q)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			t.Errorf("example %d of WATCH-ARCHIVE.md: %v\n%s", i+1, err, q)
		}
	}

	for _, dev := range []event.Address{d, other} {
		p, err := a.Progress(ctx, dev, 0)
		must(err)
		rows, err := c.Query(ctx, "SELECT address, seq, state FROM event_states WHERE device = $1 AND epoch = 0 ORDER BY seq", dev[:])
		must(err)
		var got []string
		var addr, state string
		var seq uint64
		_, err = pgx.ForEachRow(rows, []any{&addr, &seq, &state}, func() error {
			if addr != dev.String() {
				t.Errorf("event_states address %s, want %s", addr, dev)
			}
			if want := p.State(seq); state != string(want) {
				t.Errorf("event_states: %s/0/%d is %s, Progress %+v gives %s", dev, seq, state, p, want)
			}
			got = append(got, state)
			return nil
		})
		must(err)
		if len(got) != 9 {
			t.Fatalf("event_states has %d events of %s, want 9", len(got), dev)
		}
	}
	var states []string
	rows, err := c.Query(ctx, "SELECT DISTINCT state FROM event_states ORDER BY state")
	must(err)
	states, err = pgx.CollectRows(rows, pgx.RowTo[string])
	must(err)
	if want := []string{"anchored", "checkpointed", "verified", "witnessed"}; !slices.Equal(states, want) {
		t.Fatalf("event_states gives states %v, want %v", states, want)
	}
}
