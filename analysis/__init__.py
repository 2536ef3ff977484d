"""Analysis of ringbench results (overhead, statistics, regressions): arrives with its issue."""
