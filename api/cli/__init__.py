"""The ``landrec`` command line: thin commands over library functions."""
