# Sourced by the download scripts: fetch URL into DEST only if its sha256 is SHA256.
# fetch_verified URL SHA256 DEST: downloads to DEST.part, checks, renames; nothing half-written is kept.
fetch_verified() {
    local url="$1" sha256="$2" dest="$3"
    if [[ -f "$dest" ]] && [[ "$(sha256sum "$dest" | cut -d' ' -f1)" == "$sha256" ]]; then
        echo "$dest is already there and verified; nothing to download." >&2
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    local partial="$dest.part"
    echo "downloading $url" >&2
    if ! curl --fail --location --retry 2 --connect-timeout 20 --progress-bar --output "$partial" "$url"; then
        rm -f "$partial"
        echo "error: could not download $url" >&2
        return 1
    fi
    local actual
    actual="$(sha256sum "$partial" | cut -d' ' -f1)"
    if [[ "$actual" != "$sha256" ]]; then
        rm -f "$partial"
        echo "error: checksum mismatch for $url: expected $sha256, got $actual; nothing kept." >&2
        return 1
    fi
    mv "$partial" "$dest"
}
