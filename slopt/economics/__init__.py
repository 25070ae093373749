"""Economics of second-life storage per party and commercial model (review section 5, Table 4).

* :mod:`~slopt.economics.prices`: the price and contract set (pydantic, every item sourced);
* :mod:`~slopt.economics.plan`: sizes, throughput, rainflow cycles and idle time of a plan;
* :mod:`~slopt.economics.lifetime`: service life with Eq. 7a fade, calendar fade and a knee;
* :mod:`~slopt.economics.cashflows`: yearly cash flows per party for BaaP, BaaS, PaaS, EaaS;
* :mod:`~slopt.economics.metrics`: NPV, IRR (numpy-financial), discounted payback, LCOS;
* :mod:`~slopt.economics.contracts`: fee bands where every party's NPV >= 0 (closed form);
* :mod:`~slopt.economics.risk`: vectorised Monte Carlo, P(NPV < 0) and 5 % quantiles;
* :mod:`~slopt.economics.eaas`: one system serving several users vs one system per user.

Formulas and sources: ``docs/economics.md``.
"""

from slopt.economics.evaluate import Evaluation, evaluate
from slopt.economics.plan import Plan, plan_from_dir, plan_from_result, plan_from_tables
from slopt.economics.prices import MODELS, PARTIES, PriceSet, load_prices

__all__ = ["Evaluation", "evaluate", "Plan", "plan_from_dir", "plan_from_result", "plan_from_tables", "MODELS",
           "PARTIES", "PriceSet", "load_prices"]
