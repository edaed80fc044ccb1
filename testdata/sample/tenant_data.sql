-- Deterministic sample data for ONE tenant database, varying by tenant.
--
-- Set @tenant_no (1..999) in the same session, then run this file with the
-- tenant database selected and the tables of tenant_schema.sql empty:
--   { echo 'SET @tenant_no = 2;'; cat tenant_schema.sql tenant_data.sql; } \
--     | mysql --default-character-set=utf8mb4 crm_t002
-- load.sh does exactly that.
--
-- Needs MySQL 8.0+ or MariaDB 10.2+ (CTEs, window functions). No recursive
-- CTEs: row sources are cross joins of a ten-row digits CTE, so neither
-- cte_max_recursion_depth (MySQL) nor max_recursive_iterations (MariaDB)
-- matters. No RAND(): every "random" choice is CRC32 of a string naming the
-- table, the tenant and the row, so a tenant's data is the same on every load
-- and on every server.
--
-- Sizes grow with k = (@tenant_no - 1) MOD 10:
--   accounts 20 + 10k, mail_requests 30 + 5k (+1 fixed), support searches
--   ~200 + 40k, access logs ~(600 + 150k) thinned on weekends, logins and
--   mail sends depend on the hashes.
--
-- Dates: 2026-11-18 (Wed) to 2026-11-28 (Sat), JST wall clock, around the
-- fixed run date 2026-11-25. Weekends are quieter. Window-edge rows, present
-- in every tenant (the window for 2026-11-25 is [11-25 00:00, 11-26 00:00)):
--   logins        account 1 at 11-24 23:59:59 (out), 11-25 00:00:00 (in),
--                 11-26 00:00:00 (out)
--   access_logs   user0001 dashboard_widgets/index GET at 11-24 23:59:59.999999
--                 (out), 11-25 00:00:00.000000 (in), 11-25 23:59:59.999999 (in),
--                 11-26 00:00:00.000000 (out)
--   support_searches, hits = 0: 'クーポン 使えない' 11-24 23:59:59 (out),
--                 '年末年始 休業' 11-25 00:00:00 (in), '年末年始 営業日'
--                 11-26 00:00:00 (out)
--   mail          request n = 17 is reserved for 11-24 23:55 and keeps sending
--                 past midnight into 11-25; request @tenant_no*10000 + 999 was
--                 sent on 11-25 and both its sends are deferred (cost NULL).
-- Awkward values on purpose: Japanese, emoji (incl. ZWJ and variation
-- selectors), quotes, commas, newlines, CRLF, a tab, a backslash, '' and
-- NULLs; support keywords that utf8mb4_unicode_ci folds together ('🍣'/'🍺',
-- 'はは'/'ぱぱ', 'CSV'/'csv'/'ＣＳＶ').

SET NAMES utf8mb4;
-- mail_requests.created_at/modified_at are TIMESTAMPs: read the literals
-- below as JST.
SET time_zone = '+09:00';

-- Fails with "Subquery returns more than 1 row" unless @tenant_no is 1..999,
-- so that a loader that forgot it does not silently load the same data
-- everywhere.
SET @td_check = (SELECT 1 FROM (SELECT 1 AS x UNION ALL SELECT 2) two
                 WHERE @tenant_no IS NULL OR @tenant_no NOT BETWEEN 1 AND 999);

SET @td_k        = (@tenant_no - 1) MOD 10;
SET @td_accounts = 20 + 10 * @td_k;
SET @td_access   = 600 + 150 * @td_k;
SET @td_mails    = 30 + 5 * @td_k;
SET @td_searches = 200 + 40 * @td_k;

-- ---------------------------------------------------------------- accounts
-- The last two accounts are new: created on 11-25 and 11-26.
INSERT INTO accounts (id, login_code, name, created_at)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 100 * c.n + 1 AS id FROM d a CROSS JOIN d b CROSS JOIN d c),
     h AS (SELECT id,
                  CRC32(CONCAT_WS('/', 'account', @tenant_no, id)) AS h1,
                  CRC32(CONCAT_WS('/', 'account-name', @tenant_no, id)) AS h2
           FROM seq WHERE id <= @td_accounts)
