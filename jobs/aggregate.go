package jobs

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/schema"
)

// aggregator groups rows by some columns and combines others: exact sums for
// integers and decimals (math/big, so no rounding and no overflow), float64
// sums for FLOAT and DOUBLE, min and max by the column's kind, and a row
// count. Memory grows with the number of groups, never with rows.
type aggregator struct {
	in      schema.Schema
	out     schema.Schema
	keyIdx  []int
	sumIdx  []int
	minIdx  []int
	maxIdx  []int
	count   bool
	outCols []outCol // how each output column is computed, in output order
	groups  map[string]*group
	keyBuf  []byte
	max     int // groups at most
}

type outCol struct {
	op  byte // 'k' key, 's' sum, 'm' min, 'M' max, 'c' count
	pos int  // index in the group's slice for that op
}

type group struct {
	keys   [][]byte
	sums   []*big.Int // exact kinds: unscaled at the column's scale
	fsums  []float64
	seen   []bool // a non-NULL value was summed
	mins   [][]byte
	maxs   [][]byte
	count  int64
	sorted string
}

func newAggregator(in schema.Schema, a config.Aggregate) (*aggregator, error) {
	g := &aggregator{in: in, groups: map[string]*group{}, count: a.Count != "", max: a.MaxGroups}
	if g.max <= 0 {
		g.max = config.DefaultMaxGroups
	}
	role := map[string]byte{}
	for _, l := range []struct {
		op   byte
		cols []string
	}{{'k', a.GroupBy}, {'s', a.Sum}, {'m', a.Min}, {'M', a.Max}} {
		for _, name := range l.cols {
			if in.Index(name) < 0 {
				return nil, fmt.Errorf("aggregate: the result has no column %q (columns: %s)", name, strings.Join(in.Names(), ", "))
			}
			role[name] = l.op
		}
	}
	if a.Count != "" && in.Index(a.Count) >= 0 {
		return nil, fmt.Errorf("aggregate: count column %q clashes with a result column", a.Count)
	}
	for i, c := range in {
		op, ok := role[c.Name]
		if !ok {
			continue
		}
		oc := outCol{op: op}
		switch op {
		case 'k':
			oc.pos = len(g.keyIdx)
			g.keyIdx = append(g.keyIdx, i)
			g.out = append(g.out, c)
		case 's':
			sc, err := sumColumn(c)
			if err != nil {
				return nil, err
			}
			oc.pos = len(g.sumIdx)
			g.sumIdx = append(g.sumIdx, i)
			g.out = append(g.out, sc)
		case 'm':
			oc.pos = len(g.minIdx)
			g.minIdx = append(g.minIdx, i)
			g.out = append(g.out, c)
		case 'M':
			oc.pos = len(g.maxIdx)
			g.maxIdx = append(g.maxIdx, i)
			g.out = append(g.out, c)
		}
		g.outCols = append(g.outCols, oc)
	}
	if g.count {
		g.out = append(g.out, schema.Column{Name: a.Count, Kind: schema.Int64})
		g.outCols = append(g.outCols, outCol{op: 'c'})
	}
	return g, nil
}

// sumColumn is the output column of a sum: integers widen to BIGINT,
// decimals to 38 digits, floats to DOUBLE.
func sumColumn(c schema.Column) (schema.Column, error) {
	out := schema.Column{Name: c.Name, MySQL: c.MySQL}
	switch c.Kind {
	case schema.Int32, schema.Int64:
		out.Kind = schema.Int64
	case schema.Uint64:
		out.Kind, out.Precision = schema.Decimal, schema.MaxDecimalPrecision
	case schema.Decimal:
		out.Kind, out.Precision, out.Scale = schema.Decimal, schema.MaxDecimalPrecision, c.Scale
	case schema.Float, schema.Double:
		out.Kind = schema.Double
	default:
		return out, fmt.Errorf("aggregate: cannot sum column %q of type %s", c.Name, c.Athena())
	}
	return out, nil
}

func exact(k schema.Kind) bool { return k != schema.Float && k != schema.Double }

