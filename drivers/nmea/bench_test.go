package nmea

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// corpus returns the concatenated shared gpsd logs and their sentences, or
// skips the benchmark when the logs are absent.
func corpus(b *testing.B) ([]byte, []string) {
	b.Helper()
	logs, _ := filepath.Glob(filepath.Join(gpsdDir, "*.log"))
	if len(logs) == 0 {
		b.Skipf("gpsd logs not available in %s", gpsdDir)
	}
	var all []byte
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data...)
		if n := len(all); n > 0 && all[n-1] != '\n' {
			all = append(all, '\n')
		}
	}
	var lines []string
	s := NewScanner(bytes.NewReader(all))
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	return all, lines
}

// BenchmarkParse decodes every sentence of the shared logs in turn (the
// fuzz seeds when the logs are absent); one operation is one sentence, so
// -benchmem reports allocations per sentence.
func BenchmarkParse(b *testing.B) {
	lines := seeds
	if _, err := os.Stat(gpsdDir); err == nil {
		_, lines = corpus(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		Parse(lines[i%len(lines)])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sentences/s")
}

// decodeCopies is how many times the shared logs are repeated for
// BenchmarkDecode_VsGpsdecode: about 6 MB, some 96,000 sentences.
const decodeCopies = 40

// BenchmarkDecode_VsGpsdecode decodes the shared logs, repeated to a few
// megabytes, with [Decode] and with gpsd's gpsdecode (Debian package
// gpsd-clients), and reports both rates and ratio = ours / gpsdecode's.
func BenchmarkDecode_VsGpsdecode(b *testing.B) {
	gpsdecode, err := exec.LookPath("gpsdecode")
	if err != nil {
		b.Skip("gpsdecode not installed (apt-get install gpsd-clients)")
	}
	all, _ := corpus(b)
	path := filepath.Join(b.TempDir(), "all.log")
	if err := os.WriteFile(path, bytes.Repeat(all, decodeCopies), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := Decode(f, discard{})
	if err != nil {
		b.Fatal(err)
	}
	sentences := float64(st.Sentences)

	if _, err := f.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(gpsdecode) // gpsdecode < file > /dev/null
	cmd.Stdin = f
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("gpsdecode: %v", err)
	}
	theirs := sentences / time.Since(start).Seconds()

	b.SetBytes(int64(len(all) * decodeCopies))
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(f, discard{}); err != nil {
			b.Fatal(err)
		}
	}
	ours := sentences * float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(ours, "sentences/s")
	b.ReportMetric(theirs, "gpsdecode-sentences/s")
	b.ReportMetric(ours/theirs, "ratio")
}

// discard is io.Discard without its ReadFrom shortcut, so output is
// formatted and written as to a file.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