SELECT id,
       CONCAT('user', LPAD(id, 4, '0')),
       CASE id
         WHEN 3 THEN 'O''Hara, "Ken"'
         WHEN 7 THEN CONCAT('山田 太郎', CHAR(10 USING utf8mb4), '(営業部)')
         WHEN 9 THEN 'ｶﾅ ﾀﾛｳ'
         ELSE CONCAT(ELT(1 + h1 MOD 20, '佐藤', '鈴木', '高橋', '田中', '伊藤', '渡辺', '山本', '中村', '小林', '加藤',
                                        '吉田', '山田', '佐々木', '山口', '松本', '井上', '木村', '林', '斎藤', '清水'),
                     ' ',
                     ELT(1 + h2 MOD 20, '太郎', '花子', '翔', '陽菜', '蓮', '結衣', '大輔', '美咲', '健一', 'さくら',
                                        '拓也', '葵', '直樹', '優子', '誠', '愛', '悠真', '七海', '隆', '𠮷乃'))
       END,
       CASE
         WHEN id = @td_accounts - 1 THEN TIMESTAMP '2026-11-25 10:15:00'
         WHEN id = @td_accounts     THEN TIMESTAMP '2026-11-26 09:30:00'
         ELSE TIMESTAMP '2025-04-01 00:00:00' + INTERVAL (h1 DIV 20) MOD 590 DAY
                                              + INTERVAL 9 * 3600 + (h2 DIV 20) MOD 32400 SECOND
       END
FROM h;

-- ------------------------------------------------------------------ logins
-- Each account may log in up to four times a day; how likely depends on the
-- account (heavy and light users) and the weekday.
INSERT INTO logins (id, account_id, logged_in_at, client_addr, user_agent)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     days AS (SELECT a.n + 10 * b.n AS day_no FROM d a CROSS JOIN d b WHERE a.n + 10 * b.n <= 10),
     cand AS (SELECT a.id AS account_id, a.created_at,
                     TIMESTAMP '2026-11-18 00:00:00' + INTERVAL days.day_no DAY AS day,
                     CRC32(CONCAT_WS('/', 'login', @tenant_no, a.id, days.day_no, s.n)) AS h,
                     5 + (a.id * 37 + @tenant_no * 11) MOD 50 AS pct
              FROM accounts a CROSS JOIN days CROSS JOIN d s
              WHERE s.n < 4),
     kept AS (SELECT account_id, h, day + INTERVAL 7 * 3600 + (h DIV 100) MOD (14 * 3600) SECOND AS at, created_at
              FROM cand
              WHERE h MOD 100 < CASE WHEN DAYOFWEEK(day) IN (1, 7) THEN pct DIV 4 ELSE pct END
              UNION ALL SELECT 1, 11, TIMESTAMP '2026-11-24 23:59:59', TIMESTAMP '2000-01-01 00:00:00'
              UNION ALL SELECT 1, 22, TIMESTAMP '2026-11-25 00:00:00', TIMESTAMP '2000-01-01 00:00:00'
              UNION ALL SELECT 1, 33, TIMESTAMP '2026-11-26 00:00:00', TIMESTAMP '2000-01-01 00:00:00')
SELECT ROW_NUMBER() OVER (ORDER BY at, account_id, h),
       account_id,
       at,
       CASE WHEN h MOD 7 = 0
            THEN CONCAT('2001:db8:', LOWER(HEX(@tenant_no)), ':', LOWER(HEX(account_id)), '::', LOWER(HEX(h MOD 65536)))
            ELSE CONCAT(ELT(1 + account_id MOD 3, '192.0.2.', '198.51.100.', '203.0.113.'),
                        1 + (account_id * 7 + @tenant_no) MOD 254)
       END,
       ELT(1 + (h DIV 7) MOD 6,
           'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
           'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
           'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
           'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0',
           NULL,
           'curl/8.5.0')
FROM kept
WHERE at >= created_at;

