"""costa benchmarks: ``python -m benchmarks run [--quick]`` (see RESULTS.md)."""
