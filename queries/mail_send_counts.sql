-- Mail sends per mail request and JST day, as the v_mail_count_jst dataset
-- that QuickSight joins with cl_mapping: one row per mail request and day
-- with at least one delivery attempt in the window.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
--
-- sent_count and bounced_count count attempts by result; deferred attempts
-- count in neither and cost nothing yet, so total_cost is NULL on a day with
-- only deferred attempts. created_at is a TIMESTAMP column: it is converted
-- from the session's time zone to JST so the output does not depend on how
-- the connection was set up. reservation_time is NULL for triggered mails.
SELECT
  r.id                                                     AS mail_request_id,
  r.from_address,
  r.subject,
  r.reservation_time,
  CONVERT_TZ(r.created_at, @@session.time_zone, '+09:00') AS created_at,
  DATE(l.sent_at)                                          AS sent_day,
  COUNT(CASE WHEN l.result = 'sent' THEN 1 END)            AS sent_count,
  COUNT(CASE WHEN l.result = 'bounced' THEN 1 END)         AS bounced_count,
  SUM(l.cost)                                              AS total_cost,
  r.all_target_count
FROM mail_send_logs l
JOIN mail_requests r ON r.id = l.mail_request_id
WHERE l.sent_at >= CAST(:window_start AS DATETIME)
  AND l.sent_at <  CAST(:window_end AS DATETIME)
-- Every selected column is listed: MariaDB's ONLY_FULL_GROUP_BY does not
-- infer that they depend on r.id.
GROUP BY r.id, r.from_address, r.subject, r.reservation_time, r.created_at,
         r.all_target_count, DATE(l.sent_at)
ORDER BY sent_day, mail_request_id
