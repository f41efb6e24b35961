#!/usr/bin/env bash
# Put RSDesk in the desktop's application menu: the .desktop entry (Exec pointing at the given program),
# the AppStream metainfo and the icon (SVG and PNGs 16–512 px) under the XDG data folder.
#
#   bash install-desktop.sh [PROGRAM]        # this user: ~/.local/share
#   DATA_DIR=/usr/local/share bash install-desktop.sh /opt/rsdesk/rsdesk   # everyone (as root)
#   bash install-desktop.sh --uninstall
#
# PROGRAM defaults to the bundle this script sits in (dist/rsdesk/desktop/ → dist/rsdesk/rsdesk), else the
# source tree's dist/rsdesk/rsdesk, else `rsdesk` on PATH (a pip install).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
id=io.github.rsdesk.rsdesk
data="${DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}"
sizes=(16 22 24 32 48 64 128 256 512)

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$data/applications/$id.desktop" "$data/metainfo/$id.metainfo.xml" \
        "$data/icons/hicolor/scalable/apps/$id.svg"
    for s in "${sizes[@]}"; do rm -f "$data/icons/hicolor/${s}x${s}/apps/$id.png"; done
    echo "removed RSDesk's menu entry from $data"
    exit 0
fi

# The icon folder: in a bundle (desktop/ beside _internal/) or in the source tree (packaging/linux/).
icons=""
for candidate in "$here/../_internal/rsdesk/resources/icons" "$here/../../resources/icons"; do
    if [ -f "$candidate/rsdesk.svg" ]; then icons=$(cd "$candidate" && pwd); break; fi
done
[ -n "$icons" ] || { echo "cannot find the icons beside $here" >&2; exit 1; }

program="${1:-}"
if [ -z "$program" ]; then
    for candidate in "$here/../rsdesk" "$here/../../dist/rsdesk/rsdesk"; do
        if [ -x "$candidate" ] && [ -f "$candidate" ]; then program=$(cd "$(dirname "$candidate")" && pwd)/rsdesk; break; fi
    done
fi
[ -n "$program" ] || program=$(command -v rsdesk || true)
[ -n "$program" ] || { echo "no rsdesk program found: give its path" >&2; exit 1; }

mkdir -p "$data/applications" "$data/metainfo" "$data/icons/hicolor/scalable/apps"
# Exec with the program's absolute path, quoted as the Desktop Entry spec asks when it holds spaces.
sed "s|^Exec=.*|Exec=\"$program\" %F|" "$here/$id.desktop" > "$data/applications/$id.desktop"
cp "$here/$id.metainfo.xml" "$data/metainfo/"
cp "$icons/rsdesk.svg" "$data/icons/hicolor/scalable/apps/$id.svg"
for s in "${sizes[@]}"; do
    mkdir -p "$data/icons/hicolor/${s}x${s}/apps"
    cp "$icons/rsdesk-$s.png" "$data/icons/hicolor/${s}x${s}/apps/$id.png"
done
# Menus pick the entry up by themselves on most desktops; these refresh the caches where the tools exist.
command -v update-desktop-database > /dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache > /dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "RSDesk is in the application menu ($data), starting $program"
