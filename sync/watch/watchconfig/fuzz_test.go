package watchconfig

import (
	"os"
	"testing"
)

// FuzzParse: any input is a configuration or a list of errors, never a
// panic; an accepted configuration trusts only valid devices.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if data, err := os.ReadFile("../../../configs/watch/watch.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("operators: &a [*a]"))
	f.Add([]byte("shard: {index: 1, count: 1}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a configuration and the error %v", err)
			}
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("Parse error %T %v, want Errors", err, err)
			}
			return
		}
		if len(c.Brokers) == 0 || c.WitnessKey == "" || c.Shard.Index >= c.Shard.Count {
			t.Fatalf("accepted %+v", c)
		}
		for _, op := range c.Trust.Operators {
			for _, d := range op.Devices {
				if d.Fleet == "" || d.ChainID == 0 {
					t.Fatalf("accepted device %+v", d)
				}
			}
		}
	})
}
