#!/bin/bash
# Layer rules that the compiler cannot enforce (docs/ARCHITECTURE.md), checked
# on every test run:
#   - src/core/ includes only core/ and the public bennu/ headers;
#   - nothing under src/mesh/ reaches jansson, directly or through a header
#     (the mesh carries opaque bytes; JSON is pubsub's and admin's business);
#   - src/app/ and tools/ include only public bennu/ headers and files of
#     their own directory. One recorded exception (docs/NOTES.md): bennuctl
#     links the token CLI of src/app (token_cli.h) so that both programs
#     share `token mint|verify`.
# Usage: check_layers.sh CC SOURCE_DIR GENERATED_DIR
set -u
cc=$1 src=$2 gen=$3
fail=0
bad() { echo "layer violation: $*"; fail=1; }

quoted_includes() { sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"; }

for f in "$src"/src/core/*.[ch]; do
    for inc in $(quoted_includes "$f"); do
        case $inc in core/* | bennu/*) ;; *) bad "$f includes \"$inc\"" ;; esac
    done
done

# shellcheck disable=SC2046
cflags="-I$src/include -I$src/src -I$gen $(pkg-config --cflags libuv libsodium libprotobuf-c)"
for f in "$src"/src/mesh/*.c "$src"/include/bennu/mesh.h; do
    # shellcheck disable=SC2086
    deps=$("$cc" -M -x c $cflags "$f") || { bad "cannot preprocess $f"; continue; }
    if grep -q 'jansson' <<<"$deps"; then
        bad "$f reaches jansson: $(tr ' ' '\n' <<<"$deps" | grep -v '^\\$' | grep -E 'jansson|bennu/|src/' | tr '\n' ' ')"
    fi
done

for f in $(find "$src/src/app" "$src/tools" -name '*.[ch]'); do
    dir=$(dirname "$f")
    for inc in $(quoted_includes "$f"); do
        case $inc in
        bennu/*) continue ;;
        app/*) [ "$dir" = "$src/src/app" ] && [ -f "$src/src/$inc" ] && continue ;;
        token_cli.h) [ "$dir" = "$src/tools/bennuctl" ] && continue ;;
        esac
        [ -f "$dir/$inc" ] && continue
        bad "$f includes \"$inc\" (not public, not its own directory)"
    done
done

if [ "$fail" -eq 0 ]; then
    echo "layers: ok"
fi
exit "$fail"
