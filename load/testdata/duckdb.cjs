// Runs the SQL statement read from standard input in an in-memory DuckDB and prints its rows as a
// JSON array of arrays (big integers as strings). Used by the load tests to
// read Parquet files with a reader independent of parquet-go; NODE_PATH
// names the folder holding @duckdb/node-api.
const { DuckDBInstance } = require('@duckdb/node-api');

(async () => {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const result = await con.runAndReadAll(Buffer.concat(chunks).toString('utf8'));
  process.stdout.write(JSON.stringify(result.getRowsJson()));
})().catch((err) => {
  process.stderr.write(String(err && err.message ? err.message : err) + '\n');
  process.exit(1);
});
