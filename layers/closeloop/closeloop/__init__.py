"""closeloop: the domain package of the NPS Close the Loop programme (shipped as a Lambda layer)."""

__version__ = "0.1.0"
