"""HiGHS's presolve calls a feasible LP infeasible: a reproducer ready to send upstream.

``presolve-infeasible.lp`` (2 rows, 8 columns, 6 nonzeros, every column in [0, 1]) is
feasible: x = 0 meets both rows. HiGHS 1.15.1 and 1.16.0 report ``Infeasible`` with
presolve on and solve it (objective 0.15078...) with presolve off.

    python benchmarks/upstream/presolve_infeasible.py
"""

from __future__ import annotations

from pathlib import Path

import highspy

MODEL = Path(__file__).with_name("presolve-infeasible.lp")


def main() -> None:
    """Solve the model with presolve on and off and print both statuses."""
    for presolve in ("on", "off"):
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.readModel(str(MODEL))
        highs.setOptionValue("presolve", presolve)
        highs.run()
        status = highs.modelStatusToString(highs.getModelStatus())
        print(f"HiGHS {highs.version()}, presolve {presolve}: {status}, "
              f"objective {highs.getInfo().objective_function_value:.10g}")


if __name__ == "__main__":
    main()
