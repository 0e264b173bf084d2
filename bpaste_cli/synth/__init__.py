"""`bpaste synth`: realistic synthetic agent sessions, written in the log formats bpaste reads.

`generate(...)` yields sessions (seeded, streamed: session i depends only on the seed and i);
`write(sessions, out, formats)` writes them, one folder per format, atomically and incrementally, so
a corpus of any size is produced in bounded memory. Same seed, byte-identical files.

    from bpaste_cli.synth import generate, write
    write(generate(("coding", "research"), sessions=100, seed=7), "corpus", ["claude-code", "native"])
"""

from bpaste_cli.synth.generator import ARCHETYPES, Knobs, generate
from bpaste_cli.synth.model import Session
from bpaste_cli.synth.run import FORMATS, SAMPLE_PLAN, SynthResult, parse_list, write, write_samples

__all__ = ["ARCHETYPES", "FORMATS", "SAMPLE_PLAN", "Session", "SynthResult", "Knobs", "generate", "parse_list", "write", "write_samples"]
