"""bpaste: mine agent logs, replay them under speculative tool execution, tune a policy for a device."""

__version__ = "0.1.0"
