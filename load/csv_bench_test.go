package load

import (
	"io"
	"testing"
)

// BenchmarkCSVWriter writes b.N rows of the 13-column mail table of
// BenchmarkParquetWriter, one row per op, Close included.
func BenchmarkCSVWriter(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "csv"
		if gz {
			name = "csv.gz"
		}
		b.Run(name, func(b *testing.B) {
			benchmarkEncoder(b, func(w io.Writer) (Encoder, error) { return NewCSVWriter(w, pqBenchSchema, gz) })
		})
	}
}

// benchmarkEncoder writes b.N rows of the mail table with the encoder open
// returns, one row per op, Close included, and reports rows/s and the
// encoded bytes per row.
func benchmarkEncoder(b *testing.B, open func(io.Writer) (Encoder, error)) {
	rows := pqBenchRows(16384)
	var out pqCountingWriter
	b.ReportAllocs()
	b.ResetTimer()
	w, err := open(&out)
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if err := w.Write(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out.n)/float64(b.N), "file-B/row")
}
