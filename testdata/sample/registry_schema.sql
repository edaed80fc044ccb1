-- Central registry: which customer (hostname) lives in which database on which
-- MySQL server. This is the cl_mapping that QuickSight joins to the per-tenant
-- datasets on `database`.
--
-- Apply with the registry database selected; @tenant_count (default 3) says how
-- many sample tenants crm_t001..crm_tNNN to register, all on server 'db1', and
-- @tenant_prefix (default none) what their names start with:
--   { echo 'SET @tenant_count = 5;'; cat registry_schema.sql; } \
--     | mysql --default-character-set=utf8mb4 crm_registry
-- Needs MySQL 8.0+ or MariaDB 10.2+ for the row generator; the table itself
-- is MySQL 5.7 compatible.

SET NAMES utf8mb4;

DROP TABLE IF EXISTS cl_mapping;

-- One row per customer hostname. A customer with a second (custom) hostname
-- would have two rows with the same `database`, so `database` is not unique.
CREATE TABLE cl_mapping (
  hostname    VARCHAR(255) NOT NULL,
  client_name VARCHAR(255) NOT NULL,
  server      VARCHAR(64)  NOT NULL COMMENT 'logical MySQL server name, e.g. db1',
  `database`  VARCHAR(64)  NOT NULL COMMENT 'schema name on that server',
  plan        VARCHAR(32)  NOT NULL,
  created_at  DATETIME     NOT NULL COMMENT 'JST wall clock',
  PRIMARY KEY (hostname),
  KEY ix_cl_mapping_server_database (server, `database`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO cl_mapping (hostname, client_name, server, `database`, plan, created_at)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 100 * c.n + 1 AS n FROM d a CROSS JOIN d b CROSS JOIN d c)
SELECT CONCAT(COALESCE(ELT(n, 'sample-shoji', 'hanamizuki', 'tokyo-outdoor', 'yamabiko', 'midori-coop',
                              'aoi-denki', 'nekonote', 'kyushu-farm', 'blue-ocean', 'sakura-fudosan'),
                       CONCAT('client', LPAD(n, 3, '0'))),
              '.kozuchi.example.jp'),
       COALESCE(ELT(n, '株式会社サンプル商事', 'ハナミズキ化粧品株式会社', 'Tokyo Outdoor, Inc.', '有限会社"やまびこ"製菓',
                       'みどり生活協同組合', '株式会社アオイ電機', '合同会社ねこの手', 'Kyushu Farm 🍓',
                       '株式会社ブルーオーシャン', 'さくら不動産株式会社'),
                CONCAT('サンプル顧客 ', n)),
       'db1',
       CONCAT(COALESCE(@tenant_prefix, ''), 'crm_t', LPAD(n, 3, '0')),
       ELT(1 + n MOD 3, 'standard', 'premium', 'enterprise'),
       TIMESTAMP '2019-04-01 10:00:00' + INTERVAL 37 * n DAY
FROM seq
WHERE n <= COALESCE(@tenant_count, 3);
