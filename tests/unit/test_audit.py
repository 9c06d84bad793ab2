"""`make audit`'s verdict on a pip-audit report (a fake one: no network here) and the allowlist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.core import audit
from tests.helpers import REPO

REPORT = {
    "dependencies": [
        {
            "name": "PyYAML",
            "version": "6.0",
            "vulns": [{"id": "PYSEC-1", "aliases": ["CVE-1"], "fix_versions": ["6.1"]}],
        },
        {"name": "jinja2", "version": "3.1.0", "vulns": [{"id": "GHSA-2", "aliases": [], "fix_versions": []}]},
        {"name": "numpy", "version": "2.4.6", "vulns": []},
        {"name": "private-thing", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ],
    "fixes": [],
}


def _allow(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "audit-allow.toml"
    path.write_text("\n".join(f"[[allow]]\n{e}\n" for e in entries))
    return path


def _run(tmp_path: Path, allow: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    report = tmp_path / "pip-audit.json"
    report.write_text(json.dumps(REPORT))
    code = audit.main([str(report), str(allow)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_vulnerability_not_listed_fails_the_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Listed by an alias and another spelling of the package name: accepted. GHSA-2 is not listed.
    allow = _allow(tmp_path, 'id = "CVE-1"\npackage = "pyyaml"\nreason = "only safe_load is used"')
    code, out, err = _run(tmp_path, allow, capsys)
    assert code == 1
    assert "VULNERABLE jinja2 3.1.0: GHSA-2 (no fixed version yet)" in err and "PyYAML" not in err
    assert "accepted PyYAML 6.0: PYSEC-1 (6.1): only safe_load is used" in out
    assert "NOT CHECKED 1 of 4 packages" in out and "3 packages checked, 1 vulnerabilities refused" in out


def test_every_vulnerability_listed_passes_and_stale_entries_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    allow = _allow(
        tmp_path,
        'id = "PYSEC-1"\npackage = "PyYAML"\nreason = "only safe_load is used"',
        'id = "GHSA-2"\npackage = "Jinja2"\nreason = "templates are ours, never user input"',
        'id = "GHSA-9"\npackage = "numpy"\nreason = "was fixed"',
    )
    code, out, _ = _run(tmp_path, allow, capsys)
    assert code == 0
    assert "lists GHSA-9 for numpy, which no longer applies: remove the entry" in out


def test_the_same_id_on_another_package_is_not_accepted(tmp_path: Path) -> None:
    allowed = [audit.Allowed(id="GHSA-2", package="flask", reason="x")]
    verdict = audit.judge(REPORT, allowed)
    assert [line.split(":")[0] for line in verdict.refused] == ["PyYAML 6.0", "jinja2 3.1.0"]
    assert verdict.unused == allowed and verdict.unaudited == ["private-thing"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('id = "GHSA-2"\npackage = "jinja2"', r"entry 1 \(GHSA-2\) has no reason"),
        ('package = "jinja2"\nreason = " "', r"entry 1 \(no id\) has no id and no reason"),
    ],
)
def test_an_entry_without_its_reason_is_refused(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        audit.read_allowlist(_allow(tmp_path, entry))


def test_no_report_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.main([str(tmp_path / "none.json"), str(REPO / ".ci" / "audit-allow.toml")]) == 1
    assert capsys.readouterr().err.startswith("audit: [Errno 2] No such file")
    assert audit.main([]) == 2


def test_the_shipped_allowlist_reads() -> None:
    assert all(a.reason for a in audit.read_allowlist(REPO / ".ci" / "audit-allow.toml"))
