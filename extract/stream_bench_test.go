package extract

import (
	"context"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/schema"
)

// discardSink counts rows and bytes and keeps nothing.
type discardSink struct{ rows, bytes int64 }

func (d *discardSink) Start(schema.Schema) error { return nil }
func (d *discardSink) Write(row [][]byte) error {
	d.rows++
	for _, v := range row {
		d.bytes += int64(len(v))
	}
	return nil
}

// BenchmarkStream streams a 20,000-row, 13-column mail table (the kinds of
// the bench/ harness's table) from MariaDB into a sink that discards the
// rows: row decoding, normalising and the driver. One op is the whole
// table; allocs/op divided by 20,000 is the allocations per row.
func BenchmarkStream(b *testing.B) {
	const rows = 20_000
	db := testdb.Open(b)
	name := testdb.Prefix() + "stream"
	testdb.Create(b, db, name)
	testdb.Exec(b, db, "USE `"+name+"`")
	testdb.Exec(b, db, `CREATE TABLE mail (
  id BIGINT PRIMARY KEY, account_id INT NOT NULL, campaign_id INT NULL,
  status ENUM('queued','sent','delivered','bounced') NOT NULL, to_address VARCHAR(255) NOT NULL,
  subject VARCHAR(255) NOT NULL, body TEXT NOT NULL, meta JSON NULL, cost DECIMAL(12,2) NULL,
  scheduled_at DATETIME(6) NOT NULL, sent_at TIMESTAMP NULL, retries TINYINT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL)`)
	testdb.Exec(b, db, `INSERT INTO mail SELECT n, n % 5000, IF(n % 7 = 0, NULL, n % 300), ELT(n % 4 + 1, 'queued','sent','delivered','bounced'),
  CONCAT('user', n, '@example.co.jp'), CONCAT('"重要" お知らせ #', n), CONCAT('山田様\n注文', n, ', "', n % 9973, '円", いつもありがとうございます。'),
  JSON_OBJECT('utm', 'mail', 'ab', n % 2), IF(n % 11 = 0, NULL, n / 100),
  TIMESTAMP('2026-01-01') + INTERVAL n SECOND, IF(n % 5 = 0, NULL, FROM_UNIXTIME(1767225600 + n)), n % 4,
  TIMESTAMP('2026-01-01') + INTERVAL n SECOND + INTERVAL 123456 MICROSECOND
FROM (SELECT a.i + 10*b.i + 100*c.i + 1000*d.i + 10000*e.i AS n
  FROM (SELECT 0 i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a,
       (SELECT 0 i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b,
       (SELECT 0 i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c,
       (SELECT 0 i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) d,
       (SELECT 0 i UNION ALL SELECT 1) e) s`)
	srv, err := Open("db1", testdb.DSN(), Options{MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	q, err := ParseQuery("SELECT * FROM mail")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var sink discardSink
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n, err := srv.Stream(ctx, name, q, nil, &sink, Options{})
		if err != nil || n != rows {
			b.Fatalf("got %d rows, %v; want %d, nil", n, err, rows)
		}
	}
	b.ReportMetric(float64(sink.rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(sink.bytes)/float64(sink.rows), "value-B/row")
}
