#!/usr/bin/env bash
# Load the sample tenants into a MySQL or MariaDB server, for tests and the demo.
#
#   load.sh [N]         (re)create crm_t001..crm_tNNN (default 3), each with
#                       tenant_schema.sql and tenant_data.sql for @tenant_no =
#                       its number; crm_registry with cl_mapping rows for them
#                       (server 'db1'); and crmx_other, a tenant-shaped database
#                       whose name does not match ^crm_t, for discovery tests
#   load.sh --drop      drop every crm_tNNN database, crm_registry and crmx_other
#
# Connection: MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306), MYSQL_USER (root) and
# MYSQL_PWD, which the mysql client reads from the environment itself so the
# password never appears in a process list.
#
# Idempotent: every database it loads is dropped and created again. It drops
# databases, so point it at a test server only.
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
host=${MYSQL_HOST:-127.0.0.1}
port=${MYSQL_PORT:-3306}
user=${MYSQL_USER:-root}

usage() {
	echo "usage: $0 [N]    (1 <= N <= 999, default 3)" >&2
	echo "       $0 --drop" >&2
	exit 2
}

client=$(command -v mysql || command -v mariadb || true)
if [[ -z $client ]]; then
	echo "load.sh: no mysql or mariadb client on PATH" >&2
	exit 1
fi

sql() {
	"$client" --protocol=TCP -h"$host" -P"$port" -u"$user" \
		--default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

# Databases named like a sample tenant, whatever their number.
tenant_dbs() {
	sql -e "SELECT schema_name FROM information_schema.schemata
	        WHERE schema_name REGEXP '^crm_t[0-9]{3}\$' ORDER BY schema_name"
}

recreate() { # db
	sql -e "DROP DATABASE IF EXISTS \`$1\`;
	        CREATE DATABASE \`$1\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
}

load_tenant() { # db tenant_no
	recreate "$1"
	{ echo "SET @tenant_no = $2;"; cat "$dir/tenant_schema.sql" "$dir/tenant_data.sql"; } | sql "$1"
}

if [[ ${1:-} == --drop ]]; then
	[[ $# -eq 1 ]] || usage
	for db in $(tenant_dbs) crm_registry crmx_other; do
		sql -e "DROP DATABASE IF EXISTS \`$db\`"
		echo "dropped $db"
	done
	exit 0
fi

[[ $# -le 1 ]] || usage
n=${1:-3}
[[ $n =~ ^[0-9]+$ ]] && ((10#$n >= 1 && 10#$n <= 999)) || usage
n=$((10#$n))

tenants=()
for ((i = 1; i <= n; i++)); do
	db=$(printf 'crm_t%03d' "$i")
	load_tenant "$db" "$i"
	tenants+=("$db")
done

# Same schema and data shape as a tenant, so a discovery bug that includes it
# shows up as extra rows rather than as a query error.
load_tenant crmx_other 900

recreate crm_registry
{ echo "SET @tenant_count = $n;"; cat "$dir/registry_schema.sql"; } | sql crm_registry

for db in $(tenant_dbs); do
	if [[ ! " ${tenants[*]} " =~ " $db " ]]; then
		echo "load.sh: $db is left from an earlier load; '$0 --drop' removes it" >&2
	fi
done

# Row counts per database, so a test log shows what was loaded.
count_sql=""
for db in "${tenants[@]}" crmx_other; do
	[[ -n $count_sql ]] && count_sql+=" UNION ALL "
	count_sql+="SELECT '$db',
	  (SELECT COUNT(*) FROM \`$db\`.accounts), (SELECT COUNT(*) FROM \`$db\`.logins),
	  (SELECT COUNT(*) FROM \`$db\`.access_logs), (SELECT COUNT(*) FROM \`$db\`.mail_requests),
	  (SELECT COUNT(*) FROM \`$db\`.mail_send_logs), (SELECT COUNT(*) FROM \`$db\`.support_searches)"
done
{
	printf 'database\taccounts\tlogins\taccess_logs\tmail_requests\tmail_send_logs\tsupport_searches\n'
	sql -e "$count_sql"
	printf 'crm_registry.cl_mapping\t%s rows\n' "$(sql -e 'SELECT COUNT(*) FROM crm_registry.cl_mapping')"
} | if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi
