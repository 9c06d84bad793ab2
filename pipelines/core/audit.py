"""The dependency audit's verdict (owner: MLOps engineer), as `make audit` runs it in CI.

Takes pip-audit's JSON report on the packages uv.lock pins and the allowlist `.ci/audit-allow.toml`, where each
accepted vulnerability is an `[[allow]]` entry with its `id`, `package` and `reason`. Hands over an exit code:
1 for any vulnerability the list does not accept (or a list without a reason), 0 otherwise. Packages the
vulnerability service could not check are named, not hidden, and entries that match nothing are reported so
the list does not outlive its reasons.

    python -m pipelines.core.audit local/audit/pip-audit.json .ci/audit-allow.toml
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Allowed:
    id: str
    package: str
    reason: str


@dataclass
class Verdict:
    refused: list[str] = field(default_factory=list)  # findings the allowlist does not accept
    accepted: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)  # packages the service could not check
    unused: list[Allowed] = field(default_factory=list)


def _name(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()  # PEP 503: PyYAML, pyyaml and py_yaml are one package


def read_allowlist(path: Path) -> list[Allowed]:
    """The entries of `path`; ValueError naming the first one without an id, a package or a reason."""
    entries = tomllib.loads(path.read_text()).get("allow", [])
    allowed = []
    for i, entry in enumerate(entries, 1):
        values = {key: str(entry.get(key, "")).strip() for key in ("id", "package", "reason")}
        missing = [key for key, value in values.items() if not value]
        if missing:
            raise ValueError(f"{path}: entry {i} ({values['id'] or 'no id'}) has no {' and no '.join(missing)}")
        allowed.append(Allowed(**values))
    return allowed


def judge(report: dict[str, Any], allowed: list[Allowed]) -> Verdict:
    """Each vulnerability in pip-audit's report, accepted if an entry names its package and its id or an alias."""
    verdict, used = Verdict(), set()
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            verdict.unaudited.append(dep["name"])
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            entry = next((a for a in allowed if _name(a.package) == _name(dep["name"]) and a.id in ids), None)
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            line = f"{dep['name']} {dep['version']}: {vuln['id']} ({fixed})"
            if entry is None:
                verdict.refused.append(line)
            else:
                used.add(entry)
                verdict.accepted.append(f"{line}: {entry.reason}")
    verdict.unused = [a for a in allowed if a not in used]
    return verdict


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m pipelines.core.audit PIP_AUDIT_JSON ALLOWLIST_TOML", file=sys.stderr)
        return 2
    report_path, allow_path = Path(argv[0]), Path(argv[1])
    try:
        report = json.loads(report_path.read_text())
        allowed = read_allowlist(allow_path)
    except (OSError, ValueError) as exc:  # no report: pip-audit failed, and said why above
        print(f"audit: {exc}", file=sys.stderr)
        return 1
    v = judge(report, allowed)
    deps = report.get("dependencies", [])
    for line in v.accepted:
        print(f"audit: accepted {line}")
    for a in v.unused:
        print(f"audit: {allow_path} lists {a.id} for {a.package}, which no longer applies: remove the entry")
    if v.unaudited:
        why = next(d["skip_reason"] for d in deps if "skip_reason" in d)
        print(f"audit: NOT CHECKED {len(v.unaudited)} of {len(deps)} packages, e.g. {why}")
    for line in v.refused:
        print(f"audit: VULNERABLE {line}: upgrade it, or list it in {allow_path} with a reason", file=sys.stderr)
    checked = len(deps) - len(v.unaudited)
    print(f"audit: {checked} packages checked, {len(v.refused)} vulnerabilities refused, {len(v.accepted)} accepted")
    return 1 if v.refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