-- ------------------------------------------------------------- access_logs
-- Endpoint popularity is skewed (buckets out of 100), and so are users: low
-- account ids are the heavy users. The login form and preview links are used
-- before login, so they carry no user.
INSERT INTO access_logs (id, account_name, login_user_code, controller_name, action_name, http_method, client_addr, requested_at)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n AS n FROM d a CROSS JOIN d b CROSS JOIN d c CROSS JOIN d e),
     endpoints (lo, hi, controller_name, action_name, http_method, anonymous) AS (
                 SELECT  0, 17, 'dashboard_widgets', 'index', 'GET', 0
       UNION ALL SELECT 18, 25, 'administrators', 'dashboard_widget_customer_overview', 'GET', 0
       UNION ALL SELECT 26, 37, 'reports', 'index', 'GET', 0
       UNION ALL SELECT 38, 41, 'reports', 'index', 'POST', 0
       UNION ALL SELECT 42, 47, 'reports', 'mail_data', 'GET', 0
       UNION ALL SELECT 48, 52, 'administrators', 'login', 'POST', 1
       UNION ALL SELECT 53, 56, 'Previews', 'preview_editing', 'POST', 0
       UNION ALL SELECT 57, 59, 'Previews', 'loading', 'GET', 1
       UNION ALL SELECT 60, 63, 'uploads', 'index', 'GET', 0
       UNION ALL SELECT 64, 65, 'upload_errors', 'index', 'POST', 0
       UNION ALL SELECT 66, 72, 'mail_requests', 'index', 'GET', 0
       UNION ALL SELECT 73, 76, 'mail_requests', 'create', 'POST', 0
       UNION ALL SELECT 77, 80, 'segments', 'index', 'GET', 0
       UNION ALL SELECT 81, 84, 'rfm_analyses', 'show', 'GET', 0
       UNION ALL SELECT 85, 87, 'cpm_analyses', 'show', 'GET', 0
       UNION ALL SELECT 88, 90, 'flowcharts', 'edit', 'GET', 0
       UNION ALL SELECT 91, 92, 'flowcharts', 'update', 'PATCH', 0
       UNION ALL SELECT 93, 94, 'line_messages', 'create', 'POST', 0
       UNION ALL SELECT 95, 96, 'customers', 'export', 'GET', 0
       UNION ALL SELECT 97, 97, 'customers', 'destroy', 'DELETE', 0
       UNION ALL SELECT 98, 99, 'api/v1/customers', 'index', 'GET', 0),
     req AS (SELECT n,
                    CRC32(CONCAT_WS('/', 'access', @tenant_no, n)) AS h,
                    TIMESTAMP '2026-11-18 00:00:00' + INTERVAL n MOD 11 DAY AS day
             FROM seq WHERE n < @td_access),
     rows_ AS (SELECT req.h,
                      1 + ((req.h DIV 100) MOD @td_accounts) * ((req.h DIV 100) MOD @td_accounts) DIV @td_accounts AS account_id,
                      e.controller_name, e.action_name, e.http_method, e.anonymous,
                      req.day + INTERVAL 8 * 3600 + (req.h DIV 10000) MOD (13 * 3600) SECOND
                              + INTERVAL (req.h DIV 7) MOD 1000000 MICROSECOND AS requested_at
               FROM req JOIN endpoints e ON req.h MOD 100 BETWEEN e.lo AND e.hi
               WHERE DAYOFWEEK(req.day) NOT IN (1, 7) OR req.h MOD 4 = 0
               UNION ALL SELECT 1, 1, 'dashboard_widgets', 'index', 'GET', 0, TIMESTAMP '2026-11-24 23:59:59.999999'
               UNION ALL SELECT 2, 1, 'dashboard_widgets', 'index', 'GET', 0, TIMESTAMP '2026-11-25 00:00:00.000000'
               UNION ALL SELECT 3, 1, 'dashboard_widgets', 'index', 'GET', 0, TIMESTAMP '2026-11-25 23:59:59.999999'
               UNION ALL SELECT 4, 1, 'dashboard_widgets', 'index', 'GET', 0, TIMESTAMP '2026-11-26 00:00:00.000000')
SELECT ROW_NUMBER() OVER (ORDER BY r.requested_at, r.h),
       CASE WHEN r.anonymous = 0 THEN a.name END,
       CASE WHEN r.anonymous = 0 THEN a.login_code END,
       r.controller_name, r.action_name, r.http_method,
       CASE
         WHEN r.h MOD 23 = 0 THEN NULL
         WHEN r.h MOD 5 = 0 THEN CONCAT('2001:db8:', LOWER(HEX(@tenant_no)), ':', LOWER(HEX(r.account_id)), '::1')
         ELSE CONCAT(ELT(1 + r.account_id MOD 3, '192.0.2.', '198.51.100.', '203.0.113.'), 1 + (r.account_id * 7 + @tenant_no) MOD 254)
       END,
       r.requested_at
