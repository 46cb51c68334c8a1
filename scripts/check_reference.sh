#!/usr/bin/env bash
# scripts/check_reference.sh - keeps docs/reference.md honest: every public type, function and
# macro declared in include/sse/*.hpp (not detail/ or impl/) must be named in it.
#
#   scripts/check_reference.sh            # exit 1, listing what is missing
#   scripts/check_reference.sh --list     # print what the headers declare, as checked
#
# A pragmatic scan, not a C++ parser: it reads the headers as clang-format lays them out
# (access specifiers and class heads at column 0, members at 4 spaces) and skips comments,
# `namespace detail { ... }` blocks and private/protected sections. A member `m` of class `C`
# counts as documented when `m(` appears in the section of docs/reference.md whose `###`
# heading names `C` in a code span (e.g. "### `sse::client`"); a free function `f` when `f(`
# appears anywhere in it; a type or macro when its name appears as a word.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/reference.md
[[ -f $doc ]] || { echo "check_reference: $doc is missing" >&2; exit 1; }

# What the headers declare: lines "member C m", "free f", "type T", "macro M".
declared() {
    for h in include/sse/*.hpp; do
        awk -v file="$h" '
        function strip(s) {                      # string/char literals and // comments out
            gsub(/"([^"\\]|\\.)*"/, "\"\"", s)
            gsub(/'\''([^'\''\\]|\\.)*'\''/, "0", s)
            sub(/\/\/.*/, "", s)
            return s
        }
        {
            line = $0
            if (in_block) { if (line ~ /\*\//) { in_block = 0; sub(/.*\*\//, "", line) } else next }
            if (line ~ /^[ \t]*\/\*/ && line !~ /\*\//) { in_block = 1; next }
            gsub(/\/\*.*\*\//, "", line)
            line = strip(line)
            if (in_detail) {                     # brace depth of a detail namespace
                n = gsub(/\{/, "{", line); m = gsub(/\}/, "}", line)
                depth += n - m
                if (depth <= 0) in_detail = 0
                next
            }
            if (line ~ /^namespace detail *\{/) {
                in_detail = 1
                n = gsub(/\{/, "{", line); m = gsub(/\}/, "}", line)
                depth = n - m
                if (depth <= 0) in_detail = 0
                next
            }
            if (line ~ /^#define SSE_[A-Z_]*[A-Z] / || line ~ /^#define SSE_[A-Z_]*[A-Z]$/) {
                split(line, w, /[ (]/)
                if (w[2] !~ /_HPP$/) print "macro " w[2]
                next
            }
            # A class or struct head at column 0 (a definition, not a declaration).
            if (line ~ /^(template <.*> )?(class|struct) [a-z_]+/ && line !~ /;[ \t]*$/) {
                s = line; sub(/^(template <.*> )?(class|struct) /, "", s)
                match(s, /^[a-z_]+/); cls = substr(s, 1, RLENGTH)
                hidden = (line ~ /(^|> )class /)  # a class starts private
                print "type " cls
                next
            }
            if (line ~ /^(enum class|enum) [a-z_]+/) {
                s = line; sub(/^(enum class|enum) /, "", s)
                match(s, /^[a-z_]+/); print "type " substr(s, 1, RLENGTH)
                next
            }
            if (line ~ /^using [a-z_]+ =/) {
                s = line; sub(/^using /, "", s); match(s, /^[a-z_]+/)
                print "type " substr(s, 1, RLENGTH)
                next
            }
            if (line ~ /^};/) { cls = ""; hidden = 0; next }
            if (line ~ /^public:/) { hidden = 0; next }
            if (line ~ /^(private|protected):/) { hidden = 1; next }
            if (cls != "" && hidden) next
            # Declarations only: column 0 (free functions) or 4 (members); bodies are deeper.
            if (cls != "" && line !~ /^    [^ ]/) next
            if (cls == "" && line !~ /^[^ #]/) next
            if (line ~ /= delete;/) next
            s = line; sub(/^ */, "", s)
            if (s ~ /^(return|if|for|while|else|case|throw|using|delete|do|switch|static_assert|typename)[^a-z_]/) next
            name = ""
            if (cls != "" && match(s, "^(explicit )?" cls " *\\(")) {
                name = cls                                           # a constructor
            } else if (match(s, /^((static|virtual|inline|explicit|constexpr|friend) +)*[A-Za-z0-9_:<>,&* ]+[ &*][a-z_][a-z0-9_]* *\(/)) {
                t = substr(s, 1, RLENGTH); sub(/ *\($/, "", t)
                match(t, /[a-z_][a-z0-9_]*$/); name = substr(t, RSTART, RLENGTH)
            } else if (cls == "" && match(s, /^[a-z_][a-z0-9_]* *\(/)) {
                t = substr(s, 1, RLENGTH); sub(/ *\($/, "", t); name = t  # name after a type line
            }
            if (name == "") next
            if (cls != "") print "member " cls " " name; else print "free " name
        }' "$h"
    done | sort -u
}

if [[ ${1:-} == --list ]]; then declared; exit 0; fi

# Sections of the reference: "C<TAB>text" for each line under a ### heading naming `C`
# (or `sse::C`, `sse::C<...>`).
sections=$(awk '
    /^#{1,3} / { cls = "" }
    /^### / {
        if (match($0, /`(sse::)?[a-z_]+/)) { s = substr($0, RSTART + 1, RLENGTH - 1); sub(/^sse::/, "", s); cls = s }
        next
    }
    cls != "" { print cls "\t" $0 }' "$doc")

missing=0
while read -r kind a b; do
    case $kind in
    member)
        if ! grep -F -- "$a	" <<<"$sections" | grep -F -- "$b(" >/dev/null; then
            echo "not in $doc: member $a::$b (no \`$b(\` in a ### \`$a\` section)"
            missing=$((missing + 1))
        fi ;;
    free)
        if ! grep -qF -- "$a(" "$doc"; then
            echo "not in $doc: function $a"
            missing=$((missing + 1))
        fi ;;
    type | macro)
        if ! grep -qw -- "$a" "$doc"; then
            echo "not in $doc: $kind $a"
            missing=$((missing + 1))
        fi ;;
    esac
done < <(declared)

total=$(declared | wc -l)
if ((missing > 0)); then
    echo "check_reference: $missing of $total public names are not in $doc" >&2
    exit 1
fi
echo "check_reference: all $total public names of include/sse/*.hpp are in $doc"
