"""linfit: fit y = a·x + b by gradient descent and hold it against the exact answer.

Importing the package is cheap on purpose: torch and pandas are imported only by
the modules that compute, so that `linfit --help` starts at once. `linfit.fit` and
`linfit.Fit` (see linfit.api) are loaded on first use.
"""

__version__ = "0.1.0"

__all__ = ["fit", "Fit", "__version__"]


def __getattr__(name: str):
    """`linfit.fit` and `linfit.Fit` without importing torch at `import linfit`."""
    if name in ("fit", "Fit"):
        from linfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'linfit' has no attribute {name!r}")
