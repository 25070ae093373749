"""Input and output: instance schema, TOML+CSV loading, MATPOWER import, result writing."""
