"""linfit: fit y = a·x + b by gradient descent and hold it against the exact answer.

Importing the package is cheap on purpose: torch and pandas are imported only by
the modules that compute, so that `linfit --help` starts at once.
"""

__version__ = "0.1.0"
