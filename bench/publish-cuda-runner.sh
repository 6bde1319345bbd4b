#!/usr/bin/env bash
# Publishes bench/Dsl.Cuda.Runner trimmed and self-contained (no .NET needed where it runs) into
# artifacts/cuda-runner/, with the PyTorch scripts in artifacts/cuda-runner/torch/. Carry that folder to a GPU
# machine and run ./Dsl.Cuda.Runner parity and ./Dsl.Cuda.Runner time there (docs/cuda.md).
# Usage: bench/publish-cuda-runner.sh [RID]   (default linux-x64)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rid="${1:-linux-x64}"
out="$root/artifacts/cuda-runner"
rm -rf "$out"
dotnet publish "$root/bench/Dsl.Cuda.Runner/Dsl.Cuda.Runner.csproj" -c Release -r "$rid" -o "$out"
# (PublishTrimmed and SelfContained are set in the project: on this command line they would reach the generators.)
rm -f "$out"/*.pdb
echo "published to $out ($(du -sh "$out" | cut -f1)); carry the folder and run ./Dsl.Cuda.Runner parity, ./Dsl.Cuda.Runner time"
