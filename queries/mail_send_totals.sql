-- Delivery attempts and their cost per JST day and result, for a merge that
-- adds sends and cost across tenants, grouping by day and result.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
--
-- cost is never NULL (deferred attempts are unbilled and count as 0) so the
-- cross-tenant sum needs no NULL rule. Rows are ordered by the result ENUM's
-- declared order (sent, bounced, deferred), not alphabetically.
SELECT
  DATE(sent_at)          AS day,
  result,
  COUNT(*)               AS sends,
  COALESCE(SUM(cost), 0) AS cost
FROM mail_send_logs
WHERE sent_at >= CAST(:window_start AS DATETIME)
  AND sent_at <  CAST(:window_end AS DATETIME)
GROUP BY DATE(sent_at), result
ORDER BY day, result