// add folds one row in.
func (g *aggregator) add(row [][]byte) error {
	key := g.keyBuf[:0]
	for _, i := range g.keyIdx {
		v := row[i]
		if v == nil {
			key = append(key, 0)
			continue
		}
		key = append(key, 1)
		key = binary.AppendUvarint(key, uint64(len(v)))
		key = append(key, v...)
	}
	g.keyBuf = key
	gr, ok := g.groups[string(key)]
	if !ok {
		if len(g.groups) >= g.max {
			return g.tooMany()
		}
		gr = g.newGroup(row)
		g.groups[string(key)] = gr
	}
	gr.count++
	for j, i := range g.sumIdx {
		v := row[i]
		if v == nil {
			continue
		}
		gr.seen[j] = true
		c := g.in[i]
		if !exact(c.Kind) {
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return fmt.Errorf("aggregate: column %q: bad number %q", c.Name, v)
			}
			gr.fsums[j] += f
			continue
		}
		n, err := parseScaled(v, c.Scale)
		if err != nil {
			return fmt.Errorf("aggregate: column %q: %w", c.Name, err)
		}
		gr.sums[j].Add(gr.sums[j], n)
	}
	for j, i := range g.minIdx {
		if v := row[i]; v != nil && (gr.mins[j] == nil || compare(g.in[i].Kind, v, gr.mins[j]) < 0) {
			gr.mins[j] = append(gr.mins[j][:0], v...)
		}
	}
	for j, i := range g.maxIdx {
		if v := row[i]; v != nil && (gr.maxs[j] == nil || compare(g.in[i].Kind, v, gr.maxs[j]) > 0) {
			gr.maxs[j] = append(gr.maxs[j][:0], v...)
		}
	}
	return nil
}

func (g *aggregator) newGroup(row [][]byte) *group {
	gr := &group{
		keys:  make([][]byte, len(g.keyIdx)),
		sums:  make([]*big.Int, len(g.sumIdx)),
		fsums: make([]float64, len(g.sumIdx)),
		seen:  make([]bool, len(g.sumIdx)),
		mins:  make([][]byte, len(g.minIdx)),
		maxs:  make([][]byte, len(g.maxIdx)),
	}
	for j, i := range g.keyIdx {
		if row[i] != nil {
			gr.keys[j] = append([]byte{}, row[i]...)
		}
	}
	for j := range gr.sums {
		gr.sums[j] = new(big.Int)
	}
	return gr
}

func (g *aggregator) tooMany() error {
	return fmt.Errorf("aggregate: more than %d groups (max_groups): group by fewer columns or raise max_groups", g.max)
}

// merge folds another tenant's groups in.
func (g *aggregator) merge(o *aggregator) error {
	for k, og := range o.groups {
		gr, ok := g.groups[k]
		if !ok {
			if len(g.groups) >= g.max {
				return g.tooMany()
			}
			g.groups[k] = og
			continue
		}
		gr.count += og.count
		for j := range gr.sums {
			gr.sums[j].Add(gr.sums[j], og.sums[j])
			gr.fsums[j] += og.fsums[j]
			gr.seen[j] = gr.seen[j] || og.seen[j]
		}
		for j, i := range g.minIdx {
			if og.mins[j] != nil && (gr.mins[j] == nil || compare(g.in[i].Kind, og.mins[j], gr.mins[j]) < 0) {
				gr.mins[j] = og.mins[j]
			}
		}
		for j, i := range g.maxIdx {
			if og.maxs[j] != nil && (gr.maxs[j] == nil || compare(g.in[i].Kind, og.maxs[j], gr.maxs[j]) > 0) {
				gr.maxs[j] = og.maxs[j]
			}
		}
	}
	return nil
}

