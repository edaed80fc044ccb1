package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log"
	"strings"
	"time"
)

// mailDDL is the benchmark tenant table: 13 columns of a CRM mail log.
const mailDDL = `CREATE TABLE mail (
  id           BIGINT NOT NULL PRIMARY KEY,
  account_id   INT NOT NULL,
  campaign_id  INT NULL,
  status       ENUM('queued','sent','delivered','bounced','opened','clicked') NOT NULL,
  to_address   VARCHAR(255) NOT NULL,
  subject      VARCHAR(255) NOT NULL,
  body         TEXT NOT NULL,
  meta         JSON NULL,
  cost         DECIMAL(12,2) NULL,
  scheduled_at DATETIME(6) NOT NULL,
  sent_at      TIMESTAMP NULL,
  retries      TINYINT UNSIGNED NOT NULL,
  updated_at   DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// mailSelect produces row n of the table, deterministically. The body holds
// Japanese text, double quotes, commas and line breaks, so CSV quoting and
// multi-byte text are both exercised.
const mailSelect = `SELECT n,
  n % 5000 + 1,
  IF(n % 7 = 0, NULL, n % 300),
  ELT(n % 6 + 1, 'queued','sent','delivered','bounced','opened','clicked'),
  CONCAT('user', n % 100000, '@example', n % 13, '.co.jp'),
  ELT(n % 4 + 1, '新商品のご案内', '年末セール開催中', 'ご利用ありがとうございます', '"重要" アカウント確認'),
  CONCAT('山田様\n注文', n, ', "', n % 9973, '円", いつもありがとうございます。', REPEAT('よろしく', n % 2), '\n', ELT(n % 3 + 1, 'ご確認ください', 'またのご利用を', '')),
  JSON_OBJECT('utm', ELT(n % 3 + 1, 'mail', 'line', 'web'), 'ab', n % 2, 'tags', JSON_ARRAY('vip', n % 10)),
  IF(n % 11 = 0, NULL, (n % 1000000) / 100),
  TIMESTAMP('2026-01-01') + INTERVAL n SECOND + INTERVAL (n * 7919) % 1000000 MICROSECOND,
  IF(n % 5 = 0, NULL, FROM_UNIXTIME(1767225600 + n)),
  n % 4,
  TIMESTAMP('2026-01-01') + INTERVAL n + n % 3600 SECOND + INTERVAL (n * 104729) % 1000000 MICROSECOND
FROM (SELECT {expr} AS n FROM {from}) AS s WHERE n < {limit}`

// specHash names the generator's version: a data set made by other SQL is
// made again.
func specHash() string {
	h := sha256.Sum256([]byte("rebuilt\n" + mailDDL + mailSelect))
	return hex.EncodeToString(h[:8])
}

// dataset makes database db hold rows rows of the mail table, unless the
// catalogue says it already does (and COUNT(*) agrees).
func dataset(ctx context.Context, conn *sql.Conn, db string, rows int64, copyFrom string) error {
	var hash string
	var have int64
	err := conn.QueryRowContext(ctx, "SELECT spec, rows_n FROM mallet_bench.datasets WHERE name = ?", db).Scan(&hash, &have)
	if err == nil && hash == specHash() && have == rows {
		var n int64
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+db+"`.mail").Scan(&n); err == nil && n == rows {
			return nil
		}
	}
	start := time.Now()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS `" + db + "`",
		"CREATE DATABASE `" + db + "`",
		"USE `" + db + "`",
		mailDDL,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create %s: %w", db, err)
		}
	}
	if copyFrom != "" {
		if _, err := conn.ExecContext(ctx, "INSERT INTO mail SELECT * FROM `"+copyFrom+"`.mail"); err != nil {
			return fmt.Errorf("fill %s: %w", db, err)
		}
	} else {
		const chunk = 1_000_000
		for off := int64(0); off < rows; off += chunk {
			size := min(chunk, rows-off)
			if _, err := conn.ExecContext(ctx, "INSERT INTO mail "+numbers(off, size, rows)); err != nil {
				return fmt.Errorf("fill %s: %w", db, err)
			}
		}
		// The cross join yields n out of order, so pages split as they
		// fill; a rebuild packs them, for the same size every time.
		if _, err := conn.ExecContext(ctx, "ALTER TABLE mail FORCE"); err != nil {
			return fmt.Errorf("rebuild %s: %w", db, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "REPLACE INTO mallet_bench.datasets VALUES (?, ?, ?)", db, specHash(), rows); err != nil {
		return err
	}
	log.Printf("created %s: %d rows in %s", db, rows, time.Since(start).Round(time.Millisecond))
	return nil
}

// numbers is mailSelect over n in [off, min(off+size, limit)), made from
// cross-joined digit tables.
func numbers(off, size, limit int64) string {
	var expr, from []string
	expr = append(expr, fmt.Sprint(off))
	for i, p := 0, int64(1); p < size; i, p = i+1, p*10 {
		expr = append(expr, fmt.Sprintf("%d*d%d.i", p, i))
		from = append(from, fmt.Sprintf("mallet_bench.digits d%d", i))
	}
	if len(from) == 0 {
		from = append(from, "mallet_bench.digits d0")
		expr = append(expr, "0*d0.i")
	}
	return strings.NewReplacer("\n", " ", "{expr}", strings.Join(expr, "+"), "{from}", strings.Join(from, " CROSS JOIN "),
		"{limit}", fmt.Sprint(min(off+size, limit))).Replace(mailSelect)
}

// prepare creates the catalogue, the big tenant (unless big is "") and the
// fleet.
func prepare(ctx context.Context, dsn string, big string, rows int64, fleet []string, fleetRows int64) error {
	pool, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION unique_checks = 0",
		"CREATE DATABASE IF NOT EXISTS mallet_bench",
		"CREATE TABLE IF NOT EXISTS mallet_bench.digits (i INT PRIMARY KEY)",
		"INSERT IGNORE INTO mallet_bench.digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
		"CREATE TABLE IF NOT EXISTS mallet_bench.datasets (name VARCHAR(64) PRIMARY KEY, spec VARCHAR(64), rows_n BIGINT)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if big != "" {
		if err := dataset(ctx, conn, big, rows, ""); err != nil {
			return err
		}
	}
	for i, db := range fleet {
		from := ""
		if i > 0 {
			from = fleet[0]
		}
		if err := dataset(ctx, conn, db, fleetRows, from); err != nil {
			return err
		}
	}
	return nil
}

