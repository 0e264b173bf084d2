"""The planning context: everything an arm (and the beam) may ask or do at a decision point.

One planner, two clocks. `SerialArm`, `PasteArm`, `BPasteArm` and the beam plan only through this
interface, so the same arm objects run in virtual time (`engine.Sim`, the replay) and in wall time (a
live speculator). A decision point is the moment an LLM step starts thinking, after the results of the
previous step have been returned.

A wall-clock context knows nothing of traces: it answers `known_result` with None until a speculative
call has actually finished, so a beam node of depth > 1 is bound only once its parent's result arrives;
it then grows the beam below that node with `BPasteArm.extend` (see `beam.children`). The simulator may
answer with the logged result of the real call a parent would serve, which lets it expand the whole
beam up front (exactly what a wall-clock run would do a parent's latency later).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from bpaste_cli.device import Device
from bpaste_cli.mine import Candidate, Event
from bpaste_cli.safety import CallClass

Key = tuple[str, str]  # (tool, canonical args hash): the identity a speculative result serves on
CallPath = tuple[tuple[Candidate, Event | None], ...]  # hypothetical calls, each with the result it saw (None: unknown)


class PlanningContext(Protocol):
    """What a planner sees of one session at one decision point, and how it starts speculative calls."""

    @property
    def now(self) -> float:
        """The time of this decision point (seconds, on the context's clock)."""

    @property
    def slots(self) -> int:
        """Speculative jobs that may run at once."""

    @property
    def device(self) -> Device:
        """The device profile: memory budget, job memory and interference coefficients per resource class."""

    def predict(self, k: int, path: CallPath = (), at_least: float = 0.0) -> Sequence[Candidate]:
        """The predictor's top-k for the next step, or for the step after the hypothetical `path`. Candidates
        below `at_least` may be left out (the planner uses none of them), which spares the predictor ranking them."""

    def classify(self, tool: str, args_json: str | None) -> CallClass:
        """The call's safety and resource class (the policy's safety table)."""

    def load(self) -> tuple[int, float]:
        """(speculative jobs occupying a slot now or later, their memory in GB)."""

    def pending(self, key: Key) -> bool:
        """A speculative call of `key` is running or holds a reusable result (launching again would duplicate it)."""

    def known_result(self, key: Key) -> Event | None:
        """The result a speculative call of `key` started now will return, when it can already be known
        (None otherwise: a wall-clock context knows it only after the call finished)."""

    def launch(self, key: Key, tool: str, resource: str, prob: float, depth: int, *,
               after: Any = None, bound: bool = True) -> Any:
        """Start a speculative call now, or when the call `after` (a handle this method returned) finishes;
        `bound` False: its arguments depend on a result that is not known (a wall-clock context may refuse
        it). Returns a handle."""
