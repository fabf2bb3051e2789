#!/usr/bin/env bash
# Creates or reuses .venv/ at the repository root with the whole OpenMMLab stack.
#
# mmcv 2.1.0 has only an sdist on PyPI; it is compiled once with ops against the
# installed torch (about 12 minutes on 2 cores) and the wheel is cached under a key
# naming mmcv, torch and the Python tag, so later runs (and other clones on the same
# machine) reinstall nothing. A stamp of the requirement files makes a second run of
# this script a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
MMCV_VERSION=2.1.0
MMDEPLOY_VERSION=1.3.1
WHEEL_CACHE="${MOBILEONE_MM_CACHE:-$HOME/.cache/mobileone_mm}/wheels"

die() { echo "install_env: ERROR: $*" >&2; exit 1; }
log() { echo "install_env: $*"; }

stamp_of_requirements() {
    cat "$ROOT/requirements.txt" "$ROOT"/requirements/*.txt "$ROOT/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1
}

check_toolchain() {
    command -v "$PYTHON_BIN" >/dev/null || die "'$PYTHON_BIN' not found; Python 3.11 is required."
    local version
    version="$("$PYTHON_BIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ "$version" = "3.11" ] || die "Python 3.11 is required (torch 2.14.1 / torchvision 0.29.1 wheels); '$PYTHON_BIN' is $version. Set PYTHON=/path/to/python3.11."
    command -v gcc >/dev/null || die "gcc not found: mmcv's ops are compiled from source. Install gcc and g++ (e.g. apt-get install build-essential)."
    command -v g++ >/dev/null || die "g++ not found: mmcv's ops are compiled from source. Install g++ (e.g. apt-get install build-essential)."
}

# Builds mmcv with ops from its sdist against the venv's torch, unless a wheel built
# for this torch and Python is cached already. Prints the wheel's path.
mmcv_wheel() {
    local torch_version py_tag cache_dir
    torch_version="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')"
    py_tag="$("$VENV/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    cache_dir="$WHEEL_CACHE/mmcv-$MMCV_VERSION-torch$torch_version-$py_tag${FORCE_CUDA:+-cuda}"
    if ! ls "$cache_dir"/mmcv-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with ops against torch $torch_version (about 12 minutes, once)" >&2
        local work
        work="$(mktemp -d)"
        "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work" >&2
        tar -xzf "$work"/mmcv-*.tar.gz -C "$work"
        # torch >= 2.10 headers require C++20; mmcv's setup.py hard-codes c++17.
        sed -i 's/c++17/c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
        (cd "$work/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$VENV/bin/pip" wheel --no-deps --no-build-isolation . -w "$work/dist") >&2 \
            || die "building mmcv failed; see the compiler output above."
        mkdir -p "$cache_dir"
        mv "$work"/dist/mmcv-*.whl "$cache_dir/"
        rm -rf "$work"
    else
        log "reusing cached mmcv wheel from $cache_dir" >&2
    fi
    ls "$cache_dir"/mmcv-*.whl
}

verify() {
    "$VENV/bin/python" - <<'EOF' || die "the stack does not import; see the traceback above."
import mmcv, mmdeploy, mmdeploy_runtime, mmdet, mmengine, mmpretrain, mmseg, nncf, onnxruntime, openvino, torch
from executorch.runtime import Runtime  # noqa: F401  (ExecuTorch's runtime, with the XNNPACK delegate)
from mmcv.ops import nms  # noqa: F401  (compiled ops are present)
print(f'install_env: torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'mmdeploy {mmdeploy.__version__}, onnxruntime {onnxruntime.__version__}, executorch (XNNPACK), '
      f'openvino {openvino.__version__}, nncf {nncf.__version__}')
EOF
}

main() {
    local stamp_file="$VENV/.mobileone_mm-install-stamp" stamp
    stamp="$(stamp_of_requirements)"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
        return 0
    fi
    check_toolchain
    [ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements/build.txt"
    "$VENV/bin/pip" install --quiet "$(mmcv_wheel)"
    "$VENV/bin/pip" install --quiet -r "$ROOT/requirements.txt" -r "$ROOT/requirements/tests.txt"
    "$VENV/bin/pip" install --quiet --no-deps "mmdeploy==$MMDEPLOY_VERSION"
    "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation -e "$ROOT"
    verify
    echo "$stamp" > "$stamp_file"
}

main "$@"
