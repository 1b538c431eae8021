"""The benchmarks: each module runs one, from the repository root.

    python -m benchmarks.run_all [--quick]      # every benchmark but the GPU one
    python -m benchmarks.NAME [--json OUT]      # any one of them

``benchmarks._common`` holds what they share; docs/benchmarks.md has the figures.
The package is not installed with hyperseal: it runs from a checkout.
"""
