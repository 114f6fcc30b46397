"""`python -m linfit` runs the command line (and `torchrun -m linfit` too)."""

from linfit.cli import main

main()
