"""The live lab: stand-in workloads, and the device calibration that measures this machine with them.

Public face: `calibrate` + `CalibrationConfig` (measure), `write_profile` / `profile_toml` (the device
profile it yields), `run_live` + `LiveOptions` (`bpaste live`: a policy measured in real time beside
replay), and the workloads both use.
"""

from bpaste_cli.lab.calibration import Calibration, CalibrationConfig, Curve, calibrate
from bpaste_cli.lab.live import LiveOptions, live as run_live
from bpaste_cli.lab.profile import check_output, profile_toml, write_profile
from bpaste_cli.lab.workloads import CpuBurn, FileRead, RemoteLLM, Sleep, StandInLLM

__all__ = [
    "Calibration", "CalibrationConfig", "Curve", "calibrate", "check_output", "profile_toml",
    "write_profile", "LiveOptions", "run_live", "CpuBurn", "FileRead", "RemoteLLM", "Sleep", "StandInLLM",
]
