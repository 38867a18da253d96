"""Entry point: ``python -m benchmarks run|peers|jobs|pipeline|jp2|plot [--quick] ...`` (see RESULTS.md)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "peers":
    from benchmarks.bench_peers import main as peers

    peers(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "jobs":
    from benchmarks.bench_jobs import main as jobs

    sys.argv = [sys.argv[0], *sys.argv[2:]]
    jobs()
elif len(sys.argv) > 1 and sys.argv[1] == "pipeline":
    from benchmarks.bench_pipeline import main as pipeline

    pipeline(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "jp2":
    from benchmarks.bench_jp2 import main as jp2

    jp2(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "plot":
    from benchmarks.plot import main as plot

    plot(sys.argv[2:])
else:
    from benchmarks.bench_predict import main

    main()
