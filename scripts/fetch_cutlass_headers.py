#!/usr/bin/env python3
"""Fetches the CUTLASS/CuTe headers the sm_90a kernels compile against: PyPI's nvidia-cutlass wheel (pinned by the
caller), of which only the headers are unpacked, into DEST/include. Used by scripts/setup and, when no headers are
found, by the CMake build itself (src/cuda/cuda.cmake), so `pip wheel .` needs no manual step.

    scripts/fetch_cutlass_headers.py VERSION DEST
"""
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

version, dest = sys.argv[1], sys.argv[2]
prefix = "cutlass_library/source/include/"
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp,
                    f"nvidia-cutlass=={version}"], check=True)
    wheel = glob.glob(os.path.join(tmp, "nvidia_cutlass-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                out = os.path.join(dest, "include", name[len(prefix):])
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(name) as src, open(out, "wb") as dst:
                    dst.write(src.read())
if not os.path.isfile(os.path.join(dest, "include", "cute", "tensor.hpp")):
    sys.exit(f"fetch_cutlass_headers: nvidia-cutlass=={version} held no cute/tensor.hpp")
print(f"fetch_cutlass_headers: nvidia-cutlass=={version} headers in {dest}/include")
