"""The solver stage: options, the HiGHS adapter, statuses and infeasibility explanations."""
