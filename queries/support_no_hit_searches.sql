-- Support-site searches that found nothing (hits = 0) in the window: the
-- keywords to write pages or add synonyms for.
--
-- Parameters (strings, JST): window_start, window_end; the window is
-- half-open, [window_start, window_end).
--
-- Keywords are grouped by their exact characters (utf8mb4_bin): under the
-- usual utf8mb4_general_ci or utf8mb4_unicode_ci every emoji equals every
-- other, 'はは' equals 'ぱぱ' and 'CSV' equals 'ＣＳＶ'. The CONVERT makes the
-- COLLATE valid whatever the column's character set; the derived table is
-- there because MariaDB's ONLY_FULL_GROUP_BY does not match the expression in
-- SELECT with the same expression in GROUP BY. The empty keyword is a search
-- submitted blank.
SELECT
  keyword,
  COUNT(*)         AS searches,
  MAX(searched_at) AS last_searched_at
FROM (
  SELECT CONVERT(keyword USING utf8mb4) COLLATE utf8mb4_bin AS keyword, searched_at
  FROM support_searches
  WHERE hits = 0
    AND searched_at >= CAST(:window_start AS DATETIME)
    AND searched_at <  CAST(:window_end AS DATETIME)
) no_hit
GROUP BY keyword
ORDER BY searches DESC, keyword
