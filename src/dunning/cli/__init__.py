"""The ``dunning`` command line and the all-in-one runtime: the composition root of the system."""
