#!/usr/bin/env bash
# cmake --install into a fresh prefix; check the layout; build examples/consumer against it
# with find_package (shared and static) and with pkg-config; run each, the installed CLI and
# the installed Python package, from outside the source and build trees.
#   install_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cd "$work"

cmake --install "$build" --prefix "$prefix" >/dev/null
version=$(sed -n 's/^#define VQ_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/vq/version.h")
major_minor=${version%.*}
for f in include/vq/core/quantizer.h include/vq/version.h "lib/libvqcodec.so.$version" lib/libvqcodec.a \
         bin/vq share/vqcodec/models/default/image.vqc share/vqcodec/models/audio_default.vqc \
         lib/cmake/vqcodec/vqcodecConfig.cmake lib/cmake/vqcodec/vqcodecConfigVersion.cmake \
         lib/pkgconfig/vqcodec.pc lib/pkgconfig/vqcodec-static.pc; do
  [ -e "$prefix/$f" ] || { echo "install_consumer: $f was not installed"; exit 1; }
done
soname=$(readelf -d "$prefix/lib/libvqcodec.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libvqcodec.so.$major_minor" ] || { echo "install_consumer: SONAME is '$soname'"; exit 1; }
if readelf -d "$prefix/bin/vq" | grep -q "RPATH\|RUNPATH"; then
  echo "install_consumer: the installed vq keeps a build-tree RPATH"; exit 1
fi

# The installed CLI finds its models through its own location, nowhere else.
"$prefix/bin/vq" --version
"$prefix/bin/vq" encode "$prefix/share/vqcodec/models/samples/chelsea.png" -o photo.vqc --levels 1 >/dev/null
"$prefix/bin/vq" decode photo.vqc -o photo.png >/dev/null
# ...and encoded files name a bundled model relative to that folder (vq/core/model_ref.h).
"$prefix/bin/vq" info photo.vqc | grep -q "^model  *default/image.vqc (hash [0-9a-f]\{16\})$" ||
  { echo "install_consumer: photo.vqc does not refer to the bundled default/image.vqc by hash"; exit 1; }

# find_package, shared and static.
for mode in OFF ON; do
  cmake -S "$src/examples/consumer" -B "consumer-$mode" -DCMAKE_PREFIX_PATH="$prefix" -DVQCODEC_STATIC=$mode \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "consumer-$mode" >/dev/null
  out=$(LD_LIBRARY_PATH="$prefix/lib" "consumer-$mode/consumer" "$work/pq-$mode.vqc")
  echo "$out"
  grep -q "models in $prefix/share/vqcodec/models" <<<"$out" ||
    { echo "install_consumer: the consumer did not find the installed models"; exit 1; }
done
# The shared build really loads the installed library.
LD_LIBRARY_PATH="$prefix/lib" ldd consumer-OFF/consumer | grep -q "$prefix/lib/libvqcodec.so.$major_minor" ||
  { echo "install_consumer: consumer-OFF does not load the installed libvqcodec"; exit 1; }

# With MPI: vqcodec::vqcodec_mpi from the installed package, a program trained over 2 ranks.
if [ -e "$prefix/lib/libvqcodec_mpi.a" ]; then
  [ -e "$prefix/include/vq/mpi/mpi_communicator.h" ] || { echo "install_consumer: vq/mpi/ was not installed"; exit 1; }
  cmake -S "$src/examples/mpi_consumer" -B consumer-mpi -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build consumer-mpi >/dev/null
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 \
    mpirun -np 2 --oversubscribe consumer-mpi/mpi_consumer | grep -q "trained over 2 ranks" ||
    { echo "install_consumer: the MPI consumer failed"; exit 1; }
  echo "mpi consumer: PQ4x6 trained over 2 ranks"
fi
# pkg-config, shared and static.
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C "$src/examples/consumer" OUT="$work/consumer-pc"
LD_LIBRARY_PATH="$prefix/lib" ./consumer-pc "$work/pq-pc.vqc"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -s -C "$src/examples/consumer" OUT="$work/consumer-pc-static" PKG=vqcodec-static
VQ_MODELS_DIR=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=modelsdir vqcodec-static) \
  ./consumer-pc-static "$work/pq-pcs.vqc"

# Under valgrind (no AVX-512 there): the shared-library consumer must not hit SIGILL.
if command -v valgrind >/dev/null; then
  LD_LIBRARY_PATH="$prefix/lib" valgrind --tool=none -q --error-exitcode=1 consumer-OFF/consumer "$work/pq-vg.vqc"
fi

# The Python package of `cmake --install` (component python), with its own models.
site=$(cd "$prefix" && ls -d lib/python3*/*-packages)
PYTHONPATH="$prefix/$site" /usr/bin/python3 -c "
import vqcodec, sys
d = vqcodec.models_dir()
assert d.startswith('$prefix/$site/vqcodec'), d
print('python', vqcodec.__version__, 'models in', d)
assert vqcodec.__version__ == '$version'
"
echo "install_consumer: ok ($version)"
