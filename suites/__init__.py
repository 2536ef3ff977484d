"""The microbenchmarks: C sources of ``ringbench-bench``, its build and its catalog."""