FROM rows_ r JOIN accounts a ON a.id = r.account_id;

-- ----------------------------------------------------------- mail_requests
-- n MOD 11 picks the day (11-18 .. 11-28). Requests for 11-28 are still
-- 'reserved'; some are cancelled or drafts; every fifth is a triggered mail
-- sent at once (no reservation_time, all_target_count 0). n MOD 7 = 3 is
-- reserved for 23:55, so its sends run past midnight.
INSERT INTO mail_requests (id, from_address, subject, status, reservation_time, created_at, modified_at, all_target_count)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 1 AS n FROM d a CROSS JOIN d b),
     m AS (SELECT n,
                  CRC32(CONCAT_WS('/', 'mail', @tenant_no, n)) AS h,
                  TIMESTAMP '2026-11-18 00:00:00' + INTERVAL n MOD 11 DAY AS day,
                  CASE
                    WHEN n MOD 11 = 10 THEN 'reserved'
                    WHEN n MOD 17 = 5 THEN 'cancelled'
                    WHEN n MOD 19 = 7 THEN 'draft'
                    ELSE 'sent'
                  END AS status,
                  n MOD 5 = 0 AS triggered
           FROM seq WHERE n <= @td_mails),
     m2 AS (SELECT m.*,
                   CASE
                     WHEN status = 'draft' OR (triggered AND status = 'sent') THEN NULL
                     WHEN n MOD 7 = 3 THEN day + INTERVAL 23 * 60 + 55 MINUTE
                     ELSE day + INTERVAL ELT(1 + h MOD 6, 9 * 60, 10 * 60, 12 * 60, 12 * 60 + 30, 18 * 60, 20 * 60) MINUTE
                   END AS reservation_time
            FROM m)
SELECT @tenant_no * 10000 + n,
       ELT(1 + (h DIV 11) MOD 4,
           'news@example.co.jp',
           '"サンプル商事, 広報" <info@example.co.jp>',
           'noreply@mail.example.jp',
           'Support Team <support@example.com>'),
       CASE
         WHEN triggered AND status = 'sent' THEN
           ELT(1 + (h DIV 7) MOD 3, 'ご登録ありがとうございます', 'パスワード再設定のご案内', 'ご注文確認 #注文番号')
         ELSE ELT(1 + (h DIV 13) MOD 14,
           '【11/25限定】ブラックフライデー🎉最大50%OFF',
           'ご登録ありがとうございます',
           '"VIP" 会員様へ, 特別なご案内',
           'ポイント失効のお知らせ⏰',
           '年末年始の営業について',
           'Re: お問い合わせの件',
           '🎄クリスマス早割 はじまりました🎁',
           CONCAT('【重要】システムメンテナンスのお知らせ', CHAR(10 USING utf8mb4), '(12/1 2時〜5時)'),
           'カートに商品が残っています🛒',
           'お誕生日おめでとうございます🎂',
           'New arrivals: Winter collection ❄️',
           CONCAT('会員ランク更新のお知らせ', CHAR(13, 10 USING utf8mb4), 'Gold → Platinum'),
           'アンケートご協力のお願い（所要時間 3分）',
           '👨‍👩‍👧 家族割キャンペーン')
       END,
       status,
       reservation_time,
       CASE
         WHEN reservation_time IS NOT NULL THEN reservation_time - INTERVAL 1 + (h DIV 17) MOD 72 HOUR
         ELSE day + INTERVAL 7 * 3600 + (h DIV 17) MOD (14 * 3600) SECOND
       END AS created_at,
       CASE
         WHEN status = 'sent' THEN COALESCE(reservation_time, day + INTERVAL 7 * 3600 + (h DIV 17) MOD (14 * 3600) SECOND) + INTERVAL 2 HOUR
         WHEN reservation_time IS NOT NULL THEN reservation_time - INTERVAL 1 + (h DIV 17) MOD 72 HOUR + INTERVAL 5 MINUTE
         ELSE day + INTERVAL 7 * 3600 + (h DIV 17) MOD (14 * 3600) SECOND + INTERVAL 5 MINUTE
       END AS modified_at,
       CASE WHEN triggered AND status = 'sent' THEN 0 ELSE 5 + (h DIV 19) MOD (25 + 5 * @td_k) END
