package jobs

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSpool writes rows into a spool and reads them back, in memory and
// past spoolMemory in its file, after a reset too: every value comes back
// as written, NULL as nil and empty as empty.
func TestSpool(t *testing.T) {
	big := strings.Repeat("v", 1000)
	tests := []struct {
		name string
		rows int
		val  func(i int) []byte
	}{
		{"memory", 100, func(i int) []byte { return []byte(fmt.Sprint(i)) }},
		{"file", 3 * spoolMemory / 1000, func(i int) []byte { return []byte(fmt.Sprint(i) + big) }},
		{"nulls and empties", 50, func(i int) []byte {
			switch i % 3 {
			case 0:
				return nil
			case 1:
				return []byte{}
			}
			return []byte("x")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := newSpool(1<<30, 0)
			defer sp.close()
			for round := range 2 {
				if err := sp.reset(); err != nil {
					t.Fatal(err)
				}
				var want [][][]byte
				for i := range tt.rows {
					row := [][]byte{tt.val(i), []byte("const"), tt.val(i + round)}
					if !sp.fits(row) {
						t.Fatalf("row %d does not fit", i)
					}
					if err := sp.add(row); err != nil {
						t.Fatal(err)
					}
					want = append(want, row)
				}
				if got := sp.rows; got != int64(tt.rows) {
					t.Errorf("rows = %d, want %d", got, tt.rows)
				}
				n := 0
				err := sp.each(3, func(row [][]byte) error {
					for j, v := range row {
						w := want[n][j]
						if (v == nil) != (w == nil) || !slices.Equal(v, w) {
							t.Fatalf("round %d row %d value %d: got %q (nil %v), want %q (nil %v)", round, n, j, v, v == nil, w, w == nil)
						}
					}
					n++
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.rows {
					t.Errorf("round %d: read %d rows, want %d", round, n, tt.rows)
				}
			}
		})
	}
}

// TestSpoolBound: a row that would take the spool past its bytes or rows
// does not fit.
func TestSpoolBound(t *testing.T) {
	row := [][]byte{[]byte("0123456789")}
	tests := []struct {
		name     string
		limit    int64
		rowLimit int64
		fit      int // rows that fit
	}{
		{"bytes", 44, 0, 3}, // 11 bytes a row; fits counts 5 bytes of length per value
		{"rows", 1 << 20, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := newSpool(tt.limit, tt.rowLimit)
			defer sp.close()
			n := 0
			for sp.fits(row) && n < 100 {
				if err := sp.add(row); err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != tt.fit {
				t.Errorf("%d rows fit, want %d", n, tt.fit)
			}
		})
	}
}

// TestSpoolNoDisk: where no temp file can be made, the spool holds what
// fits in memory, and a larger tenant does not fit (it gets a part of its
// own) instead of failing.
func TestSpoolNoDisk(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	sp := newSpool(1<<30, 0)
	defer sp.close()
	row := [][]byte{[]byte(strings.Repeat("v", 1000))}
	n := 0
	for sp.fits(row) {
		if err := sp.add(row); err != nil {
			t.Fatalf("row %d: %v", n, err)
		}
		n++
	}
	if got := sp.size + 1005; got <= spoolMemory || sp.size > spoolMemory {
		t.Errorf("spool stopped at %d bytes (%d rows), want just under the %d in memory", sp.size, n, spoolMemory)
	}
	if sp.fileErr == nil {
		t.Error("no error kept for the temp file")
	}
}
