package watche2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	tdnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/waybill-eu/waybill/testbench/gethdev"
	"github.com/waybill-eu/waybill/testbench/mosquitto"
	"github.com/waybill-eu/waybill/testbench/postgres"
)

const (
	// vans is the number of devices; the last is in a second fleet of a
	// second operator.
	vans = 3
	// speed is the replay's speed: the recorded 55-minute round lasts
	// about 40 seconds, long enough to kill the watcher twice while the
	// devices publish.
	speed = "80"
	// settle bounds each wait for the parts to reach a state: far beyond
	// what they need on a loaded machine, so that reaching it means a
	// part failed to do what it should.
	settle = 4 * time.Minute
	// firstKill and secondKill are how many more events the archive holds
	// before each SIGKILL of the watcher.
	firstKill, secondKill = 40, 100
	// pgKill is how many more events the archive holds before PostgreSQL
	// is killed.
	pgKill = 60
)

// van is one device: its key, data directory, configurations and what it
// logged.
type van struct {
	name, fleet, operator string
	dir, key, data        string
	addr, vkey            string
	replayCfg, settleCfg  string

	replay *proc
	size   int64  // events in its log, from its final checkpoint
	root   string // the final checkpoint's root (base64)
}

// TestWatchEndToEnd runs the city's watcher against devices on real parts,
// kills it twice while they publish, and checks that nothing the devices
// logged is lost or doubled:
//
//  1. Three `waybill run --replay` devices, in two fleets of two
//     operators, replay the recorded van round through Mosquitto and
//     anchor on geth --dev, in the registry that `waybill anchor deploy`
//     deployed. `waybill-watch run` writes to PostgreSQL.
//  2. The watcher is killed with SIGKILL twice while the devices publish
//     and started again each time with the same configuration; then
//     PostgreSQL is killed and restarted: the watcher reports its archive
//     failing on /healthz and is healthy again once it is back.
//  3. Once the devices have anchored their final checkpoints, every event
//     each device's `waybill log show` prints is in the archive exactly
//     once, with the same leaf, in state witnessed (so anchored), and
//     nothing else is: no alarm, rejection or unknown device.
//  4. Every cosigned checkpoint in the archive, the one served over HTTP
//     and the one on the retained MQTT topic open with stock C2SP
//     verifiers (x/mod's note for the device's Ed25519 line,
//     transparency-dev/formats for the tlog-cosignature), each a verified
//     checkpoint with one line added.
//  5. `waybill-watch export` writes a proof bundle per event of a device,
//     each of which `waybill verify` accepts, and JSON Lines equal to the
//     device's own `waybill log show`.
//  6. A second watcher on the same archive, reading every anchor from the
//     ledger again, with every message delivered again to both, adds no
//     row.
func TestWatchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs devices, Mosquitto, geth, PostgreSQL and the watcher")
	}
	began := time.Now()
	ctx := context.Background()
	root := moduleRoot(t)
	bins := t.TempDir()
	waybill := build(t, root, "./agent/cmd/waybill", bins)
	watchBin := build(t, root, "./sync/watch/cmd/waybill-watch", bins)

	node := gethdev.Start(t)
	// As FEED.md §9 asks of the brokers watchers read: no in-flight
	// window, in which Mosquitto would let later messages overtake.
	broker := mosquitto.Start(t, &mosquitto.Config{Extra: []string{"max_inflight_messages 0"}})
	pg := postgres.Start(t)
	dsn := pg.NewDatabase(t)
	arc := openArchive(t, dsn)
	work := t.TempDir()

	// The registry, deployed as an operator would.
	deployer := filepath.Join(work, "deployer.key")
	kj := keygen(t, waybill, deployer, "deployers")
	fund(t, node, kj.Address)
	code, out, errs := run(t, settle, waybill, "anchor", "deploy", "--rpc", node.URL(), "--key", deployer, "--chain-id", "1337", "--json")
	var deployed struct {
		Contract string `json:"contract"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &deployed) != nil || deployed.Contract == "" {
		t.Fatalf("waybill anchor deploy = %d:\n%s\n%s", code, out, errs)
	}
	registry := deployed.Contract

	// The devices.
	vanYAML, err := os.ReadFile(filepath.Join(root, "configs", "van.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	zone, err := os.ReadFile(filepath.Join(root, "configs", "zones", "pentagon.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(root, "testbench", "recordings", "brussels-van.jsonl.gz")
	fleet := []*van{}
	for i := range vans {
		v := &van{name: fmt.Sprintf("van%d", i), fleet: "brussels-north", operator: "north-logistics"}
		if i == vans-1 {
			v.fleet, v.operator = "brussels-south", "south-logistics"
		}
		v.dir = filepath.Join(work, v.name)
		v.key, v.data = filepath.Join(v.dir, "device.key"), filepath.Join(v.dir, "log")
		if err := os.MkdirAll(filepath.Join(v.dir, "zones"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.dir, "zones", "pentagon.geojson"), zone, 0o644); err != nil {
			t.Fatal(err)
		}
		k := keygen(t, waybill, v.key, v.fleet)
		v.addr, v.vkey = k.Address, k.VerifierKey
		fund(t, node, v.addr)
		syncYAML := fmt.Sprintf("feed:\n  brokers: [%s]\nanchor:\n  rpc: %s\n  contract: %q\n  finality: qbft\n  every_events: %%d\n  poll: 1s\n",
			broker.URL(), node.URL(), registry)
		// Replaying: the van's sensors from the recording, anchoring
		// every 20 events.
		v.replayCfg = filepath.Join(v.dir, "van.yaml")
		body := strings.Replace(string(vanYAML), "fleet: brussels-north", "fleet: "+v.fleet, 1) + fmt.Sprintf(syncYAML, 20)
		if err := os.WriteFile(v.replayCfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// Afterwards: no sensors, the feed and the anchoring only, until
		// the final checkpoint is anchored.
		v.settleCfg = filepath.Join(v.dir, "settle.yaml")
		body = fmt.Sprintf("version: 1\ndevice:\n  type: van\n  fleet: %s\n  chain_id: 1337\n  data: log\n  key: device.key\n", v.fleet) + fmt.Sprintf(syncYAML, 1)
		if err := os.WriteFile(v.settleCfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fleet = append(fleet, v)
	}

	// The watcher.
	wdir := filepath.Join(work, "watch")
	if err := os.MkdirAll(wdir, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, settle, watchBin, "keygen", "--name", "witness.brussels.example/waybill", "--out", filepath.Join(wdir, "witness.skey"))
	m := regexp.MustCompile(`(?m)^verifier key: (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("waybill-watch keygen = %d:\n%s\n%s", code, out, errs)
	}
	witnessVKey := m[1]
	if err := os.WriteFile(filepath.Join(wdir, "archive.dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen1, listen2 := freeAddr(t), freeAddr(t)
	cfg1 := writeWatchConfig(t, wdir, "watch-1.yaml", fleet, broker.URL(), node.URL(), registry, "city-watch-1", listen1)
	cfg2 := writeWatchConfig(t, wdir, "watch-2.yaml", fleet, broker.URL(), node.URL(), registry, "city-watch-2", listen2)
	w1 := startWatcher(t, watchBin, "watcher 1", cfg1, listen1)

	// A second consumer of the feed keeps every message, to deliver them
	// all again at the end.
	recorder := record(t, broker.URL())

	// The devices replay.
	for _, v := range fleet {
		v.replay = start(t, v.name+" replay", waybill, "run", "--config", v.replayCfg, "--data", v.data, "--key", v.key,
			"--replay", rec, "--speed", speed)
	}
	replays := func() (n int) {
		for _, v := range fleet {
			if v.replay.running() {
				n++
			}
		}
		return n
	}

	// Killed twice while the devices publish, and started again.
	// The second kill comes once the watcher has archived anchors too.
	var killedAt []int64
	for i, k := range []struct{ events, anchors int64 }{{firstKill, 0}, {secondKill, 1}} {
		from := max(arc.count(ctx, "events"), 0)
		waitFor(t, settle, fmt.Sprintf("watcher 1 archives %d more events and %d anchors before kill %d", k.events, k.anchors, i+1), func() (bool, string) {
			n, a := arc.count(ctx, "events"), arc.count(ctx, "anchors")
			return n >= from+k.events && a >= k.anchors, fmt.Sprintf("%d events and %d anchors archived", n, a)
		}, w1)
		n := arc.count(ctx, "events")
		if replays() == 0 {
			t.Fatalf("every replay had ended before kill %d (%d events archived): the watcher was not killed mid-stream", i+1, n)
		}
		w1.kill(t)
		killedAt = append(killedAt, n)
		t.Logf("watcher killed (SIGKILL) with %d events archived, %d devices still replaying", n, replays())
		w1 = startWatcher(t, watchBin, fmt.Sprintf("watcher 1 (restart %d)", i+1), cfg1, listen1)
	}

	// Then PostgreSQL crashes while the devices publish: the watcher says
	// so on /healthz, leaves what it could not archive to the broker, and
	// goes on once the database is back.
	from := arc.count(ctx, "events")
	waitFor(t, settle, fmt.Sprintf("watcher 1 archives %d more events before PostgreSQL is killed", pgKill), func() (bool, string) {
		n := arc.count(ctx, "events")
		return n >= from+pgKill, fmt.Sprintf("%d events archived", n)
	}, w1)
	dbKilledAt := arc.count(ctx, "events")
	if replays() == 0 {
		t.Fatalf("every replay had ended before PostgreSQL was killed (%d events archived)", dbKilledAt)
	}
	pg.Kill()
	t.Logf("PostgreSQL killed (SIGKILL) with %d events archived, %d devices still replaying", dbKilledAt, replays())
	waitFor(t, settle, "watcher 1 reports its archive failing on /healthz", func() (bool, string) {
		code, body, err := httpGet("http://" + listen1 + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		return code == 503 && strings.Contains(string(body), "archive"), fmt.Sprintf("%d %s", code, body)
	}, w1)
	pg.Restart()
	arc.db.Reset()
	waitFor(t, settle, "watcher 1 reports itself healthy again once PostgreSQL is back", func() (bool, string) {
		code, body, err := httpGet("http://" + listen1 + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		return code == 200, fmt.Sprintf("%d %s", code, body)
	}, w1)

	// Each replay ends; then the device, without sensors, anchors its
	// final checkpoint and stops.
	for _, v := range fleet {
		v.replay.wait(t, settle)
		out := v.replay.out.String()
		_, cp, ok := strings.Cut(out, "final checkpoint:\n")
		lines := strings.Split(cp, "\n")
		if !ok || len(lines) < 3 {
			t.Fatalf("%s printed no final checkpoint:\n%s", v.name, tail(out, 40))
		}
		if v.size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || v.size == 0 {
			t.Fatalf("%s: final checkpoint size %q", v.name, lines[1])
		}
		v.root = lines[2]
	}
	for _, v := range fleet {
		p := start(t, v.name+" settle", waybill, "run", "--config", v.settleCfg)
		waitFor(t, settle, v.name+" anchors its final checkpoint", func() (bool, string) {
			code, out, _ := run(t, time.Minute, waybill, "anchor", "status", "--data", v.data, "--json")
			var st struct {
				Last *struct {
					Size int64 `json:"size"`
				} `json:"last"`
				InFlight json.RawMessage `json:"in_flight"`
				Queued   json.RawMessage `json:"queued"`
				Live     *struct {
					LogSize int64 `json:"log_size"`
				} `json:"live"`
			}
			ok := code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Last != nil && st.Live != nil &&
				st.Last.Size == st.Live.LogSize && st.Live.LogSize == v.size && string(st.InFlight) == "null" && string(st.Queued) == "null"
			return ok, out
		}, p)
		p.stop(t, settle)
	}
	total := int64(0)
	for _, v := range fleet {
		total += v.size
	}
	for i, n := range append(killedAt, dbKilledAt) {
		if n >= total {
			t.Fatalf("kill %d came with all %d events archived: not mid-stream", i+1, total)
		}
	}

	// Every event ends witnessed (so anchored), exactly once.
	waitFor(t, settle, "every event of every device witnessed in the archive", func() (bool, string) {
		or, err := arc.origins(ctx)
		if err != nil {
			return false, err.Error()
		}
		var saw []string
		done := true
		for _, v := range fleet {
			o := or[v.addr]
			if o.Events != v.size || o.Checkpointed < v.size || o.Anchored < v.size || o.Cosigned < v.size {
				done = false
			}
			s := fmt.Sprintf("%s (%d events logged): %v", v.name, v.size, o)
			if miss, err := arc.missing(ctx, v.addr, v.size); err != nil || len(miss) > 0 {
				s += fmt.Sprintf(", missing %v %v", miss, err)
			}
			saw = append(saw, s)
		}
		m, err := scrape("http://" + listen1 + "/metrics")
		if err != nil {
			return done, err.Error()
		}
		var verdicts []string
		for _, x := range m {
			if x.name == metricVerdicts {
				verdicts = append(verdicts, fmt.Sprintf("%s/%s%s %v", x.labels["channel"], x.labels["state"], x.labels["reason"], x.value))
			}
		}
		return done, fmt.Sprintf("%s; watcher 1's verdicts since its start: %v", strings.Join(saw, "; "), verdicts)
	}, w1)
	anchors := 0
	for _, v := range fleet {
		anchors += checkDevice(t, ctx, arc, waybill, v)
	}
	if n := arc.count(ctx, "events"); n != total {
		t.Errorf("the archive holds %d events; the devices logged %d", n, total)
	}
	if p, err := arc.problems(ctx); err != nil || len(p) > 0 {
		t.Errorf("the archive holds alarms, rejected or unknown records (%v):\n%s", err, strings.Join(p, "\n"))
	}

	// The cosigned checkpoints open with stock verifiers.
	wit, err := tdnote.NewVerifierForCosignatureV1(witnessVKey)
	if err != nil {
		t.Fatalf("formats note.NewVerifierForCosignatureV1(%s): %v", witnessVKey, err)
	}
	cosigned := 0
	for _, v := range fleet {
		cosigned += checkCosigned(t, ctx, arc, v, wit, listen1)
	}
	// The newest of each device is on its retained topic (WATCH.md §7.1).
	published := latest(t, broker.URL(), "waybill/witness/v1/#")
	waitFor(t, settle, "the final cosigned checkpoint of every device on its retained MQTT topic", func() (bool, string) {
		got := published()
		var saw []string
		for _, v := range fleet {
			topic := fmt.Sprintf("waybill/witness/v1/%08x/%s/%s/0", wit.KeyHash(), v.fleet, v.addr)
			msg, ok := got[topic]
			if !ok {
				saw = append(saw, v.name+": nothing on "+topic)
				continue
			}
			size, root, err := stockOpen(v, wit, msg)
			if err != nil {
				t.Fatalf("%s: the cosigned checkpoint on %s: %v\n%s", v.name, topic, err, msg)
			}
			if size != v.size || root != v.root {
				saw = append(saw, fmt.Sprintf("%s: size %d on %s", v.name, size, topic))
			}
		}
		return len(saw) == 0, fmt.Sprintf("%v; topics %v", saw, slices.Sorted(maps.Keys(got)))
	}, w1)

	// Proof bundles of one device, each verified by the device binary.
	checkExport(t, waybill, watchBin, cfg1, fleet[0], node.URL(), registry)

	// A second watcher on the same archive, which reads every anchor from
	// the ledger again; every message delivered again to both.
	before, err := arc.counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	beforeOrigins, err := arc.origins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w2 := startWatcher(t, watchBin, "watcher 2", cfg2, listen2)
	waitFor(t, settle, fmt.Sprintf("watcher 2 reads the %d anchors from the ledger", anchors), func() (bool, string) {
		m, err := scrape("http://" + listen2 + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		n := m.sum(metricVerdicts, "channel", "anchors") - m.sum(metricVerdicts, "channel", "anchors", "state", "ignored")
		return n >= float64(anchors), fmt.Sprintf("%v anchor verdicts", n)
	}, w2)
	msgs := recorder.messages()
	events := 0
	for _, m := range msgs {
		if m.channel() == "events" {
			events++
		}
	}
	if int64(events) < total {
		t.Fatalf("the recorder kept %d event messages; the devices logged %d", events, total)
	}
	base1 := verdicts(t, listen1)
	recorder.republish(t, msgs)
	for _, w := range []struct {
		name, listen string
		base         metrics
		p            *proc
	}{{"watcher 1", listen1, base1, w1}, {"watcher 2", listen2, nil, w2}} {
		waitFor(t, settle, fmt.Sprintf("%s judges the %d messages delivered again", w.name, len(msgs)), func() (bool, string) {
			m, err := scrape("http://" + w.listen + "/metrics")
			if err != nil {
				return false, err.Error()
			}
			ev := m.sum(metricVerdicts, "channel", "events") - w.base.sum(metricVerdicts, "channel", "events")
			cp := m.sum(metricVerdicts, "channel", "checkpoints") - w.base.sum(metricVerdicts, "channel", "checkpoints")
			return ev+cp >= float64(len(msgs)), fmt.Sprintf("%v event and %v checkpoint verdicts", ev, cp)
		}, w.p)
	}
	m2, err := scrape("http://" + listen2 + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if all, dup := m2.sum(metricVerdicts, "channel", "events"), m2.sum(metricVerdicts, "channel", "events", "state", "duplicate"); all != dup {
		t.Errorf("watcher 2 judged %v event messages, %v of them duplicates: every one was archived already", all, dup)
	}
	after, err := arc.counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	afterOrigins, err := arc.origins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, after) || !maps.Equal(beforeOrigins, afterOrigins) {
		t.Errorf("a second watcher and every message delivered again changed the archive:\nrows before %v\nrows after  %v\norigins before %v\norigins after  %v",
			before, after, beforeOrigins, afterOrigins)
	}
	w2.stop(t, settle)
	w1.stop(t, settle)
	t.Logf("archive rows: %v", after)

	t.Logf("%d devices, %d events archived once each and witnessed, %d anchors, %d cosigned checkpoints verified by stock verifiers; watcher killed twice (at %v events archived), PostgreSQL once (at %d); a second watcher reading every anchor again and %d messages delivered again to both added no row; %v",
		vans, total, anchors, cosigned, killedAt, dbKilledAt, len(msgs), time.Since(began).Round(time.Second))
}

// metricVerdicts is the watcher's count of judged messages.
const metricVerdicts = "waybill_watch_verdicts_total"

// verdicts scrapes the watcher's metrics.
func verdicts(t *testing.T, listen string) metrics {
	t.Helper()
	m, err := scrape("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// keyJSON is `waybill keygen --json`.
type keyJSON struct {
	Address     string `json:"address"`
	VerifierKey string `json:"verifier_key"`
}

// keygen makes a device key with the device binary.
func keygen(t *testing.T, waybill, path, fleet string) keyJSON {
	t.Helper()
	code, out, errs := run(t, settle, waybill, "keygen", "--key", path, "--fleet", fleet, "--json")
	var k keyJSON
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k.Address == "" {
		t.Fatalf("waybill keygen = %d:\n%s\n%s", code, out, errs)
	}
	return k
}

// fund pays ten ether to addr on the node.
func fund(t *testing.T, node *gethdev.Node, addr string) {
	t.Helper()
	if _, err := node.Fund(context.Background(), common.HexToAddress(addr), new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatalf("fund %s: %v", addr, err)
	}
}

// writeWatchConfig writes a watcher configuration (WATCH-CONFIG.md)
// trusting the devices of fleet, per operator, and returns its path.
func writeWatchConfig(t *testing.T, dir, name string, fleet []*van, broker, rpc, registry, clientID, listen string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("operators:\n")
	for i, v := range fleet {
		if i == 0 || fleet[i-1].operator != v.operator {
			fmt.Fprintf(&b, "  - name: %s\n    devices:\n", v.operator)
		}
		fmt.Fprintf(&b, "      - address: %q\n        fleet: %s\n        chain_id: 1337\n        note_key: %s\n", v.addr, v.fleet, v.vkey)
	}
	fmt.Fprintf(&b, "brokers:\n  - url: %s\n    client_id: %s\n    publish: true\n", broker, clientID)
	b.WriteString("archive:\n  postgres_dsn_file: archive.dsn\n")
	fmt.Fprintf(&b, "ledger:\n  rpc: %s\n  registry: %q\n  chain_id: 1337\n  finality: qbft\n  poll: 500ms\n", rpc, registry)
	b.WriteString("witness:\n  key_file: witness.skey\n")
	fmt.Fprintf(&b, "http:\n  listen: %s\n", listen)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startWatcher starts `waybill-watch run --config cfg` and waits until it
// is healthy: connected to its broker, its archive answering.
func startWatcher(t *testing.T, bin, name, cfg, listen string) *proc {
	t.Helper()
	p := start(t, name, bin, "run", "--config", cfg)
	waitFor(t, settle, name+" reports itself healthy on /healthz", func() (bool, string) {
		code, body, err := httpGet("http://" + listen + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		return code == 200, fmt.Sprintf("%d %s", code, body)
	}, p)
	return p
}

// checkDevice checks that the archive holds every event the device's
// `waybill log show` prints, once, with its leaf, witnessed, and nothing
// else of the device; and that the ledger's final anchor is the device's
// final checkpoint. It returns the number of the device's anchors.
func checkDevice(t *testing.T, ctx context.Context, arc *archive, waybill string, v *van) int {
	t.Helper()
	code, out, errs := run(t, settle, waybill, "log", "show", "--data", v.data)
	if code != 0 {
		t.Fatalf("%s: waybill log show = %d: %s", v.name, code, errs)
	}
	logged := map[int64][]byte{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var e struct {
			Epoch int64  `json:"epoch"`
			Seq   int64  `json:"seq"`
			Leaf  []byte `json:"leaf"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Epoch != 0 || len(e.Leaf) == 0 {
			t.Fatalf("%s: log show line %q: %v", v.name, line, err)
		}
		logged[e.Seq] = e.Leaf
	}
	if int64(len(logged)) != v.size {
		t.Fatalf("%s: log show printed %d events; the final checkpoint has %d", v.name, len(logged), v.size)
	}
	archived, err := arc.leaves(ctx, v.addr, 0)
	if err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	for seq, leaf := range logged {
		got, ok := archived[seq]
		switch {
		case !ok:
			t.Errorf("%s: event %d is not in the archive", v.name, seq)
		case !bytes.Equal(got, leaf):
			t.Errorf("%s: event %d is archived with other bytes:\n%s\nlogged:\n%s", v.name, seq, got, leaf)
		}
	}
	for seq := range archived {
		if _, ok := logged[seq]; !ok {
			t.Errorf("%s: the archive holds an event %d the device never logged", v.name, seq)
		}
	}
	st, err := arc.states(ctx, v.addr)
	if err != nil {
		t.Fatal(err)
	}
	if st["witnessed"] != v.size || len(st) != 1 {
		t.Errorf("%s: events by state %v; want all %d witnessed", v.name, st, v.size)
	}
	var epochs int64
	if err := arc.db.QueryRow(ctx, `SELECT count(*) FROM epochs WHERE device = $1`, device(v.addr)).Scan(&epochs); err != nil || epochs != 1 {
		t.Errorf("%s: %d epochs recorded (%v); the device has one log", v.name, epochs, err)
	}

	// The anchors the device confirmed, by its own evidence, are the
	// anchors the watcher archived, each once and final.
	code, out, errs = run(t, settle, waybill, "anchor", "status", "--data", v.data, "--evidence")
	if code != 0 {
		t.Fatalf("%s: waybill anchor status --evidence = %d: %s", v.name, code, errs)
	}
	type anchor struct {
		size     int64
		root, tx string
	}
	var confirmed []anchor
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var e struct {
			Size int64  `json:"size"`
			Root string `json:"root"`
			Tx   string `json:"tx_hash"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: evidence line %q: %v", v.name, line, err)
		}
		confirmed = append(confirmed, anchor{e.Size, e.Root, strings.ToLower(e.Tx)})
	}
	rows, err := arc.anchors(ctx, v.addr)
	if err != nil {
		t.Fatal(err)
	}
	var archivedAnchors []anchor
	for _, a := range rows {
		if a.ChainID != 1337 || !a.Final {
			t.Errorf("%s: archived anchor of size %d on chain %d, final %v; want final on chain 1337", v.name, a.Size, a.ChainID, a.Final)
		}
		archivedAnchors = append(archivedAnchors, anchor{a.Size, base64.StdEncoding.EncodeToString(a.Root), "0x" + hex.EncodeToString(a.Tx)})
	}
	order := func(a, b anchor) int { return cmp.Or(cmp.Compare(a.size, b.size), cmp.Compare(a.tx, b.tx)) }
	slices.SortFunc(confirmed, order)
	slices.SortFunc(archivedAnchors, order)
	if !slices.Equal(confirmed, archivedAnchors) {
		t.Errorf("%s: the device confirmed the anchors\n%v\nthe archive holds\n%v", v.name, confirmed, archivedAnchors)
	}
	if n := len(confirmed); n == 0 || confirmed[n-1].size != v.size || confirmed[n-1].root != v.root {
		t.Errorf("%s: the device's last confirmed anchor is not its final checkpoint (size %d, root %s): %v", v.name, v.size, v.root, confirmed)
	}
	t.Logf("%s (%s, %s): %d events, by state %v; %d anchors", v.name, v.addr, v.fleet, v.size, st, len(confirmed))
	return len(confirmed)
}

// stockOpen opens a cosigned checkpoint note of v with stock verifiers:
// x/mod's for the device's Ed25519 note key and wit for the witness's
// cosignature. Both must have signed it; it returns the checkpoint's size
// and root (base64).
func stockOpen(v *van, wit note.Verifier, msg []byte) (size int64, root string, err error) {
	dev, err := note.NewVerifier(v.vkey)
	if err != nil {
		return 0, "", fmt.Errorf("x/mod note.NewVerifier(%s): %w", v.vkey, err)
	}
	n, err := note.Open(msg, note.VerifierList(dev, wit))
	if err != nil {
		return 0, "", fmt.Errorf("stock note.Open: %w", err)
	}
	var names []string
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, dev.Name()) || !slices.Contains(names, wit.Name()) {
		return 0, "", fmt.Errorf("verified by %v; want the device's and the witness's keys", names)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 {
		return 0, "", fmt.Errorf("the checkpoint text %q has no size and root", n.Text)
	}
	if size, err = strconv.ParseInt(lines[1], 10, 64); err != nil {
		return 0, "", fmt.Errorf("checkpoint size %q: %w", lines[1], err)
	}
	return size, lines[2], nil
}

// checkCosigned opens every cosigned checkpoint of the device in the
// archive, and the one the watcher serves, with stock verifiers, checks
// that each is a verified checkpoint of the archive with one line added,
// and returns how many it opened.
func checkCosigned(t *testing.T, ctx context.Context, arc *archive, v *van, wit note.Verifier, listen string) int {
	t.Helper()
	cosigned, err := arc.notes(ctx, "cosigned", v.addr)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := arc.notes(ctx, "checkpoints", v.addr)
	if err != nil {
		t.Fatal(err)
	}
	open := func(what string, want int64, msg []byte) {
		size, root, err := stockOpen(v, wit, msg)
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v\n%s", v.name, what, err, msg)
		case size != want:
			t.Errorf("%s: %s is of size %d; want %d", v.name, what, size, want)
		case size == v.size && root != v.root:
			t.Errorf("%s: %s has root %s; the device's final checkpoint %s", v.name, what, root, v.root)
		}
		if cp, ok := verified[want]; !ok || !bytes.HasPrefix(msg, cp) || bytes.Count(msg[len(cp):], []byte("\n")) != 1 {
			t.Errorf("%s: %s is not the verified checkpoint of size %d with one line added:\n%s\nverified:\n%s", v.name, what, want, msg, cp)
		}
	}
	for size, msg := range cosigned {
		open(fmt.Sprintf("the cosigned checkpoint of size %d", size), size, msg)
	}
	if _, ok := cosigned[v.size]; !ok {
		t.Errorf("%s: no cosigned checkpoint of the final size %d among %d", v.name, v.size, len(cosigned))
	}
	code, body, err := httpGet(fmt.Sprintf("http://%s/v1/checkpoints/%s/0", listen, v.addr))
	if err != nil || code != 200 {
		t.Errorf("%s: GET /v1/checkpoints = %d %s (%v)", v.name, code, body, err)
	} else {
		open("the checkpoint served over HTTP", v.size, body)
	}
	return len(cosigned)
}

// checkExport exports v's events as proof bundles and JSON Lines with the
// watcher's export, verifies each bundle with `waybill verify` (one also
// against the ledger) and compares the lines with the device's own.
func checkExport(t *testing.T, waybill, watchBin, cfg string, v *van, rpc, registry string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundles")
	code, out, errs := run(t, settle, watchBin, "export", "--config", cfg, "--device", v.addr, "--format", "bundle", "--out", dir)
	if want := fmt.Sprintf("%d bundles in %s\n", v.size, dir); code != 0 || out != want {
		t.Fatalf("waybill-watch export --format bundle = %d %q; want %q\n%s", code, out, want, errs)
	}
	files, err := filepath.Glob(filepath.Join(dir, "epoch-0", "*.json"))
	if err != nil || int64(len(files)) != v.size {
		t.Fatalf("export wrote %d bundles (%v); want %d", len(files), err, v.size)
	}
	for i, f := range files {
		args := []string{"verify", "--vkey", v.vkey, "--device", v.addr, "--fleet", v.fleet}
		if i == 0 {
			args = append(args, "--rpc", rpc, "--contract", registry)
		}
		code, out, errs := run(t, settle, waybill, append(args, f)...)
		if code != 0 {
			t.Errorf("waybill %s = %d:\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		if i == 0 && !strings.Contains(out, "is anchored in block") {
			t.Errorf("waybill verify --rpc of %s does not say it is anchored:\n%s", f, out)
		}
	}
	code, lines, errs := run(t, settle, watchBin, "export", "--config", cfg, "--device", v.addr, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("waybill-watch export --format jsonl = %d: %s", code, errs)
	}
	code, shown, errs := run(t, settle, waybill, "log", "show", "--data", v.data)
	if code != 0 {
		t.Fatalf("waybill log show = %d: %s", code, errs)
	}
	if lines != shown {
		t.Errorf("export --format jsonl differs from the device's waybill log show:\n%s\n---\n%s", tail(lines, 3), tail(shown, 3))
	}
	t.Logf("%s: %d proof bundles exported and verified", v.name, len(files))
}
