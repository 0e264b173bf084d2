"""Replay: logged sessions re-executed in virtual time under speculative tool execution (the face).

Prepare a split once (`prepare_split` -> `Prepared`: traces, latency statistics from train, skipped
counts), run one session under one arm (`run_session`) or many (`replay_traces`), and `summarize` the
results; `replay` is the verb that does all of it for one split; `what_if` replays it with one more tool
or shell program allowed. The arms (`ARM_TYPES`, `make_arm`) plan
through a `PlanningContext`, which the simulator implements in virtual time and a live speculator in
wall time; `beam` holds B-PASTE's pieces. A value model from `fit` is an argument (`value_model`), never
a registration. Other rooms import only from here.
"""

from bpaste_cli.replay.arms import ARM_TYPES, ARMS, STRATEGIES, BPasteArm, CacheArm, OracleArm, OraclePredictor, PasteArm, SerialArm, make_arm
from bpaste_cli.replay.beam import BeamConfig, BeamNode, BeamSettings, admit, best, build_beam, children, launch
from bpaste_cli.replay.config import ReplayConfig
from bpaste_cli.replay.context import Key, PlanningContext
from bpaste_cli.replay.engine import TOOL_FIELDS, Job, Planner, SessionResult, Sim
from bpaste_cli.replay.metrics import bootstrap_ci, summarize
from bpaste_cli.replay.patterns import open_patterns
from bpaste_cli.replay.predictions import K_MAX, cache_for
from bpaste_cli.replay.prepared import SPECULABLE, Prepared, prepare_split
from bpaste_cli.replay.run import ReplayReport, replay
from bpaste_cli.replay.session import replay_traces, run_session
from bpaste_cli.replay.timeline import assign_lane, write_timeline
from bpaste_cli.replay.traces import SKIP_REASONS, Node, SessionTrace, prepare
from bpaste_cli.replay.value import (
    RANKINGS,
    LatencyStats,
    NodeTerms,
    PrefixFeatures,
    Scorer,
    ValueModel,
    chain_terms,
    paste_utility,
    scorer_for,
    shadow_price,
)
from bpaste_cli.replay.whatif import what_if

__all__ = [
    "ARMS", "ARM_TYPES", "K_MAX", "RANKINGS", "SKIP_REASONS", "SPECULABLE", "STRATEGIES", "TOOL_FIELDS", "BPasteArm", "BeamConfig", "CacheArm",
    "BeamNode", "BeamSettings", "Job", "Key", "LatencyStats", "Node", "NodeTerms", "OracleArm", "OraclePredictor",
    "PasteArm", "Planner", "PlanningContext", "PrefixFeatures", "Prepared", "ReplayConfig", "ReplayReport", "Scorer",
    "SerialArm", "SessionResult", "SessionTrace", "Sim", "ValueModel", "admit", "assign_lane", "best", "bootstrap_ci",
    "build_beam", "cache_for", "chain_terms", "children", "launch", "make_arm", "open_patterns", "paste_utility", "prepare",
    "prepare_split", "replay", "replay_traces", "run_session", "scorer_for", "shadow_price", "summarize",
    "what_if", "write_timeline",
]
