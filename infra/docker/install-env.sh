#!/bin/sh
# Installs the locked environment of one image target into /app/.venv (run by infra/docker/Dockerfile).
#   pipeline  the whole lock without the dev group: the CLI, flows, DVC, Prefect, Evidently
#   api       the same lock without what only the pipeline uses (Evidently and its plotting stack, Prefect,
#             DVC, copier, the MLflow server): versions and hashes still come from uv.lock
# The project is installed in editable mode, pointing at /app, where the Dockerfile copies the code in a
# later layer: this layer depends on pyproject.toml and uv.lock only, so a code edit does not rebuild it.
# uv is installed, used and removed within the one layer, so the image does not carry it.
set -eu
export UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
	PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# UV_NATIVE_TLS: the system's CA store, so a build behind a TLS-inspecting proxy works when the base trusts it.
export UV_NATIVE_TLS=1
python3 -m venv /tmp/uv
/tmp/uv/bin/pip install --quiet uv==0.13.9
uv=/tmp/uv/bin/uv
# Placeholders: the build backend wants the package folders and the readme to exist.
mkdir -p pipelines services
touch pipelines/__init__.py services/__init__.py README.md
case "$1" in
pipeline)
	$uv sync --quiet --frozen --no-dev --python python3
	;;
api)
	# MLflow as its skinny client (the same code, at the locked version, without the tracking server's own
	# dependencies: Flask, gunicorn, GraphQL, Docker, matplotlib); alembic stays for a SQLite or PostgreSQL store.
	$uv export --frozen --no-dev --no-emit-project --quiet \
		--prune evidently --prune prefect --prune dvc --prune dvc-s3 --prune copier \
		--no-emit-package mlflow --prune flask --prune flask-cors --prune gunicorn --prune waitress \
		--prune graphene --prune huey --prune docker --prune matplotlib -o /tmp/requirements.txt
	$uv venv --quiet --python python3 /app/.venv
	VIRTUAL_ENV=/app/.venv $uv pip install --quiet --no-deps --require-hashes -r /tmp/requirements.txt
	VIRTUAL_ENV=/app/.venv $uv pip install --quiet --no-deps --editable .
	;;
*)
	echo "usage: $0 pipeline|api" >&2
	exit 2
	;;
esac
# The image's SBOM: CycloneDX JSON of what /app/.venv holds (read from the installed packages' metadata, so the
# api target's pruned set is what it lists), at /app/sbom.cdx.json; infra/scripts/containers.sh copies it out
# beside the image. cyclonedx-py runs from its own throw-away venv, at the versions and hashes uv.lock pins.
$uv export --frozen --only-group sbom --no-emit-project --quiet -o /tmp/sbom-tool.txt
$uv venv --quiet --python python3 /tmp/sbom
VIRTUAL_ENV=/tmp/sbom $uv pip install --quiet --no-deps --require-hashes -r /tmp/sbom-tool.txt
/tmp/sbom/bin/cyclonedx-py environment --pyproject pyproject.toml --mc-type application --output-reproducible \
	-o /app/sbom.cdx.json /app/.venv
rm -rf /tmp/uv /tmp/requirements.txt /tmp/sbom /tmp/sbom-tool.txt pipelines services README.md