// each calls fn with every group's output row, ordered by the group-by
// values so that the file is the same from run to run.
func (g *aggregator) each(fn func(row [][]byte) error) error {
	list := make([]*group, 0, len(g.groups))
	for _, gr := range g.groups {
		list = append(list, gr)
	}
	sort.Slice(list, func(a, b int) bool {
		for j, i := range g.keyIdx {
			x, y := list[a].keys[j], list[b].keys[j]
			if x == nil || y == nil {
				if (x == nil) != (y == nil) {
					return x == nil
				}
				continue
			}
			if c := compare(g.in[i].Kind, x, y); c != 0 {
				return c < 0
			}
		}
		return false
	})
	row := make([][]byte, len(g.out))
	for _, gr := range list {
		for o, oc := range g.outCols {
			switch oc.op {
			case 'k':
				row[o] = gr.keys[oc.pos]
			case 'm':
				row[o] = gr.mins[oc.pos]
			case 'M':
				row[o] = gr.maxs[oc.pos]
			case 'c':
				row[o] = strconv.AppendInt(nil, gr.count, 10)
			case 's':
				v, err := g.sumText(gr, oc.pos, g.out[o])
				if err != nil {
					return err
				}
				row[o] = v
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

func (g *aggregator) sumText(gr *group, j int, out schema.Column) ([]byte, error) {
	if !gr.seen[j] {
		return nil, nil
	}
	in := g.in[g.sumIdx[j]]
	if !exact(in.Kind) {
		return strconv.AppendFloat(nil, gr.fsums[j], 'g', -1, 64), nil
	}
	s := formatScaled(gr.sums[j], in.Scale)
	digits := len(strings.TrimLeft(strings.Replace(s, ".", "", 1), "-"))
	switch {
	case out.Kind == schema.Int64 && !gr.sums[j].IsInt64():
		return nil, fmt.Errorf("aggregate: sum of column %q overflows BIGINT: %s", out.Name, s)
	case out.Kind == schema.Decimal && digits > out.Precision:
		return nil, fmt.Errorf("aggregate: sum of column %q has more than %d digits: %s", out.Name, out.Precision, s)
	}
	return []byte(s), nil
}

// parseScaled parses decimal text into an integer scaled by 10^scale.
func parseScaled(v []byte, scale int) (*big.Int, error) {
	s := string(v)
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > scale {
		return nil, fmt.Errorf("bad decimal %q: more than %d digits after the point", s, scale)
	}
	digits := intPart + frac + strings.Repeat("0", scale-len(frac))
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, fmt.Errorf("bad number %q", s)
	}
	return n, nil
}

// formatScaled prints an integer scaled by 10^scale as decimal text.
func formatScaled(n *big.Int, scale int) string {
	s := n.String()
	if scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// compare orders two non-NULL values of a kind.
func compare(k schema.Kind, a, b []byte) int {
	switch k {
	case schema.Int32, schema.Int64, schema.Uint64, schema.Decimal:
		x, okx := new(big.Rat).SetString(string(a))
		y, oky := new(big.Rat).SetString(string(b))
		if okx && oky {
			return x.Cmp(y)
		}
	case schema.Float, schema.Double:
		x, errx := strconv.ParseFloat(string(a), 64)
		y, erry := strconv.ParseFloat(string(b), 64)
		if errx == nil && erry == nil && !math.IsNaN(x) && !math.IsNaN(y) {
			return cmp.Compare(x, y)
		}
	}
	// Dates and timestamps sort as text in MySQL's fixed-width format.
	return bytes.Compare(a, b)
}

// aggSink folds one tenant's rows into its own aggregator; tenants are merged
// only after the run knows which succeeded.
type aggSink struct {
	run    *run
	t      *TenantResult
	prefix [][]byte
	row    [][]byte
}

func (s *aggSink) Start(cols schema.Schema) error {
	full, err := s.run.tenantSchema(cols)
	if err != nil {
		return err
	}
	agg, err := newAggregator(full, s.run.job.Aggregate)
	if err != nil {
		return err
	}
	// Only the aggregate's columns are published, so only they need
	// names Athena can hold.
	if err := athena.CheckColumns(agg.out); err != nil {
		return fmt.Errorf("aggregate columns: %w", err)
	}
	s.t.schema, s.t.agg = cols, agg
	s.row = make([][]byte, len(full))
	copy(s.row, s.prefix)
	return nil
}

func (s *aggSink) Write(row [][]byte) error {
	copy(s.row[len(s.prefix):], row)
	s.run.o.Progress.Rows.Add(1)
	return s.t.agg.add(s.row)
}
