"""Entry point: ``python -m benchmarks run [--quick] ...`` or ``python -m benchmarks peers [--quick] ...``."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "peers":
    from benchmarks.bench_peers import main as peers

    peers(sys.argv[2:])
else:
    from benchmarks.bench_predict import main

    main()
