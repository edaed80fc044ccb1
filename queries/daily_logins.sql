-- Logins per account in the window: is the customer actually using the
-- product, especially while onboarding. Accounts without a login in the window are absent.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
SELECT
  a.login_code,
  COUNT(*)            AS login_count,
  MIN(l.logged_in_at) AS first_login,
  MAX(l.logged_in_at) AS last_login
FROM logins l
JOIN accounts a ON a.id = l.account_id
WHERE l.logged_in_at >= CAST(:window_start AS DATETIME)
  AND l.logged_in_at <  CAST(:window_end AS DATETIME)
GROUP BY a.id, a.login_code
ORDER BY a.login_code
