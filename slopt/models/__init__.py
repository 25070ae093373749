"""Pyomo model builders. Each ``add_*`` function adds one constraint family; problems compose them."""
