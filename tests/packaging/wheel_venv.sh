#!/usr/bin/env bash
# Builds the wheel with Debian's pip from this build tree (no download, no second compile:
# VQCODEC_CMAKE_BUILD_DIR), installs it into a fresh `venv --system-site-packages` (numpy and
# pytest from apt), and runs the Python tests there against the installed package, from
# outside the source tree, then a small fit from it under valgrind.
#   wheel_venv.sh BUILD_DIR SOURCE_DIR PYTHON
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export VQCODEC_CMAKE_BUILD_DIR=$build
# pip builds in the source tree; setuptools' scratch goes to build-python/ (ignored by git).
"$python" -m pip wheel --no-build-isolation --no-deps --no-index -q -w "$work/dist" "$src"
wheel=$(ls "$work"/dist/vqcodec-*.whl)
# (The listing is taken whole first: grep -q would close the pipe early and, under pipefail,
# fail the check on zipfile's broken pipe.)
listing=$("$python" -m zipfile -l "$wheel")
grep -q "vqcodec/models/default/image.vqc" <<<"$listing" || { echo "wheel_venv: the wheel has no models"; exit 1; }
grep -q "vqcodec/__init__.pyi" <<<"$listing" || { echo "wheel_venv: no type stubs"; exit 1; }

"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --no-deps --no-index -q "$wheel"
cd "$work"
unset PYTHONPATH
"$work/venv/bin/python" - "$src" <<'PY'
import pathlib, re, sys
import vqcodec
src = pathlib.Path(sys.argv[1])
version = re.search(r"project\(vqcodec VERSION ([0-9.]+)", (src / "CMakeLists.txt").read_text()).group(1)
where = pathlib.Path(vqcodec.__file__).resolve()
assert "venv" in where.parts and src not in where.parents, where
assert vqcodec.__version__ == version, (vqcodec.__version__, version)
assert pathlib.Path(vqcodec.models_dir()).resolve() == where.parent / "models", vqcodec.models_dir()
print("installed vqcodec", vqcodec.__version__, "from", where.parent)
PY
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$src/tests/python"
# The installed wheel under valgrind (no AVX-512 in its CPU): no SIGILL outside the kernels.
if command -v valgrind >/dev/null; then
  valgrind --tool=none -q --error-exitcode=1 "$work/venv/bin/python" "$src/tests/packaging/small_fit.py"
fi
