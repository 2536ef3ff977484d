"""Speed and precision benchmarks of ringbench itself (run by `nox -s perf`)."""
