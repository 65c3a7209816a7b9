#!/bin/sh
# check-manpage-keys.sh — fail when twowayd.conf(5) and the configuration
# schema in src/config_schema.c disagree.
#
#   packaging/check-manpage-keys.sh [SCHEMA.c [MANPAGE.5]]
#
# For every entry of config_items[] ({"section", "key", TYPE, default, min,
# max, flags, ...}) the man page must have, under ".SS [section]", an entry
# ".TP" + ".B key" whose text says "Restart-only." or "Reloadable." as the
# flags do, "Required." for a required key, the default when it is a literal,
# and the bounds "min\(enmax" of an integer. A key documented in the man page
# but absent from the schema is an error too.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
schema=${1:-$top/src/config_schema.c}
page=${2:-$top/packaging/man/twowayd.conf.5}

for f in "$schema" "$page"; do
	[ -r "$f" ] || { echo "check-manpage-keys: cannot read $f" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The schema, one entry a line, tab-separated: section key type default min max flags
awk '
	/^const struct config_item config_items\[\] = \{/ { on = 1; next }
	on && /^\};/ { on = 0 }
	!on { next }
	{ sub(/\/\*.*\*\//, ""); buf = buf " " $0 }
	END {
		n = split(buf, parts, /\},/)
		for (i = 1; i <= n; i++) {
			e = parts[i]
			if (e !~ /\{ *"/) continue
			sub(/^[^{]*\{ */, "", e)
			gsub(/[ \t]+/, " ", e)
			m = split(e, f, / *, */)
			if (m < 7) continue
			for (j = 1; j <= 7; j++) gsub(/^ +| +$/, "", f[j])
			gsub(/"/, "", f[1]); gsub(/"/, "", f[2])
			print f[1] "\t" f[2] "\t" f[3] "\t" f[4] "\t" f[5] "\t" f[6] "\t" f[7]
		}
	}' "$schema" >"$tmp/schema"

# The man page, one entry a line, tab-separated: section key text (roff requests dropped,
# escapes for "-" and the en dash made plain).
awk '
	function flush() { if (key != "") print sec "\t" key "\t" text; key = ""; text = "" }
	/^\.SH/ { flush(); sec = ""; next }
	/^\.SS / {
		flush()
		s = $0; sub(/^\.SS +"?/, "", s); sub(/"? *$/, "", s)
		sec = (s ~ /^\[[a-z_]+\]$/) ? substr(s, 2, length(s) - 2) : ""
		next
	}
	/^\.TP/ { flush(); want = (sec != ""); next }
	want && /^\.B / { key = $2; want = 0; next }
	key != "" {
		t = $0; gsub(/\t/, " ", t)
		sub(/^\.[A-Za-z]+ */, "", t)
		gsub(/\\-/, "-", t); gsub(/\\\(en/, "-", t); gsub(/\\c/, "", t); gsub(/"/, "", t)
		text = text " " t
	}
	END { flush() }' "$page" >"$tmp/page"

awk -F'\t' -v page="$page" -v schema="$schema" '
	NR == FNR { doc[$1 "." $2] = $3; if (($1 "." $2) in seen) dup[$1 "." $2] = 1; seen[$1 "." $2] = 1; next }
	{
		id = $1 "." $2; n++
		inschema[id] = 1
		if (!(id in doc)) { print page ": [" $1 "] " $2 ": missing"; bad++; next }
		t = doc[id]
		restart = ($7 ~ /CONFIG_RESTART_ONLY/)
		if (restart && t !~ /Restart-only\./) { print page ": [" $1 "] " $2 ": schema says restart-only"; bad++ }
		if (!restart && t !~ /Reloadable\./) { print page ": [" $1 "] " $2 ": schema says reloadable"; bad++ }
		if ($7 ~ /CONFIG_REQUIRED/ && t !~ /Required\./) { print page ": [" $1 "] " $2 ": schema says required"; bad++ }
		if ($7 !~ /CONFIG_REQUIRED/ && t ~ /Required\./) { print page ": [" $1 "] " $2 ": not required in the schema"; bad++ }
		if ($4 ~ /^".*"$/) {
			d = substr($4, 2, length($4) - 2)
			if (index(t, "Default: " d) == 0) { print page ": [" $1 "] " $2 ": default " d " not stated"; bad++ }
		}
		if ($3 == "CONFIG_UINT" && $5 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ && index(t, $5 "-" $6) == 0) {
			print page ": [" $1 "] " $2 ": bounds " $5 "-" $6 " not stated"; bad++
		}
	}
	END {
		for (id in doc) if (!(id in inschema)) { print page ": " id ": documented but not in " schema; bad++ }
		for (id in dup) { print page ": " id ": documented twice"; bad++ }
		if (n == 0) { print schema ": no schema entries found"; bad++ }
		if (bad) { print "check-manpage-keys: " bad " problem(s)"; exit 1 }
		print "check-manpage-keys: " n " keys documented"
	}' "$tmp/page" "$tmp/schema"
