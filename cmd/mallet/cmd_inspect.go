package main

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
)

type inspectCmd struct {
	common
}

const inspectUsage = `mallet inspect URI [--config FILE]

Prints the schema and row count of one file mallet wrote: for Parquet each
column's name, kind and Athena type; for CSV and csv.gz the header and the
number of data rows. URI is s3://bucket/key, file:///abs/path or a path.
The config is read only for its s3 settings, and only if it exists.`

func (c *inspectCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("inspect", inspectUsage)
	c.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want: %s", strings.SplitN(inspectUsage, "\n", 2)[0])
	}
	return c.inspect(ctx, os.Stdout, pos[0])
}

func (c *inspectCmd) inspect(ctx context.Context, w io.Writer, uri string) error {
	f, size, err := c.open(ctx, uri)
	if err != nil {
		return err
	}
	defer f.Close()
	name := strings.ToLower(uri)
	switch {
	case strings.HasSuffix(name, ".parquet"):
		s, rows, err := load.ReadParquetSchema(f, size)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", uri, err)
		}
		fmt.Fprintf(w, "%s\nformat parquet, %d rows, %d columns\n\n", uri, rows, len(s))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tCOLUMN\tKIND\tATHENA\tMYSQL")
		for i, col := range s {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, col.Name, col.Kind, col.Athena(), col.MySQL)
		}
		return tw.Flush()
	case strings.HasSuffix(name, ".csv"), strings.HasSuffix(name, ".csv.gz"):
		var r io.Reader = io.NewSectionReader(f, 0, size)
		format := "csv"
		if strings.HasSuffix(name, ".gz") {
			gz, err := gzip.NewReader(r)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", uri, err)
			}
			defer gz.Close()
			r, format = gz, "csv.gz"
		}
		header, rows, err := countCSV(r)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", uri, err)
		}
		fmt.Fprintf(w, "%s\nformat %s, %d rows, %d columns (CSV columns are text: the Athena view gives their types)\n\n", uri, format, rows, len(header))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tCOLUMN")
		for i, h := range header {
			fmt.Fprintf(tw, "%d\t%s\n", i+1, h)
		}
		return tw.Flush()
	}
	return usageErrorf("inspect %s: want a .parquet, .csv or .csv.gz file", uri)
}

// countCSV reads the header and counts the records after it; quoted line
// breaks belong to their record.
func countCSV(r io.Reader) ([]string, int64, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, 0, errors.New("empty file: no header row")
	}
	if err != nil {
		return nil, 0, err
	}
	header = append([]string(nil), header...)
	var n int64
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return header, n, nil
		}
		if err != nil {
			return nil, 0, err
		}
		n++
	}
}

// readerAtCloser is a file to read at offsets.
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// open opens a local file, or downloads an S3 object to a temporary file
// (Parquet is read from its footer backwards, at offsets).
func (c *inspectCmd) open(ctx context.Context, uri string) (readerAtCloser, int64, error) {
	local := uri
	switch {
	case strings.HasPrefix(uri, "s3://"):
		return c.download(ctx, uri)
	case strings.HasPrefix(uri, "file://"):
		u, err := url.Parse(uri)
		if err != nil {
			return nil, 0, usageErrorf("inspect %s: %v", uri, err)
		}
		local = u.Path
	case strings.Contains(uri, "://"):
		return nil, 0, usageErrorf("inspect %s: unsupported scheme (want s3://, file:// or a path)", uri)
	}
	f, err := os.Open(local)
	if err != nil {
		return nil, 0, fmt.Errorf("inspect: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("inspect: %w", err)
	}
	return f, fi.Size(), nil
}

func (c *inspectCmd) download(ctx context.Context, uri string) (readerAtCloser, int64, error) {
	dir, key := path.Split(uri)
	st, err := jobs.OpenStore(ctx, strings.TrimSuffix(dir, "/"), c.s3Options())
	if err != nil {
		return nil, 0, fmt.Errorf("inspect %s: %w", uri, err)
	}
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("inspect: %w", err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "mallet-inspect-*")
	if err != nil {
		return nil, 0, fmt.Errorf("inspect: %w", err)
	}
	os.Remove(tmp.Name()) // unlinked: gone when closed
	n, err := io.Copy(tmp, rc)
	if err != nil {
		tmp.Close()
		return nil, 0, fmt.Errorf("inspect: download %s: %w", uri, err)
	}
	return tmp, n, nil
}

// s3Options are the config's s3 settings when the config file exists; the
// environment (AWS_*, MALLET_S3_PATH_STYLE) applies either way.
func (c *inspectCmd) s3Options() config.S3 {
	if _, err := os.Stat(c.configPath); err != nil {
		return config.S3{}
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return config.S3{}
	}
	return cfg.S3
}
