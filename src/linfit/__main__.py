"""`python -m linfit` runs the command line (and `torchrun -m linfit` too)."""

from linfit.entry import main

main()
