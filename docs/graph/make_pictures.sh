#!/bin/sh
# The README's graph pictures, drawn by archinspect itself and rendered to PNG by headless Chromium.
# Run from the repository root: sh docs/graph/make_pictures.sh
set -e
out=docs/graph
ai="python -m archinspect"
$ai graph googlenet --depth 3 --only inception3a -o $out/inception3a.svg
$ai graph densenet-bc --arg depth=40 --depth 2 --only block1 --only trans1 -o $out/densenet_bc_block.svg
$ai graph resnet50 -o $out/resnet50.svg
$ai graph resnet50 --color time --device cpu -o $out/resnet50_time.svg  # measured here: times vary by machine
for name in inception3a densenet_bc_block resnet50 resnet50_time; do
  size=$(sed -n 's/.*viewBox="0 0 \([0-9]*\) \([0-9]*\)".*/\1,\2/p' $out/$name.svg | head -1)
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --force-device-scale-factor=1 --window-size="$size" --screenshot="$out/$name.png" "file://$PWD/$out/$name.svg" \
    2>/dev/null
done
