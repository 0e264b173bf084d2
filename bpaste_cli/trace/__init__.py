"""The trace model: schema v1, canonical arguments, the session builder and dataset files."""
