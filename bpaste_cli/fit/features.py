"""The feature row of one branch prefix: what the beam's scorer sees, plus statistics learned on train.

A scorer only receives `PrefixFeatures` (beam.py), so everything else a model uses is stored in the model
file and looked up by the prefix's last tool: its latency quantiles and call count, and the think-time
statistics of its *context* — the think windows of the train steps that emitted this tool, i.e. the lead a
right prediction of it would have had — plus the device's interference coefficients and job memory for the
prefix's resource class. Unknown tools get the statistics of all tools pooled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import quantiles
from typing import Any

from bpaste_cli.device import Device
from bpaste_cli.replay import PrefixFeatures, SessionTrace
from bpaste_cli.safety import RESOURCE_CLASSES

DEVICE_KEYS = ("coef_llm", "coef_tool", "job_memory_gb")
TOOL_STATS = ("lat_p25", "lat_p50", "lat_p75", "log_calls", "think_p50", "think_p75")
FEATURES = (
    "q", "prob", "depth", "latency_s", "lead_s", "think_s", "load", "lam", "slack_s", "value",
    "gain_s",  # q·min(latency, lead): the hit term of the analytic value on its own
    *(f"tool_{s}" for s in TOOL_STATS),
    "ctx_gain_s",  # q·min(tool median latency, median think before the tool's steps)
    *(f"res_{r}" for r in RESOURCE_CLASSES),
    "coef_llm", "coef_tool", "job_memory_gb",
)


def _q(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    a, b, c = quantiles(xs, n=4, method="inclusive")
    return a, b, c


def _row(lat: list[float], think: list[float], default_think: list[float]) -> list[float]:
    p25, p50, p75 = _q(lat)
    _, t50, t75 = _q(think or default_think)
    return [p25, p50, p75, math.log1p(len(lat)), t50, t75]


@dataclass
class FeatureStats:
    """Per-tool statistics from the training sessions, and the device's coefficients per resource class."""

    tools: dict[str, list[float]]  # tool -> values in TOOL_STATS order
    default: list[float]
    device: dict[str, dict[str, float]]  # resource -> {"coef_llm", "coef_tool", "job_memory_gb"}

    @classmethod
    def from_traces(cls, traces: list[SessionTrace], device: Device) -> FeatureStats:
        lat: dict[str, list[float]] = {}
        think: dict[str, list[float]] = {}
        every_think: list[float] = []
        for tr in traces:
            think_of_step: dict[int, float] = {}
            for nd in tr.nodes:
                if nd.kind == "llm":
                    think_of_step[nd.step] = nd.logged_end - nd.logged_start
                    every_think.append(nd.logged_end - nd.logged_start)
            for nd in tr.nodes:
                if nd.kind == "tool":
                    lat.setdefault(nd.tool, []).append(nd.logged_end - nd.logged_start)
                    if nd.step in think_of_step:
                        think.setdefault(nd.tool, []).append(think_of_step[nd.step])
        every_think = every_think or [3.0]
        pooled = [x for xs in lat.values() for x in xs] or [1.0]
        return cls(
            tools={t: _row(xs, think.get(t, []), every_think) for t, xs in sorted(lat.items())},
            default=_row(pooled, every_think, every_think),
            device={r: {"coef_llm": device.interference["llm"][r], "coef_tool": device.interference["tool"][r],
                        "job_memory_gb": device.job_memory_gb[r]} for r in RESOURCE_CLASSES},
        )

    def to_dict(self) -> dict[str, Any]:
        return {"tool_stats": list(TOOL_STATS), "tools": self.tools, "default": self.default, "device": self.device}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureStats:
        return cls({t: [float(x) for x in v] for t, v in d["tools"].items()}, [float(x) for x in d["default"]],
                   {r: {k: float(v[k]) for k in DEVICE_KEYS} for r, v in d["device"].items()})

    def vector(self, f: PrefixFeatures) -> list[float]:
        """The row of FEATURES for one prefix (pure Python: the scorer calls it for every beam node)."""
        t = self.tools.get(f.tool, self.default)
        dev = self.device.get(f.resource) or dict.fromkeys(DEVICE_KEYS, 0.0)
        return [
            f.q, f.prob, float(f.depth), f.latency_s, f.lead_s, f.think_s, f.load, f.lam, f.slack_s, f.value,
            f.q * min(f.latency_s, f.lead_s),
            *t,
            f.q * min(t[1], t[4]),
            *(1.0 if f.resource == r else 0.0 for r in RESOURCE_CLASSES),
            *(dev[k] for k in DEVICE_KEYS),
        ]
