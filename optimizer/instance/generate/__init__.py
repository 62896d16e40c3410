"""Seeded synthetic instances of any size: the tables behind ``restake generate``.

Given sizes, a seed and a few switches, ``generate_tables`` returns the instance's tables as
pandas DataFrames with the column names of the instance format (``GeneratedTables``), and
``generate_instance`` the validated ``Instance``. Nothing here writes files; every table is
valid by construction.

Every number is an assumption chosen to look like today's restaking market (see the
landscape notes in docs/model.md and ``Assumptions``), not market data. All values are in
ETH (the numeraire), every rate, probability and loss budget is per year, fractions are in
[0, 1].

Modules, in the order the parts are drawn:

- ``catalog``: the assets (``ASSET_CATALOG``: native ETH, the large LSTs, EIGEN, wBTC, a
  stablecoin, smaller LSTs, ENA) and the five per-stake limit ``POLICIES``.
- ``assumptions``: every share, range and choice the draws use, as one frozen dataclass.
- ``options``: the arguments, checked once.
- ``base`` and ``acceptance``: assets and prices, holders (operators 60 %, vaults 25 %,
  LRTs 15 %, 1-3 stakes each), stakes (lognormal value, median 150 ETH, limits from the
  holder's policy), services (slashing risk, reward rate), which assets each service accepts
  (tuned to the target ``density``), groups, capacities and the holder-share draw.
- ``witness``: required services and the witness allocation. Each stake puts theta_i x
  M_eff_s / W_s on every required service s, nothing elsewhere; minima are drawn below what
  it reaches and capacities and external stake are raised for it, so every instance is
  feasible. Every feature below is sized so that the witness stays feasible.
- ``features``: the switches ``pools``, ``min_security``, ``corruption``, ``opt_in`` and
  ``cvar``; ``turnover``: the current allocation x0 and the turnover parameters.
- ``frames``: the tables, with the columns of the data dictionary
  (``optimizer.instance.columns``); ``generator``: the entry points.

Each part draws from its own child stream of ``numpy.random.default_rng(seed)``, so turning
one option on or off does not change the other tables (the witness-sized values aside:
capacities and external stake of required services follow M_eff). Columns of features that
are off are left out and take their defaults; ``current`` is then an empty table.
"""

from optimizer.instance.generate.assumptions import ASSUMPTIONS, Assumptions
from optimizer.instance.generate.catalog import ASSET_CATALOG, POLICIES, AssetProfile, Policy
from optimizer.instance.generate.frames import GeneratedTables
from optimizer.instance.generate.generator import generate_instance, generate_tables
from optimizer.instance.generate.options import MAX_SERVICES, MAX_STAKES

__all__ = [
    "ASSET_CATALOG",
    "ASSUMPTIONS",
    "MAX_SERVICES",
    "MAX_STAKES",
    "POLICIES",
    "AssetProfile",
    "Assumptions",
    "GeneratedTables",
    "Policy",
    "generate_instance",
    "generate_tables",
]
