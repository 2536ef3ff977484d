"""Report notebooks (overhead, host, regressions), rendered headless to HTML by render.py."""