// largeDB holds the large-values table.
const largeDB = "mbench_large"

// docDDL is a table of HTML documents (mail templates, rendered bodies):
// one LONGTEXT of about 1 MiB per row that compresses well, as real
// templates do.
const docDDL = `CREATE TABLE doc (
  id    BIGINT NOT NULL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  body  LONGTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// docSelect makes row n: 22,795 paragraphs of 46 bytes (1,048,570 bytes)
// between a head and a tail naming the row.
const docSelect = `SELECT n, CONCAT('テンプレート ', n),
  CONCAT('<html><body><h1>', n, '</h1>\n',
         REPEAT(CONCAT('<p>ご案内 ', n % 10, ' lorem ipsum dolor sit amet</p>\n'), 22795),
         '<footer>', n, '</footer></body></html>')
FROM (SELECT d0.i + 10 * d1.i + 100 * d2.i AS n
      FROM mallet_bench.digits d0 CROSS JOIN mallet_bench.digits d1 CROSS JOIN mallet_bench.digits d2) AS s
WHERE n < ?`

// prepareLarge makes db hold rows rows of the doc table (at most 1,000),
// unless the catalogue says it already does.
func prepareLarge(ctx context.Context, dsn, db string, rows int64) error {
	if rows > 1000 {
		return fmt.Errorf("large: %d rows, at most 1000", rows)
	}
	if err := prepare(ctx, dsn, "", 0, nil, 0); err != nil { // the catalogue and digits
		return err
	}
	pool, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	h := sha256.Sum256([]byte(docDDL + docSelect))
	spec := hex.EncodeToString(h[:8])
	var have int64
	var hash string
	err = pool.QueryRowContext(ctx, "SELECT spec, rows_n FROM mallet_bench.datasets WHERE name = ?", db).Scan(&hash, &have)
	if err == nil && hash == spec && have == rows {
		var n int64
		if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+db+"`.doc").Scan(&n); err == nil && n == rows {
			return nil
		}
	}
	start := time.Now()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS `" + db + "`",
		"CREATE DATABASE `" + db + "`",
		"USE `" + db + "`",
		docDDL,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create %s: %w", db, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO doc "+docSelect, rows); err != nil {
		return fmt.Errorf("fill %s: %w", db, err)
	}
	if _, err := conn.ExecContext(ctx, "REPLACE INTO mallet_bench.datasets VALUES (?, ?, ?)", db, spec, rows); err != nil {
		return err
	}
	log.Printf("created %s: %d rows in %s", db, rows, time.Since(start).Round(time.Millisecond))
	return nil
}
