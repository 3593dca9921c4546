"""socialcare: social media customer care for Django CRMs."""

__version__ = "0.1.0"
