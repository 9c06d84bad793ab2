#!/usr/bin/env bash
# Build and run Relay's images without a Docker engine: buildah builds, podman runs (owner: MLOps engineer).
#
#   infra/scripts/containers.sh setup     tools (apt, when root), config, and the local base image (cached)
#   infra/scripts/containers.sh build     both targets of infra/docker/Dockerfile: relay-api, relay-pipeline,
#                                         each with its CycloneDX SBOM beside it in $W/images/
#   infra/scripts/containers.sh env       the exports that point buildah/podman at this set-up (eval it)
#
# Everything lives under $RELAY_CONTAINERS_DIR (default ~/.cache/relay/containers), outside the checkout, so
# the base image and build layers survive between clones: the first run takes about a minute, later ones
# seconds. With Docker, none of this is needed: `docker build -f infra/docker/Dockerfile --target api .`
# uses the official Python image (BASE_IMAGE's default).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${RELAY_CONTAINERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/relay/containers}
BASE=localhost/relay-base:bookworm
export CONTAINERS_STORAGE_CONF="$W/etc/storage.conf" CONTAINERS_CONF="$W/etc/containers.conf"

say() { echo "containers: $*" >&2; }

have_tools() {
	local tool
	for tool in buildah podman debootstrap runc; do
		command -v "$tool" >/dev/null || return 1
	done
}

install_tools() {
	have_tools && return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		say "buildah, podman, debootstrap and runc are missing and there is no root apt-get to install them"
		return 3
	fi
	# runc: podman's default crun fails on this kind of host ("cgroups in hybrid mode not supported").
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman debootstrap runc >/dev/null
}

write_config() {
	mkdir -p "$W/etc" "$W/storage" "$W/run/libpod"
	cat >"$W/etc/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run"
EOF
	# default_ulimits = []: without it podman fails with "error setting rlimit type 7" in some sandboxes.
	cat >"$W/etc/containers.conf" <<EOF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
tmp_dir = "$W/run/libpod"
EOF
}

apt_mirror() {
	# The host's own Debian mirror; never written into the repository.
	local uri
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	echo "${uri:-http://deb.debian.org/debian}"
}

base_image() {
	if podman image exists "$BASE" 2>/dev/null; then
		return 0
	fi
	local rootfs="$W/rootfs"
	say "building the base image $BASE with debootstrap (once; cached in $W)"
	rm -rf "$rootfs"
	debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
		bookworm "$rootfs" "$(apt_mirror)" >/dev/null
	# HTTPS from some networks goes through a proxy whose CA the host trusts; the build's pip and uv need it too.
	# It is only in this locally made base; the Dockerfile's default base is the official Python image.
	if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
		chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
	fi
	rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
		"$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
	tar -C "$rootfs" -c . | podman import --quiet \
		--change 'ENV LANG=C.UTF-8' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		- "$BASE" >/dev/null
	rm -rf "$rootfs"
}

context_hash() {
	# What an image is made of: the Dockerfile, the files .dockerignore lets into the context, and the base.
	local paths
	paths=$(sed -n 's|^!\(.*[^/]\)/*$|\1|p' "$ROOT/.dockerignore")
	{
		cat "$ROOT/infra/docker/Dockerfile" "$ROOT/.dockerignore"
		podman image inspect --format '{{.Id}}' "$BASE"
		# shellcheck disable=SC2086 # one path a word
		(cd "$ROOT" && find $paths -type f ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -c1-16
}

bud() {
	# buildah bud with Relay's options; extra arguments name the target and tags. buildah's chroot isolation
	# runs itself again from a sealed in-memory copy of its binary, and the kernel can refuse that seal for a
	# moment while the binary's pages are busy with I/O ("sealing memfd copy: Device or resource busy"). That
	# one error is retried once; any other failure is the build's own and is reported as it is.
	local log attempt
	log=$(mktemp)
	for attempt in 1 2; do
		if buildah bud --quiet --layers --format docker --isolation chroot --build-arg BASE_IMAGE="$BASE" \
			-f "$ROOT/infra/docker/Dockerfile" "$@" "$ROOT" >/dev/null 2>"$log"; then
			rm -f "$log"
			return 0
		fi
		if [ "$attempt" = 1 ] && grep -q "sealing memfd copy: Device or resource busy" "$log"; then
			say "buildah's re-exec was refused for a moment (memfd seal busy); building $* again"
			continue
		fi
		break
	done
	cat "$log" >&2
	rm -f "$log"
	return 1
}

sbom() {
	# The SBOM the build wrote into the image (/app/sbom.cdx.json, CycloneDX JSON), copied beside the image:
	# $W/images/relay-<target>-<hash>.cdx.json, and -dev.cdx.json for the image tagged :dev.
	local target=$1 hash=$2 out="$W/images/relay-$1-$2.cdx.json"
	mkdir -p "$W/images"
	if [ ! -s "$out" ]; then
		podman run --rm --network none --no-healthcheck --entrypoint cat "localhost/relay-$target:$hash" /app/sbom.cdx.json >"$out.tmp"
		mv "$out.tmp" "$out"
	fi
	cp "$out" "$W/images/relay-$target-dev.cdx.json"
	say "SBOM of localhost/relay-$target:dev: $out"
}

build() {
	# Each image is tagged with the hash of what it is made of as well as :dev, so a checkout, a fresh clone
	# or a test run that asks for the same content gets the image already built, without running buildah.
	local hash target pid status=0
	local -a missing=() pids=()
	# One build at a time per cache: a second caller (another clone, another test worker) waits, then finds
	# the images the first one built.
	mkdir -p "$W"
	exec 9>"$W/build.lock"
	flock 9
	hash=$(context_hash)
	for target in api pipeline; do
		if podman image exists "localhost/relay-$target:$hash"; then
			podman tag "localhost/relay-$target:$hash" "localhost/relay-$target:dev"
			say "reused localhost/relay-$target:$hash as localhost/relay-$target:dev (same Dockerfile, context and base image)"
			sbom "$target" "$hash"
		else
			missing+=("$target")
		fi
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	# The stages both targets share first, then the targets side by side: each spends much of its time on the
	# network and the disk (1 min 55 s one after the other on 2 cores from an empty layer cache).
	bud --target runtime
	for target in "${missing[@]}"; do
		(
			bud --target "$target" -t "localhost/relay-$target:$hash" -t "localhost/relay-$target:dev" &&
				say "built localhost/relay-$target:dev ($hash)" && sbom "$target" "$hash"
		) &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || status=1
	done
	[ "$status" = 0 ] || say "an image failed to build (its output is above)"
	return "$status"
}

case "${1:-}" in
setup)
	install_tools
	write_config
	base_image
	;;
build) build ;;
env) echo "export CONTAINERS_STORAGE_CONF='$CONTAINERS_STORAGE_CONF' CONTAINERS_CONF='$CONTAINERS_CONF' RELAY_CONTAINERS_DIR='$W'" ;;
*)
	echo "usage: $0 setup|build|env" >&2
	exit 2
	;;
esac
