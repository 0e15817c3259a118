"""Builds the vqcodec wheel: CMake compiles the _vqcodec extension (and the library it links
statically); setuptools packages it with the pure-Python files, the type stubs and the bundled
default models (vqcodec/models, found there at run time: include/vq/core/models.h).

Metadata is in pyproject.toml. Environment:
  VQCODEC_CMAKE_BUILD_DIR   reuse this configured CMake build tree (e.g. `build`, made by
                            scripts/build.sh) instead of configuring a fresh one
  CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default: all cores)
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def cmake_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(vqcodec VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        reuse = os.environ.get("VQCODEC_CMAKE_BUILD_DIR")
        build_dir = Path(reuse).resolve() if reuse else Path(self.build_temp).resolve() / "cmake"
        if not (build_dir / "CMakeCache.txt").exists():
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *generator,
                            "-DCMAKE_BUILD_TYPE=Release", "-DVQ_BUILD_TESTS=OFF", "-DVQ_BUILD_APPS=OFF",
                            "-DVQ_BUILD_BENCHMARKS=OFF", "-DVQ_BUILD_SHARED=OFF",
                            f"-DPython_EXECUTABLE={sys.executable}"], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_vqcodec", "-j", jobs], check=True)
        built = sorted((build_dir / "python" / "vqcodec").glob("_vqcodec*.so"))
        if not built:
            raise RuntimeError(f"CMake built no _vqcodec module in {build_dir}/python/vqcodec")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], target)


class BuildPyWithModels(build_py):
    """Copies the repository's models/ into the package as vqcodec/models."""

    def run(self):
        super().run()
        dest = Path(self.build_lib) / "vqcodec" / "models"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(ROOT / "models", dest)


setup(
    version=cmake_version(),
    ext_modules=[Extension("vqcodec._vqcodec", sources=[])],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithModels},
    # setuptools' own scratch folders, kept apart from the CMake build tree `build/`.
    options={"build": {"build_base": "build-python"}, "egg_info": {"egg_base": "build-python"}},
)