FROM m2;

-- A triggered mail on the run date whose two attempts are both deferred, so
-- its day has no billed cost (total_cost NULL in mail_send_counts).
INSERT INTO mail_requests (id, from_address, subject, status, reservation_time, created_at, modified_at, all_target_count)
VALUES (@tenant_no * 10000 + 999, 'noreply@mail.example.jp', 'パスワード再設定のご案内', 'sent', NULL,
        '2026-11-25 15:00:00', '2026-11-25 15:10:00', 0);

-- ---------------------------------------------------------- mail_send_logs
-- One attempt per target of each sent request, from its reservation time
-- (or two minutes after creation for triggered mails), a few seconds apart.
-- 88% sent, 7% bounced, 5% deferred (unbilled, cost NULL).
INSERT INTO mail_send_logs (id, mail_request_id, sent_at, to_address, result, cost, meta)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 100 * c.n AS n FROM d a CROSS JOIN d b CROSS JOIN d c),
     r AS (SELECT id,
                  COALESCE(reservation_time, CAST(created_at AS DATETIME) + INTERVAL 2 MINUTE) AS start_at,
                  CASE WHEN reservation_time IS NULL
                       THEN 1 + CRC32(CONCAT_WS('/', 'sends', @tenant_no, id)) MOD 4
                       ELSE all_target_count END AS attempts,
                  5 + CRC32(CONCAT_WS('/', 'gap', @tenant_no, id)) MOD 60 AS gap,
                  CASE id MOD 3 WHEN 0 THEN 0.35 WHEN 1 THEN 0.50 ELSE 1.20 END AS unit_cost
           FROM mail_requests
           WHERE status = 'sent' AND id <> @tenant_no * 10000 + 999),
     s AS (SELECT r.id AS mail_request_id, seq.n AS i, r.unit_cost,
                  CRC32(CONCAT_WS('/', 'send', @tenant_no, r.id, seq.n)) AS h,
                  r.start_at + INTERVAL seq.n * r.gap SECOND AS at
           FROM r JOIN seq ON seq.n < r.attempts),
     s2 AS (SELECT s.*,
                   CASE WHEN (h DIV 1000000) MOD 100 < 88 THEN 'sent'
                        WHEN (h DIV 1000000) MOD 100 < 95 THEN 'bounced'
                        ELSE 'deferred' END AS result,
                   at + INTERVAL h MOD 1000000 MICROSECOND AS sent_at,
                   CONCAT(ELT(1 + (h DIV 3) MOD 5, 'c', 'member', 'taro.', 'info+', 'k_'), LPAD((h DIV 17) MOD 100000, 5, '0'),
                          '@', ELT(1 + (h DIV 5) MOD 4, 'example.com', 'example.jp', 'example.net', 'mail.example.co.jp')) AS to_address
            FROM s
            UNION ALL SELECT @tenant_no * 10000 + 999, 0, 0.35, 101, TIMESTAMP '2026-11-25 15:02:00', 'deferred',
                             TIMESTAMP '2026-11-25 15:02:00.123456', 'member00001@example.jp'
            UNION ALL SELECT @tenant_no * 10000 + 999, 1, 0.35, 202, TIMESTAMP '2026-11-25 15:07:00', 'deferred',
                             TIMESTAMP '2026-11-25 15:07:00.654321', 'member00001@example.jp')
SELECT ROW_NUMBER() OVER (ORDER BY sent_at, mail_request_id, i),
       mail_request_id,
       sent_at,
       to_address,
       result,
       CASE WHEN result = 'deferred' THEN NULL ELSE unit_cost END,
       CASE result
         WHEN 'sent' THEN CASE WHEN h MOD 10 = 0 THEN NULL
                               ELSE JSON_OBJECT('smtp_code', 250, 'mx', CONCAT('mx', 1 + h MOD 3, '.', SUBSTRING_INDEX(to_address, '@', -1))) END
         WHEN 'bounced' THEN JSON_OBJECT('smtp_code', 550, 'reason', '5.1.1 宛先不明 "user unknown", 再送しません')
         ELSE JSON_OBJECT('smtp_code', 451, 'retry_after', 300)
       END
FROM s2;

