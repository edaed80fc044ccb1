package jobs

import (
	"fmt"
	"testing"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/schema"
)

// BenchmarkAggregate folds b.N rows (one per op) into 100 groups keyed by
// tenant, day and result, summing an integer and a DECIMAL(12,2) and
// counting, then merges a second tenant's aggregate and walks the output
// rows, as merge: aggregate does at the end of a run.
func BenchmarkAggregate(b *testing.B) {
	in := schema.Schema{
		{Name: "database", Kind: schema.String},
		{Name: "day", Kind: schema.Date},
		{Name: "result", Kind: schema.String},
		{Name: "sends", Kind: schema.Int64},
		{Name: "cost", Kind: schema.Decimal, Precision: 12, Scale: 2},
	}
	spec := config.Aggregate{GroupBy: []string{"database", "day", "result"}, Sum: []string{"sends", "cost"}, Count: "rows"}
	rows := make([][][]byte, 4096)
	for i := range rows {
		rows[i] = [][]byte{
			fmt.Appendf(nil, "crm_t%03d", i%10),
			fmt.Appendf(nil, "2026-11-%02d", 1+i%25),
			[]byte([]string{"sent", "bounced", "opened", "clicked"}[i%4]),
			fmt.Appendf(nil, "%d", i%97),
			fmt.Appendf(nil, "%d.%02d", i%10000, i%100),
		}
	}
	a, err := newAggregator(in, spec)
	if err != nil {
		b.Fatal(err)
	}
	other, err := newAggregator(in, spec)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		if err := other.add(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := a.add(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := a.merge(other); err != nil {
		b.Fatal(err)
	}
	out := 0
	if err := a.each(func([][]byte) error { out++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out), "groups")
}
