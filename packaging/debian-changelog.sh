#!/bin/sh
# CHANGELOG.md in the format of a Debian changelog (debian/changelog(5)): one
# entry per "## VERSION (YYYY-MM-DD)" section, its lines as the entry's text.
# The latest entry is dated $SOURCE_DATE_EPOCH (the commit's time), older ones
# their day: entries of one day must still be in order.
# Usage: packaging/debian-changelog.sh CHANGELOG.md MAINTAINER
set -eu
latest=true
changelog=$1
maintainer=$2
entry_open=false
close_entry() {
    if $entry_open; then
        if $latest && [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
            when=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
        else
            when=$(LC_ALL=C date -u -R -d "$entry_date")
        fi
        latest=false
        printf '\n -- %s  %s\n\n' "$maintainer" "$when"
    fi
}
while IFS= read -r line; do
    case $line in
        "## "*)
            close_entry
            version=${line#"## "}
            version=${version%% *}
            entry_date=$(printf '%s\n' "$line" | sed -n 's/.*(\([0-9-]*\)).*/\1/p')
            printf 'going (%s) unstable; urgency=medium\n\n' "$version"
            entry_open=true
            ;;
        "- "*) $entry_open && printf '  * %s\n' "${line#"- "}" ;;
        "  "*) $entry_open && printf '  %s\n' "$line" ;;
        "") ;;
        *) $entry_open && printf '  %s\n' "$line" ;;
    esac
done < "$changelog"
close_entry
