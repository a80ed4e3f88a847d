#!/usr/bin/env bash
# Regenerates Proto/Generated from Proto/mbox/v1/*.proto. Needs protoc (apt:
# protobuf-compiler); builds protoc-gen-swift and protoc-gen-grpc-swift-2 from the same
# package versions Package.swift uses (about 1–1.5 minutes each, cached in
# $PLUGIN_DIR). The generated code is committed: builds do not run this.
set -euo pipefail
cd "$(dirname "$0")"
PLUGIN_DIR=${PLUGIN_DIR:-/tmp/mbox-protoc-plugins}
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
if [ ! -x "$PLUGIN_DIR/bin/protoc-gen-grpc-swift-2" ] || [ ! -x "$PLUGIN_DIR/bin/protoc-gen-swift" ]; then
    mkdir -p "$PLUGIN_DIR"
    [ -d "$PLUGIN_DIR/grpc-swift-protobuf" ] ||
        git clone -q -b 2.4.1 https://github.com/grpc/grpc-swift-protobuf "$PLUGIN_DIR/grpc-swift-protobuf"
    (cd "$PLUGIN_DIR/grpc-swift-protobuf" &&
        swift build -c release --product protoc-gen-grpc-swift-2 &&
        swift build -c release --product protoc-gen-swift)
    mkdir -p "$PLUGIN_DIR/bin"
    cp "$PLUGIN_DIR/grpc-swift-protobuf/.build/release/protoc-gen-grpc-swift-2" \
       "$PLUGIN_DIR/grpc-swift-protobuf/.build/release/protoc-gen-swift" "$PLUGIN_DIR/bin/"
fi
rm -rf Generated && mkdir Generated
protoc --plugin="$PLUGIN_DIR/bin/protoc-gen-swift" --plugin="$PLUGIN_DIR/bin/protoc-gen-grpc-swift-2" \
    -I . \
    --swift_out=Generated --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift-2_out=Generated --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=DropPath \
    mbox/v1/*.proto
ls Generated
