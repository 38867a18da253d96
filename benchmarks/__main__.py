"""Entry point: ``python -m benchmarks run [--quick] [--provider P] [--sizes 4096,16384]``."""

from benchmarks.bench_predict import main

main()
