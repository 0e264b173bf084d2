"""policy.json: the tuned, versioned, self-contained file a speculative executor loads at run time (the face).

Contents (`schema.POLICY_JSON_SCHEMA`, committed as schemas/policy.schema.json): the device profile, every
chosen parameter, the safety and resource-class table, the predictor's run-time tables
(`PatternPredictor.to_dict()`), the value model (null, embedded, or by relative path + sha256),
provenance (bpaste version, dataset hash, pattern hash, seed, storage, study, trial), the validation
figures it was chosen on with their bootstrap CI, and a summary of every trial. Plain JSON only: loading
a policy never runs code from it.

`load_policy(path)` -> `Policy` (a policy allowing mutating or unknown calls only with
`allow_unsafe_classes=True`; `unsafe_warning(policy)` says so); `arm_from_policy(policy, stats)` -> the configured arm a speculator plans
with; `build_policy` / `write_policy` (tune); `replay_policy` replays a dataset under a policy on its
validation split (reproducing the recorded figure exactly) and on its test split.
"""

from bpaste_cli.policy.document import (
    Policy,
    arm_from_policy,
    build_policy,
    load_policy,
    replay_config,
    read_policy_doc,
    unsafe_warning,
    write_policy,
)
from bpaste_cli.policy.replay import replay_policy
from bpaste_cli.policy.schema import MAX_SEED, POLICY, POLICY_JSON_SCHEMA, POLICY_KIND, POLICY_SCHEMA_VERSION

__all__ = ["MAX_SEED", "POLICY", "POLICY_JSON_SCHEMA", "POLICY_KIND", "POLICY_SCHEMA_VERSION", "Policy", "arm_from_policy",
           "build_policy", "load_policy", "replay_config", "read_policy_doc", "replay_policy", "unsafe_warning", "write_policy"]
