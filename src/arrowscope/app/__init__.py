"""The ``arrowscope`` command line and viewer app."""
