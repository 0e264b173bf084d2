"""What-if replays: the oracle's and bpaste's speedup if one more tool (or shell program) were allowed.

For the top tools the safety table does not know and the top plain programs that made shell commands
unknown (`coverage.safety_coverage`), the split is replayed with the table overridden for that one tool
(marked read-only) or program (enabled in `[shell] read_only`), under the oracle (perfect prediction,
obeys safety) and bpaste, so a user sees what one classification decision is worth. It only measures:
the table a user deploys changes only when they write the line into their safety file.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bpaste_cli.device import Device
from bpaste_cli.mine import Predictor
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.value import ValueModel
from bpaste_cli.safety import SafetyTable
from bpaste_cli.trace import Dataset

_PROGRAM = re.compile(r"[A-Za-z0-9_.+-]+")  # a program a [shell] read_only entry can name


def what_if(dataset: Dataset, predictor: Predictor | None, coverage: dict[str, Any], *, device: Device | str,
            config: ReplayConfig, safety: SafetyTable, value_model: ValueModel | None = None, top: int = 3) -> dict[str, Any]:
    """The oracle's and bpaste's speedup on `config.split` as the table stands, and with each of the `top`
    unclassified tools (then each of the `top` plain programs that made shell commands unknown) allowed in turn."""
    from bpaste_cli.replay.run import replay  # the verb calls this module: imported when used

    arms = ("serial", "oracle") + (("bpaste",) if predictor is not None else ())
    cfg = replay(dataset, predictor, device=device, config=replace(config, arms=arms, bootstrap=0), safety=safety,
                 value_model=value_model)

    def speedups(rep: Any) -> dict[str, float]:
        return {a: rep.arms[a]["speedup"] for a in arms if a != "serial"}

    base = speedups(cfg)
    changes: list[tuple[str, str, SafetyTable, str]] = []
    for r in coverage["unclassified_tools"][:top]:
        changes.append(("tool", r["tool"], safety.with_tool(r["tool"], "read-only"), r["toml"]))
    for r in coverage["unknown_shell_programs"]:
        if sum(kind == "program" for kind, *_ in changes) >= top:
            break
        if _PROGRAM.fullmatch(r["program"]):
            changes.append(("program", r["program"], safety.with_shell_program(r["program"]),
                            f'[shell] read_only = [..., "{r["program"]}"]'))
    rows = []
    for kind, name, table, line in changes:
        got = speedups(replay(dataset, predictor, device=device, config=replace(config, arms=arms, bootstrap=0),
                              safety=table, value_model=value_model))
        rows.append({"kind": kind, "name": name, "toml": line} | {a: got[a] for a in base}
                    | {f"{a}_gain": got[a] / base[a] - 1.0 for a in base})
    return {"split": config.split, "baseline": base, "rows": rows}
