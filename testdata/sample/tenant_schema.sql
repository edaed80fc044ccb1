-- Tenant CRM schema: one copy per customer database (crm_t001, crm_t002, ...).
--
-- Apply with the tenant database selected, e.g.
--   mysql --default-character-set=utf8mb4 crm_t001 < tenant_schema.sql
-- Runs on MySQL 5.7, MySQL 8.0 and MariaDB 10.3+.
--
-- Time columns:
--   DATETIME columns hold JST (Asia/Tokyo, UTC+9, no DST) wall-clock time, as
--   the application writes them. Queries compare them with JST window bounds
--   directly.
--   TIMESTAMP columns (mail_requests.created_at, modified_at) are stored as
--   UTC instants and shown in the session's time_zone; read them with the
--   session at '+09:00' or convert them (see queries/mail_send_counts.sql).
--
-- Text is utf8mb4 (emoji, Japanese). The collation is utf8mb4_unicode_ci
-- because MySQL 8's default (utf8mb4_0900_ai_ci) does not exist on MariaDB.
-- Beware: under it all emoji compare equal ('🍣' = '🍺'), as do 'はは' and
-- 'ぱぱ', and 'CSV' and 'ＣＳＶ'; group by `col COLLATE utf8mb4_bin` when
-- exact values matter.

SET NAMES utf8mb4;

DROP TABLE IF EXISTS mail_send_logs;
DROP TABLE IF EXISTS mail_requests;
DROP TABLE IF EXISTS logins;
DROP TABLE IF EXISTS access_logs;
DROP TABLE IF EXISTS support_searches;
DROP TABLE IF EXISTS accounts;

-- Users of the CRM at this customer.
CREATE TABLE accounts (
  id         INT UNSIGNED NOT NULL AUTO_INCREMENT,
  login_code VARCHAR(64)  NOT NULL,
  name       VARCHAR(255) NOT NULL,
  created_at DATETIME     NOT NULL COMMENT 'JST wall clock',
  PRIMARY KEY (id),
  UNIQUE KEY uk_accounts_login_code (login_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per successful login.
CREATE TABLE logins (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id   INT UNSIGNED    NOT NULL,
  logged_in_at DATETIME        NOT NULL COMMENT 'JST wall clock',
  client_addr  VARCHAR(45)     NOT NULL COMMENT 'IPv4 or IPv6',
  user_agent   VARCHAR(512)    NULL,
  PRIMARY KEY (id),
  KEY ix_logins_logged_in_at (logged_in_at),
  KEY ix_logins_account_logged_in_at (account_id, logged_in_at),
  CONSTRAINT fk_logins_account FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The application's own access log: one row per request to a controller
-- action. account_name and login_user_code are NULL for requests made
-- before login (the login form, preview links). Denormalised on purpose: it
-- is what the app writes, and it outlives renamed or deleted accounts.
CREATE TABLE access_logs (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_name    VARCHAR(255)    NULL,
  login_user_code VARCHAR(64)     NULL,
  controller_name VARCHAR(64)     NOT NULL,
  action_name     VARCHAR(128)    NOT NULL,
  http_method     VARCHAR(8)      NOT NULL,
  client_addr     VARCHAR(45)     NULL COMMENT 'IPv4 or IPv6',
  requested_at    DATETIME(6)     NOT NULL COMMENT 'JST wall clock, microseconds',
  PRIMARY KEY (id),
  KEY ix_access_logs_requested_at (requested_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A mail campaign (or a triggered mail) and its schedule.
-- reservation_time is NULL for mails sent immediately and for drafts.
-- all_target_count is the number of recipients planned at reservation; it is
-- 0 for triggered mails, whose recipients are not known in advance.
CREATE TABLE mail_requests (
  id               INT UNSIGNED NOT NULL AUTO_INCREMENT,
  from_address     VARCHAR(255) NOT NULL COMMENT 'may carry a quoted display name',
  subject          VARCHAR(255) NOT NULL,
  status           ENUM('draft','reserved','sending','sent','cancelled') NOT NULL DEFAULT 'draft',
  reservation_time DATETIME     NULL COMMENT 'JST wall clock',
  created_at       TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'UTC instant; shown in session time_zone',
  modified_at      TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'UTC instant; shown in session time_zone',
  all_target_count INT          NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY ix_mail_requests_reservation_time (reservation_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per delivery attempt of a mail request to one recipient.
-- cost is NULL while the attempt is deferred (not billed yet).
CREATE TABLE mail_send_logs (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  mail_request_id INT UNSIGNED    NOT NULL,
  sent_at         DATETIME(6)     NOT NULL COMMENT 'JST wall clock, microseconds',
  to_address      VARCHAR(255)    NOT NULL,
  result          ENUM('sent','bounced','deferred') NOT NULL,
  cost            DECIMAL(12,2)   NULL,
  meta            JSON            NULL COMMENT 'SMTP details; LONGTEXT with a JSON check on MariaDB',
  PRIMARY KEY (id),
  KEY ix_mail_send_logs_sent_at (sent_at),
  KEY ix_mail_send_logs_request_sent_at (mail_request_id, sent_at),
  CONSTRAINT fk_mail_send_logs_request FOREIGN KEY (mail_request_id) REFERENCES mail_requests (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Searches on the customer's support site. hits = 0 marks a search that found
-- nothing: the keywords to add pages or synonyms for.
CREATE TABLE support_searches (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  keyword     VARCHAR(255)    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  hits        INT             NOT NULL,
  searched_at DATETIME        NOT NULL COMMENT 'JST wall clock',
  client_addr VARCHAR(45)     NULL COMMENT 'IPv4 or IPv6',
  PRIMARY KEY (id),
  KEY ix_support_searches_searched_at (searched_at),
  KEY ix_support_searches_hits_searched_at (hits, searched_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