-- -------------------------------------------------------- support_searches
-- 55% of searches use one of ten keywords that find pages; the rest spread
-- over keywords that find nothing (hits = 0).
INSERT INTO support_searches (id, keyword, hits, searched_at, client_addr)
WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
           UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
     seq AS (SELECT a.n + 10 * b.n + 100 * c.n AS n FROM d a CROSS JOIN d b CROSS JOIN d c),
     kw (i, keyword, base_hits) AS (
                 SELECT  0, 'メール配信 予約', 12
       UNION ALL SELECT  1, 'CSV出力', 8
       UNION ALL SELECT  2, 'RFM分析とは', 5
       UNION ALL SELECT  3, 'ログインできない', 3
       UNION ALL SELECT  4, 'パスワード再設定', 4
       UNION ALL SELECT  5, 'セグメント 作成', 6
       UNION ALL SELECT  6, 'LINE連携', 2
       UNION ALL SELECT  7, 'フローチャート', 7
       UNION ALL SELECT  8, 'バウンス', 2
       UNION ALL SELECT  9, 'API', 9
       UNION ALL SELECT 10, '配信停止 できない', 0
       UNION ALL SELECT 11, '🍣', 0
       UNION ALL SELECT 12, '🍺', 0
       UNION ALL SELECT 13, 'はは', 0
       UNION ALL SELECT 14, 'ぱぱ', 0
       UNION ALL SELECT 15, 'ＣＳＶ　文字化け', 0
       UNION ALL SELECT 16, 'csv 文字化け', 0
       UNION ALL SELECT 17, 'CSV 文字化け', 0
       UNION ALL SELECT 18, 'インボイス制度', 0
       UNION ALL SELECT 19, '請求書, 再発行', 0
       UNION ALL SELECT 20, '"二段階認証"', 0
       UNION ALL SELECT 21, CONCAT('改行', CHAR(10 USING utf8mb4), 'テスト'), 0
       UNION ALL SELECT 22, '', 0
       UNION ALL SELECT 23, 'テンプレート😊 絵文字', 0
       UNION ALL SELECT 24, 'O''Reilly', 0
       UNION ALL SELECT 25, CONCAT('C:', CHAR(92 USING utf8mb4), 'Users', CHAR(92 USING utf8mb4), 'ダウンロード'), 0
       UNION ALL SELECT 26, CONCAT('タブ', CHAR(9 USING utf8mb4), '区切り'), 0
       UNION ALL SELECT 27, 'QuickSight 連携', 0),
     q AS (SELECT n,
                  CRC32(CONCAT_WS('/', 'search', @tenant_no, n)) AS h,
                  TIMESTAMP '2026-11-18 00:00:00' + INTERVAL n MOD 11 DAY AS day
           FROM seq WHERE n < @td_searches),
     q2 AS (SELECT q.h,
                   CASE WHEN q.h MOD 40 < 22 THEN q.h MOD 10 ELSE 10 + (q.h DIV 40) MOD 18 END AS i,
                   q.day + INTERVAL (q.h DIV 1000) MOD 86400 SECOND AS searched_at
            FROM q
            UNION ALL SELECT 1, 100, TIMESTAMP '2026-11-24 23:59:59'
            UNION ALL SELECT 2, 101, TIMESTAMP '2026-11-25 00:00:00'
            UNION ALL SELECT 3, 102, TIMESTAMP '2026-11-26 00:00:00'),
     kw_all AS (SELECT i, keyword, base_hits FROM kw
                UNION ALL SELECT 100, 'クーポン 使えない', 0
                UNION ALL SELECT 101, '年末年始 休業', 0
                UNION ALL SELECT 102, '年末年始 営業日', 0)
SELECT ROW_NUMBER() OVER (ORDER BY q2.searched_at, q2.h),
       kw_all.keyword,
       CASE WHEN kw_all.base_hits = 0 THEN 0 ELSE kw_all.base_hits + (q2.h DIV 40) MOD 5 END,
       q2.searched_at,
       CASE
         WHEN q2.h MOD 9 = 0 THEN NULL
         WHEN q2.h MOD 4 = 0 THEN CONCAT('2001:db8:ffff:', LOWER(HEX(q2.h MOD 65536)), '::', LOWER(HEX((q2.h DIV 65536) MOD 65536)))
         ELSE CONCAT('203.0.113.', 1 + (q2.h DIV 9) MOD 254)
       END
FROM q2 JOIN kw_all ON kw_all.i = q2.i;
