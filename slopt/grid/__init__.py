"""Feeders, the batched AC power flow, LinDistFlow and voltage sensitivities, profiles.

Importing the package registers the pandapower converter with
:data:`slopt.grid.feeder.FEEDER_READERS`.
"""

from slopt.grid import pandapower_net  # noqa: F401  (registers Feeder.from_pandapower's converter)
