package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
)

// staged is one object written under the run's staging prefix.
type staged struct {
	key   string
	rows  int64
	bytes int64
	sum   string
}

// publish moves the staged objects into the run date's partition as
// part-00000.ext, part-00001.ext, ... in tenant order, then deletes parts
// an earlier run left there beyond the new ones.
func (r *run) publish(ctx context.Context) error {
	var parts []staged
	if r.job.Merge == config.MergeAggregate {
		p, err := r.writeAggregate(ctx)
		if err != nil {
			return err
		}
		if p != nil {
			parts = append(parts, *p)
		}
	} else {
		for _, t := range r.res.Tenants {
			if t.Err == nil && t.staged != "" {
				parts = append(parts, staged{key: t.staged, rows: t.Rows, bytes: t.Bytes, sum: t.sum})
			}
		}
	}
	prefix := PartitionPrefix(r.job.Name, r.res.RunDate)
	existing, err := r.store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", r.store.URI(prefix), err)
	}
	keep := map[string]bool{}
	for n, p := range parts {
		key := fmt.Sprintf("%spart-%05d.%s", prefix, n, r.job.Output.Format)
		if err := r.store.Move(ctx, p.key, key); err != nil {
			return fmt.Errorf("move %s to %s: %w", r.store.URI(p.key), r.store.URI(key), err)
		}
		keep[key] = true
		r.res.Objects = append(r.res.Objects, Object{URI: r.store.URI(key), Key: key, Rows: p.rows, Bytes: p.bytes, SHA256: p.sum})
		r.res.Rows += p.rows
		r.res.Bytes += p.bytes
	}
	var stale []string
	for _, o := range existing {
		if !keep[o.Key] {
			stale = append(stale, o.Key)
		}
	}
	if len(stale) > 0 {
		if err := r.store.Delete(ctx, stale...); err != nil {
			return fmt.Errorf("delete stale parts: %w", err)
		}
	}
	return nil
}

// writeAggregate merges the successful tenants' groups and stages them as
// one object; nil when no tenant returned a row.
func (r *run) writeAggregate(ctx context.Context) (*staged, error) {
	var total *aggregator
	for _, t := range r.res.Tenants {
		if t.Err != nil || t.agg == nil {
			continue
		}
		if total == nil {
			total = t.agg
			continue
		}
		total.merge(t.agg)
	}
	if total == nil || len(total.groups) == 0 {
		if total != nil {
			r.res.Schema = total.out
		}
		return nil, nil
	}
	r.res.Schema = total.out
	key := r.stagingPrefix() + "aggregate." + r.job.Output.Format
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := r.store.Put(ctx, key, pr)
		pr.CloseWithError(err)
		done <- err
	}()
	cw := &countingWriter{w: pw, h: sha256.New(), p: &r.o.Progress.Bytes}
	var rows int64
	err := func() error {
		enc, err := load.NewEncoder(load.Format(r.job.Output.Format), cw, total.out)
		if err != nil {
			return err
		}
		if err := total.each(func(row [][]byte) error { rows++; return enc.Write(row) }); err != nil {
			return err
		}
		return enc.Close()
	}()
	pw.CloseWithError(err)
	if uerr := <-done; err == nil && uerr != nil {
		err = fmt.Errorf("upload %s: %w", r.store.URI(key), uerr)
	}
	if err != nil {
		return nil, err
	}
	return &staged{key: key, rows: rows, bytes: cw.n, sum: hex.EncodeToString(cw.h.Sum(nil))}, nil
}
