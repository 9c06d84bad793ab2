"""The role pages, docs/roles/<role>.md (owner: MLOps engineer): each stage owner's day, rendered from the
handbook into a generated block, and the check that everything the handbook names exists.

`relay roles --write` and `--check` call `write` and `problems` after the core's roles.md and CODEOWNERS.
Standard library and PyYAML only, like the renderer it extends.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.core import ownership_check, team
from pipelines.core.ownership import STAGES, Role
from pipelines.teaching.handbook import DAYS, TOUR, RoleDay, is_command


def _link(path: str, depth: int) -> str:
    return f"[`{path}`]({'../' * depth}{path})"


def role_day(day: RoleDay) -> str:
    """A stage owner's page in docs/roles/: generated from the handbook so it cannot drift from the code."""
    up = 2  # docs/roles/<role>.md → repository root
    raci = team.load().raci
    out = [f"**Mission:** {day.mission}.", "", "### Stages owned", ""]
    for name in day.stages:
        s = next(x for x in STAGES if x.name == name)
        out.append(f"- **{name}** (`{s.module}`): takes {s.takes}; hands over {s.hands_over}.")
    out += ["", "### Files", ""] + [f"- {_link(f, up)}" for f in day.files]
    out += ["", "### Commands", ""] + [f"- `{c}`" for c in day.commands]
    out += ["", "### Receives", ""]
    out += [f"- the **{h.name}** from the {h.giver.label}: {h.what}." for h in day.receives] or [
        "- data from the sources the business runs."
    ]
    out += ["", "### Hands over", ""]
    out += [f"- the **{h.name}** to the {', '.join(t.label for t in h.takers)}: {h.what}." for h in day.gives]
    out += ["", "### Checks that guard the hand-offs", ""] + [f"- {_link(c, up)}" for c in day.checks]
    out += ["", "### RACI", ""]
    for s in STAGES:
        letter = raci.get(s.name, {}).get(day.role)
        if letter:
            out.append(f"- {s.name}: {letter}")
    out += ["", "### Exercises", ""]
    for i, ex in enumerate(day.exercises, 1):
        out.append(
            f"{i}. **{ex.title}.** "
            + " → ".join(f"`{st}`" if is_command(st) else st for st in ex.steps)
            + f". *You should see:* {ex.expect}."
        )
    return "\n".join(out)


def role_doc_path(root: Path, role: Role) -> Path:
    return root / "docs" / "roles" / f"{role.value}.md"


def _blocks(root: Path) -> ownership_check.Blocks:
    return {role_doc_path(root, role): {"day": lambda day=day: role_day(day)} for role, day in DAYS.items()}  # type: ignore[misc]


def write(root: Path) -> list[Path]:
    return ownership_check.write_blocks(_blocks(root))


def problems(root: Path) -> list[str]:
    """The role pages match the handbook, and every file and test it names exists, or the tour would send a
    newcomer nowhere."""
    found = ownership_check.block_problems(root, _blocks(root))
    named = [(p, f"tour of {name!r}") for name, tour in TOUR.items() for p in tour.files]
    named += [(p, f"{role.label}'s day") for role, day in DAYS.items() for p in (*day.files, *day.checks)]
    found += ownership_check.missing_files(root, named)
    stages = {s.name for s in STAGES}
    found += [f"the tour has no entry for stage {s!r}" for s in sorted(stages - set(TOUR))]
    found += [f"the tour names {s!r}, which is not a stage" for s in sorted(set(TOUR) - stages)]
    found += [f"the handbook has no day for the {r.label}" for r in Role if r not in DAYS]
    return found
