#!/usr/bin/env bash
# Load the sample tenants into a MySQL or MariaDB server, for tests and the demo.
#
#   load.sh [--prefix P] [N]   (re)create Pcrm_t001..Pcrm_tNNN (default 3), each
#                              with tenant_schema.sql and tenant_data.sql for
#                              @tenant_no = its number; Pcrm_registry with
#                              cl_mapping rows for them (server 'db1'); and
#                              Pcrmx_other, a tenant-shaped database whose name
#                              does not match ^Pcrm_t, for discovery tests
#   load.sh [--prefix P] --drop   drop the databases above
#
# P (default empty) is letters, digits and _: with it, the sample loads beside
# databases of the same names, e.g. on a shared test server.
#
# Every database it creates gets a marker table, _mallet_sample. It drops a
# database only if it has one: a database of the same name that it did not
# create is never dropped, and the load or --drop stops before dropping
# anything, naming it.
#
# Connection: MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306), MYSQL_USER (root) and
# MYSQL_PWD, which the mysql client reads from the environment itself so the
# password never appears in a process list.
#
# Idempotent: every database it loads is dropped and created again.
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
host=${MYSQL_HOST:-127.0.0.1}
port=${MYSQL_PORT:-3306}
user=${MYSQL_USER:-root}
marker=_mallet_sample

usage() {
	echo "usage: $0 [--prefix P] [N]    (1 <= N <= 999, default 3; P: letters, digits and _)" >&2
	echo "       $0 [--prefix P] --drop" >&2
	exit 2
}

prefix=""
drop=false
n=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--prefix)
		[[ $# -ge 2 ]] || usage
		prefix=$2
		shift 2
		;;
	--prefix=*)
		prefix=${1#--prefix=}
		shift
		;;
	--drop)
		drop=true
		shift
		;;
	-*) usage ;;
	*)
		[[ -z $n ]] || usage
		n=$1
		shift
		;;
	esac
done
# The prefix goes into names, a REGEXP and SQL strings unquoted: keep it to
# characters that mean nothing in any of them, and short enough for MySQL's
# 64-character names.
[[ $prefix =~ ^[A-Za-z0-9_]{0,40}$ ]] || usage
if $drop; then
	[[ -z $n ]] || usage
else
	n=${n:-3}
	[[ $n =~ ^[0-9]+$ ]] && ((10#$n >= 1 && 10#$n <= 999)) || usage
	n=$((10#$n))
fi

client=$(command -v mysql || command -v mariadb || true)
if [[ -z $client ]]; then
	echo "load.sh: no mysql or mariadb client on PATH" >&2
	exit 1
fi

sql() {
	"$client" --protocol=TCP -h"$host" -P"$port" -u"$user" \
		--default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

registry=${prefix}crm_registry
other=${prefix}crmx_other

# Databases named like a sample tenant, whatever their number.
tenant_dbs() {
	sql -e "SELECT schema_name FROM information_schema.schemata
	        WHERE schema_name REGEXP '^${prefix}crm_t[0-9]{3}\$' ORDER BY schema_name"
}

# refuse_foreign exits if any of the named databases exists without the
# marker table: load.sh did not create it, so it must not drop it.
refuse_foreign() { # db...
	local list="" db
	for db in "$@"; do
		list+="${list:+, }'$db'"
	done
	local foreign
	foreign=$(sql -e "SELECT s.schema_name FROM information_schema.schemata s
	        WHERE s.schema_name IN ($list) AND NOT EXISTS (SELECT 1 FROM information_schema.tables t
	          WHERE t.table_schema = s.schema_name AND t.table_name = '$marker')
	        ORDER BY s.schema_name")
	if [[ -n $foreign ]]; then
		echo "load.sh: refusing to drop database(s) it did not create (no $marker table): $(echo $foreign | tr ' ' ',' | sed 's/,/, /g')" >&2
		echo "load.sh: nothing was dropped; load beside them with --prefix P, or drop them yourself" >&2
		exit 1
	fi
}

recreate() { # db
	sql -e "DROP DATABASE IF EXISTS \`$1\`;
	        CREATE DATABASE \`$1\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	        CREATE TABLE \`$1\`.$marker (created_at DATETIME NOT NULL, note VARCHAR(255) NOT NULL);
	        INSERT INTO \`$1\`.$marker VALUES (NOW(), 'created by testdata/sample/load.sh: it may drop this database');"
}

load_tenant() { # db tenant_no
	recreate "$1"
	{ echo "SET @tenant_no = $2;"; cat "$dir/tenant_schema.sql" "$dir/tenant_data.sql"; } | sql "$1"
}

if $drop; then
	dbs=($(tenant_dbs) "$registry" "$other")
	refuse_foreign "${dbs[@]}"
	for db in "${dbs[@]}"; do
		sql -e "DROP DATABASE IF EXISTS \`$db\`"
		echo "dropped $db"
	done
	exit 0
fi

tenants=()
for ((i = 1; i <= n; i++)); do
	tenants+=("$(printf '%scrm_t%03d' "$prefix" "$i")")
done
refuse_foreign "${tenants[@]}" "$other" "$registry"

for ((i = 1; i <= n; i++)); do
	load_tenant "${tenants[i - 1]}" "$i"
done

# Same schema and data shape as a tenant, so a discovery bug that includes it
# shows up as extra rows rather than as a query error.
load_tenant "$other" 900

recreate "$registry"
{ echo "SET @tenant_count = $n, @tenant_prefix = '$prefix';"; cat "$dir/registry_schema.sql"; } | sql "$registry"

for db in $(tenant_dbs); do
	if [[ ! " ${tenants[*]} " =~ " $db " ]]; then
		echo "load.sh: $db is left from an earlier load; '$0${prefix:+ --prefix $prefix} --drop' removes it" >&2
	fi
done

# Row counts per database, so a test log shows what was loaded.
count_sql=""
for db in "${tenants[@]}" "$other"; do
	[[ -n $count_sql ]] && count_sql+=" UNION ALL "
	count_sql+="SELECT '$db',
	  (SELECT COUNT(*) FROM \`$db\`.accounts), (SELECT COUNT(*) FROM \`$db\`.logins),
	  (SELECT COUNT(*) FROM \`$db\`.access_logs), (SELECT COUNT(*) FROM \`$db\`.mail_requests),
	  (SELECT COUNT(*) FROM \`$db\`.mail_send_logs), (SELECT COUNT(*) FROM \`$db\`.support_searches)"
done
{
	printf 'database\taccounts\tlogins\taccess_logs\tmail_requests\tmail_send_logs\tsupport_searches\n'
	sql -e "$count_sql"
	printf '%s.cl_mapping\t%s rows\n' "$registry" "$(sql -e "SELECT COUNT(*) FROM \`$registry\`.cl_mapping")"
} | if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi
