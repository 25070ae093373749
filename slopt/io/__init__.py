"""Input and output: instance schema, TOML+CSV loading, MATPOWER import, result writing.

Importing the package registers its feeder readers (``.m``, ``.toml``) with
:data:`slopt.grid.feeder.FEEDER_READERS`, so that ``grid`` needs no import of ``io``.
"""

from slopt.io import feeder_file, matpower  # noqa: F401  (register the feeder readers)
