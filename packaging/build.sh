#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/rsdesk/ (start it with dist/rsdesk/rsdesk).
#
#   bash packaging/build.sh            # CPU PyTorch: the small bundle that runs anywhere
#   RSDESK_BUNDLE=cuda bash packaging/build.sh   # PyTorch with its CUDA libraries (several GB)
#
# The bundle is built in its own virtualenv (build/bundle-venv-<variant>, reused while pyproject.toml is
# unchanged) so that nothing of a developer's environment (test tools, Ray, a CUDA torch) slips in.
# Knobs, all optional:
#   RSDESK_TORCH        pip requirement for torch in the CPU bundle (default torch==2.13.0)
#   RSDESK_TORCH_INDEX  a package index with CPU builds of torch and torchvision, used for both; on Linux PyPI's
#                       torch is a CUDA build, so there point it at PyTorch's CPU index (packaging/README.md)
#   PYTHON              the interpreter for the build virtualenv (default python3)
# Writes: dist/rsdesk/ (the bundle, with licenses/), build/pyinstaller/ (work files), build/icons/.
set -euo pipefail
cd "$(dirname "$0")/.."

variant="${RSDESK_BUNDLE:-cpu}"
case "$variant" in cpu | cuda) ;; *) echo "RSDESK_BUNDLE must be cpu or cuda, not '$variant'" >&2; exit 2 ;; esac
python="${PYTHON:-python3}"
torch_req="${RSDESK_TORCH:-torch==2.13.0}"
index_args=()
if [ -n "${RSDESK_TORCH_INDEX:-}" ]; then index_args=(--index-url "$RSDESK_TORCH_INDEX"); fi
start=$(date +%s)

key=$(sha256sum pyproject.toml packaging/build.sh | sha256sum | cut -c1-12)
venv="build/bundle-venv-$variant"
if [ -x "$venv/bin/python" ]; then vpy="$venv/bin/python"; else vpy="$venv/Scripts/python.exe"; fi
if [ ! -f "$venv/.ready-$key" ]; then
    echo "== build environment $venv ($variant)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if [ -x "$venv/bin/python" ]; then vpy="$venv/bin/python"; else vpy="$venv/Scripts/python.exe"; fi
    pip=("$vpy" -m pip install --quiet --disable-pip-version-check)
    if [ "$variant" = cpu ]; then
        "${pip[@]}" "${index_args[@]}" "$torch_req"
        "$vpy" -W ignore - <<'EOF'
import sys
import torch
if torch.version.cuda:
    sys.exit(f"torch {torch.__version__} is a CUDA build; a CPU bundle needs a CPU build "
             "(set RSDESK_TORCH_INDEX to PyTorch's CPU index, see packaging/README.md)")
print("torch", torch.__version__, "(CPU build)")
EOF
        # torchvision (only for the torchvision/* and inception-v3 classifiers) must be built for the same torch:
        # version 0.(minor + 15) of torch 2.minor, and a CPU build where torch is one.
        tv=$("$vpy" -c "import torch; v = torch.__version__.split('+')[0].split('.'); print(f'0.{int(v[1]) + 15}.*')")
        if "${pip[@]}" "${index_args[@]}" --no-deps "torchvision==$tv" && "$vpy" -c "import torchvision" 2>/dev/null; then
            echo "torchvision $tv: importable, bundled"
        else
            "$vpy" -m pip uninstall --quiet -y torchvision 2>/dev/null || true
            echo "WARNING: no torchvision $tv built for this torch could be installed; the bundle has no" \
                "torchvision/* or inception-v3 classifier (EfficientNet-Lite, the default, does not need it)" >&2
        fi
        # The other run-time dependencies from pyproject.toml, less the two above, pinned there.
        "$vpy" - > "$venv/requirements.txt" <<'EOF'
import re
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0] not in ("torch", "torchvision")))
EOF
        "${pip[@]}" -r "$venv/requirements.txt"
    else
        "${pip[@]}" ".[packaging]"
    fi
    "${pip[@]}" "pyinstaller>=6.11" build "setuptools>=69" wheel
    touch "$venv/.ready-$key"
fi

echo "== rsdesk from this tree into $venv"
# A wheel (not an in-tree install) so the bundle gets exactly the wheel's files and package data.
rm -rf build/wheel
"$vpy" -m pip wheel --quiet --no-deps --no-build-isolation --disable-pip-version-check -w build/wheel .
"$vpy" -m pip install --quiet --no-deps --force-reinstall --disable-pip-version-check build/wheel/rsdesk-*.whl
rm -rf build/lib build/bdist.* 2>/dev/null || true

echo "== icons"
"$vpy" packaging/render_icons.py --check --platform-icons build/icons

echo "== PyInstaller"
rm -rf dist/rsdesk
# From build/: with the repository root as the working directory, `import rsdesk` during the analysis
# would find the source tree (without rsdesk/resources) instead of the installed package.
(cd build && RSDESK_BUNDLE="$variant" "../$vpy" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath pyinstaller --distpath ../dist ../packaging/rsdesk.spec)

echo "== licenses, desktop integration"
"$vpy" packaging/collect_licenses.py dist/rsdesk/licenses --toc-dir build/pyinstaller/rsdesk
# install-desktop.sh finds the icons in the bundle and points the menu entry at dist/rsdesk/rsdesk
mkdir -p dist/rsdesk/desktop
cp packaging/linux/io.github.rsdesk.rsdesk.desktop packaging/linux/io.github.rsdesk.rsdesk.metainfo.xml \
    packaging/linux/install-desktop.sh dist/rsdesk/desktop/

end=$(date +%s)
exe=dist/rsdesk/rsdesk
[ -f "$exe" ] || exe=dist/rsdesk/rsdesk.exe
echo "== built $exe ($variant) in $((end - start)) s; $(du -sh dist/rsdesk | cut -f1) on disk"
"$exe" --version
