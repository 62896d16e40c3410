"""Results: the independent evaluator, the Result, its files and its report."""
