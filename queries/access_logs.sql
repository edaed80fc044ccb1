-- The application's access log rows in the window, unaggregated: the
-- "access" table of the Athena example. mallet adds the tenant column.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
--
-- account_name and login_user_code are NULL before login; requested_at has
-- microseconds; id is BIGINT UNSIGNED.
SELECT
  id,
  account_name,
  login_user_code,
  controller_name,
  action_name,
  http_method,
  client_addr,
  requested_at
FROM access_logs
WHERE requested_at >= CAST(:window_start AS DATETIME)
  AND requested_at <  CAST(:window_end AS DATETIME)
ORDER BY id
