-- Which screens are used, and by how many people: requests per controller
-- action and HTTP method in the window, from the application's access log.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
--
-- distinct_users counts login_user_code values; requests made before login
-- (NULL user) count in hits but not in distinct_users.
SELECT
  controller_name,
  action_name,
  http_method,
  COUNT(*)                        AS hits,
  COUNT(DISTINCT login_user_code) AS distinct_users
FROM access_logs
WHERE requested_at >= CAST(:window_start AS DATETIME)
  AND requested_at <  CAST(:window_end AS DATETIME)
GROUP BY controller_name, action_name, http_method
ORDER BY hits DESC, controller_name, action_name, http_method
